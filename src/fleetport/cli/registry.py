"""``fleetport registry`` and ``fleetport modules``: registry items (modules, ML models, ...), their
versions, and module files with a progress bar."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from fleetport.cli.options import Visibility, VisibilityOpt
from fleetport.cli.output import Column, JsonOpt, done, err, fail, listing, out, plain, show
from fleetport.cli.root import sdk
from fleetport.client import models as m

registry_app = typer.Typer(no_args_is_help=True, help="Registry items: modules, ML models, ...")
modules_app = typer.Typer(no_args_is_help=True, help="Modules and their files.")


class ItemType(StrEnum):
    module = "module"
    ml_model = "ml_model"
    ml_training = "ml_training"
    slam_map = "slam_map"
    archive = "archive"
    project = "project"


def _latest(item: m.RegistryItem) -> str:
    return item.versions[-1].version if item.versions else "-"


ITEM_COLUMNS: list[Column] = [
    "id",
    "type",
    "visibility",
    "status",
    ("latest", _latest),
    ("deprecated", lambda i: i.deprecated),
    "updated_at",
]


def show_item(item: m.RegistryItem, as_json: bool) -> None:
    """A registry item, then its versions and files as a table."""
    if as_json:
        show(item, True)
        return
    show(item, False, hide=frozenset({"versions"}))
    if not item.versions:
        return
    table = Table(header_style="bold", title="versions", title_justify="left")
    for title in ("version", "platform", "size", "sha256", "uploaded_by", "uploaded_at", "deprecated"):
        table.add_column(title, no_wrap=title in ("version", "platform", "sha256"))
    for version in item.versions:
        deprecated = (version.deprecation_message or "yes") if version.deprecated else "no"
        files: list[m.ModuleFile | None] = [*version.files] or [None]
        for file in files:
            cells = (
                [file.platform, str(file.size), file.blob[:12], file.uploaded_by, plain(file.created_at)]
                if file
                else ["-"] * 5
            )
            table.add_row(version.version, *cells, deprecated)
    out.print(table)


@registry_app.command("list")
def registry_list(
    ctx: typer.Context,
    org: Annotated[str | None, typer.Option(help="This organization's items (and public ones).")] = None,
    type: Annotated[list[ItemType] | None, typer.Option(help="Only these types (repeatable).")] = None,
    visibility: Annotated[
        list[Visibility] | None, typer.Option(case_sensitive=False, help="Only these (repeatable).")
    ] = None,
    platform: Annotated[
        list[str] | None, typer.Option(help="Only modules with a file for this platform (repeatable).")
    ] = None,
    status: Annotated[
        list[str] | None, typer.Option(help="in_development or published (repeatable).")
    ] = None,
    search: Annotated[str | None, typer.Option(help="Text in the name or description.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List registry items: your organizations' and public ones."""
    items = sdk(ctx).registry.list(
        org,
        types=[t.value for t in type or []],
        visibilities=[v.value for v in visibility or []],
        platforms=platform or [],
        statuses=status or [],
        search=search,
    )
    listing(items, ITEM_COLUMNS, as_json)


@registry_app.command("create")
def registry_create(
    ctx: typer.Context,
    org_id: str,
    name: str,
    type: Annotated[ItemType, typer.Option(help="What the item is.")],
    as_json: JsonOpt = False,
) -> None:
    """Create a registry item (private, in development)."""
    show_item(sdk(ctx).registry.create(org_id, name, type.value), as_json)


@registry_app.command("get")
def registry_get(ctx: typer.Context, item_id: str, as_json: JsonOpt = False) -> None:
    """Show a registry item (namespace:name, organization-id:name or its UUID)."""
    show_item(sdk(ctx).registry.get(item_id), as_json)


