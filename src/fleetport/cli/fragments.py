"""``fleetport fragments``: configuration that machine parts reuse, and its history."""

from __future__ import annotations

from typing import Annotated

import typer

from fleetport.cli.options import ConfigFileOpt, ConfigOpt, Visibility, VisibilityOpt, optional_config
from fleetport.cli.output import Column, JsonOpt, abbreviated, done, listing, show
from fleetport.cli.root import sdk

app = typer.Typer(no_args_is_help=True, help="Fragments: configuration machine parts reuse.")

FRAGMENT_COLUMNS: list[Column] = [
    "id",
    "name",
    "organization_name",
    "visibility",
    ("parts", lambda f: f.robot_part_count),
    "updated_at",
]


@app.command("list")
def fragments_list(
    ctx: typer.Context,
    org_id: str,
    public: Annotated[
        bool, typer.Option("--public/--no-public", help="Include public fragments of other organizations.")
    ] = True,
    visibility: Annotated[
        list[Visibility] | None, typer.Option(case_sensitive=False, help="Only these (repeatable).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List an organization's fragments (and public ones of others)."""
    wanted = [v.value for v in visibility] if visibility else None
    items = sdk(ctx).fragments.list(org_id, show_public=public, visibilities=wanted)
    listing(items, FRAGMENT_COLUMNS, as_json)


@app.command("create")
def fragments_create(
    ctx: typer.Context,
    org_id: str,
    name: str,
    config: ConfigOpt = None,
    file: ConfigFileOpt = None,
    visibility: VisibilityOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a fragment (private unless --visibility says otherwise)."""
    value = optional_config(config, file)
    fragment = sdk(ctx).fragments.create(
        org_id, name, config=value, visibility=visibility.value if visibility else "private"
    )
    show(fragment, as_json)


@app.command("get")
def fragments_get(ctx: typer.Context, fragment_id: str, as_json: JsonOpt = False) -> None:
    """Show a fragment."""
    show(sdk(ctx).fragments.get(fragment_id), as_json)


@app.command("update")
def fragments_update(
    ctx: typer.Context,
    fragment_id: str,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    config: ConfigOpt = None,
    file: ConfigFileOpt = None,
    visibility: VisibilityOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename a fragment, replace its configuration or change its visibility."""
    value = optional_config(config, file)
    fragment = sdk(ctx).fragments.update(
        fragment_id, name=name, config=value, visibility=visibility.value if visibility else None
    )
    show(fragment, as_json)


@app.command("delete")
def fragments_delete(ctx: typer.Context, fragment_id: str) -> None:
    """Delete a fragment no machine part uses."""
    sdk(ctx).fragments.delete(fragment_id)
    done(f"deleted fragment {fragment_id}")


@app.command("history")
def fragments_history(ctx: typer.Context, fragment_id: str, as_json: JsonOpt = False) -> None:
    """A fragment's edits, newest first, each with the fragment as it was before it."""
    columns: list[Column] = [
        "id",
        "edited_at",
        "edited_by",
        "previous_name",
        "previous_visibility",
        ("previous_config", lambda r: abbreviated(r.previous_config)),
    ]
    listing(sdk(ctx).fragments.history(fragment_id), columns, as_json)