@registry_app.command("update")
def registry_update(
    ctx: typer.Context,
    item_id: str,
    type: Annotated[ItemType | None, typer.Option(help="New type.")] = None,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    visibility: VisibilityOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a registry item's type, description or visibility."""
    item = sdk(ctx).registry.update(
        item_id,
        type=type.value if type else None,
        description=description,
        visibility=visibility.value if visibility else None,
    )
    show_item(item, as_json)


@registry_app.command("delete")
def registry_delete(ctx: typer.Context, item_id: str) -> None:
    """Delete a registry item with its versions."""
    sdk(ctx).registry.delete(item_id)
    done(f"deleted registry item {item_id}")


VersionOpt = Annotated[str | None, typer.Option("--version", help="One version instead of the whole item.")]


@registry_app.command("deprecate")
def registry_deprecate(
    ctx: typer.Context,
    item_id: str,
    version: VersionOpt = None,
    message: Annotated[str, typer.Option(help="What users should do instead.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Mark a registry item, or one of its versions, deprecated."""
    api = sdk(ctx)
    if version is None:
        item = api.registry.deprecate(item_id, message)
    else:
        item = api.registry.deprecate_version(item_id, version, message)
    show_item(item, as_json)


@registry_app.command("undeprecate")
def registry_undeprecate(
    ctx: typer.Context, item_id: str, version: VersionOpt = None, as_json: JsonOpt = False
) -> None:
    """Lift the deprecation of a registry item, or of one of its versions."""
    api = sdk(ctx)
    item = (
        api.registry.undeprecate(item_id)
        if version is None
        else api.registry.undeprecate_version(item_id, version)
    )
    show_item(item, as_json)


@modules_app.command("list")
def modules_list(
    ctx: typer.Context,
    org: Annotated[str | None, typer.Option(help="This organization's modules (and public ones).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List modules: your organizations' and public ones."""
    listing(sdk(ctx).modules.list(org), ITEM_COLUMNS, as_json)


@modules_app.command("create")
def modules_create(ctx: typer.Context, org_id: str, name: str, as_json: JsonOpt = False) -> None:
    """Create a module (private, in development)."""
    show(sdk(ctx).modules.create(org_id, name), as_json)


@modules_app.command("get")
def modules_get(ctx: typer.Context, module_id: str, as_json: JsonOpt = False) -> None:
    """Show a module with its versions and files."""
    show_item(sdk(ctx).modules.get(module_id), as_json)


def _parse_model(value: str) -> dict[str, str]:
    api, sep, model = value.partition("=")
    if not sep or not api.strip() or not model.strip():
        raise typer.BadParameter(f"{value!r} is not API=MODEL, e.g. rdk:component:camera=acme:cams:fast")
    return {"api": api.strip(), "model": model.strip()}


@modules_app.command("update")
def modules_update(
    ctx: typer.Context,
    module_id: str,
    url: Annotated[str | None, typer.Option(help="Where the module's source lives (http/https).")] = None,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    entrypoint: Annotated[str | None, typer.Option(help="The executable inside the module file.")] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            help="API=MODEL the module provides (repeatable; replaces the list).", show_default=False
        ),
    ] = None,
    visibility: VisibilityOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a module's source URL, description, entrypoint, models or visibility."""
    models = [_parse_model(v) for v in model] if model else None
    ref = sdk(ctx).modules.update(
        module_id,
        url=url,
        description=description,
        entrypoint=entrypoint,
        models=models,
        visibility=visibility.value if visibility else None,
    )
    show(ref, as_json)


@modules_app.command("delete")
def modules_delete(ctx: typer.Context, module_id: str) -> None:
    """Delete a module with its versions."""
    sdk(ctx).modules.delete(module_id)
    done(f"deleted module {module_id}")


def _transfer() -> Progress:
    """A progress bar for bytes sent or received, on stderr."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
    )


PlatformOpt = Annotated[str, typer.Option(help="linux/amd64, linux/arm64, darwin/arm64, ... or any.")]
ModuleVersionOpt = Annotated[str, typer.Option("--version", help="Semantic version, e.g. 1.2.3.")]


@modules_app.command("upload")
def modules_upload(
    ctx: typer.Context,
    module_id: str,
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The module file.")
    ],
    version: ModuleVersionOpt,
    platform: PlatformOpt,
    as_json: JsonOpt = False,
) -> None:
    """Upload a module file for one version and platform (replacing an earlier one)."""
    api = sdk(ctx)
    size = file.stat().st_size
    with file.open("rb") as source, _transfer() as progress:
        task = progress.add_task(f"uploading {file.name}", total=size)

        def chunks() -> Iterable[bytes]:
            while chunk := source.read(1 << 20):
                yield chunk
                progress.advance(task, len(chunk))

        result = api.modules.upload(module_id, version, platform, chunks(), size=size)
    if as_json:
        show(result, True)
    else:
        done(f"uploaded {file.name} ({result.size} bytes, sha256 {result.sha256})")


@modules_app.command("download")
def modules_download(
    ctx: typer.Context,
    module_id: str,
    version: ModuleVersionOpt,
    platform: PlatformOpt,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Where to write it; '-' writes to stdout."),
    ] = None,
) -> None:
    """Download a module file."""
    api = sdk(ctx)
    if output is not None and str(output) == "-":
        api.modules.download(module_id, version, platform, sys.stdout.buffer)
        return
    name = module_id.rsplit(":", 1)[-1]
    target = output or Path(f"{name}-{version}-{platform.replace('/', '-')}.tar.gz")
    partial = target.with_name(target.name + ".part")
    try:
        with partial.open("wb") as sink, _transfer() as progress:
            task = progress.add_task(f"downloading {target.name}", total=None)

            def advance(so_far: int, total: int | None) -> None:
                progress.update(task, completed=so_far, total=total)

            size = api.modules.download(module_id, version, platform, sink, progress=advance)
        partial.replace(target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        fail(f"cannot write {target}: {exc}")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    done(f"wrote {target} ({size} bytes)")
