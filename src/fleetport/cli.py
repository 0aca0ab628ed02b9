"""The ``fleetport`` command: run a server, and manage a fleet through the native API.

Client commands talk to a server with the SDK (``fleetport.Client``); ``--url`` and ``--api-key``
default to ``FLEETPORT_URL`` and ``FLEETPORT_API_KEY``. Listings print tables, single objects a
field/value table; ``--json`` prints the API's JSON instead.
"""

import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from fleetport import (
    Client,
    FleetportError,
    InvalidArgument,
    InvalidServerURL,
    Unauthenticated,
    UntrustedCertificate,
    __version__,
)
from fleetport.client import models as m
from fleetport.client.resources import unix_seconds

# Piped output is not squeezed to 80 columns, so ids stay whole; a terminal keeps its own width.
out = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200)
err = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Prints ``error: <message>`` in red on stderr and exits with status 1."""
    err.print(Text(f"error: {message}", style="red"), soft_wrap=True, highlight=False)
    raise SystemExit(1)


app = typer.Typer(no_args_is_help=True, help="Fleetport: a self-hosted cloud for fleets of robots.")
users_app = typer.Typer(no_args_is_help=True, help="Users of this server.")
orgs_app = typer.Typer(no_args_is_help=True, help="Organizations.")
locations_app = typer.Typer(no_args_is_help=True, help="Locations, which hold machines.")
machines_app = typer.Typer(no_args_is_help=True, help="Machines (robots).")
parts_app = typer.Typer(no_args_is_help=True, help="A machine's parts, and their configuration.")
config_app = typer.Typer(no_args_is_help=True, help="A part's configuration.")
keys_app = typer.Typer(no_args_is_help=True, help="An organization's API keys.")
app.add_typer(users_app, name="users")
app.add_typer(orgs_app, name="orgs")
app.add_typer(locations_app, name="locations")
app.add_typer(machines_app, name="machines")
app.add_typer(parts_app, name="parts")
parts_app.add_typer(config_app, name="config")
app.add_typer(keys_app, name="keys")
fragments_app = typer.Typer(no_args_is_help=True, help="Fragments: configuration machine parts reuse.")
registry_app = typer.Typer(no_args_is_help=True, help="Registry items: modules, ML models, ...")
modules_app = typer.Typer(no_args_is_help=True, help="Modules and their files.")
app.add_typer(fragments_app, name="fragments")
app.add_typer(registry_app, name="registry")
app.add_typer(modules_app, name="modules")
dataports_app = typer.Typer(no_args_is_help=True, help="A machine's dataports: time series and their points.")
telemetry_app = typer.Typer(
    no_args_is_help=True, help="Telemetry clients and their keys (CIKs), for One Platform clients."
)
app.add_typer(dataports_app, name="dataports")
app.add_typer(telemetry_app, name="telemetry")


# --- connection state -------------------------------------------------------------------------


@dataclass
class _State:
    url: str | None = None
    api_key: str | None = None
    ca_cert: Path | None = None
    client: Client | None = None


def _api(ctx: typer.Context) -> Client:
    """The SDK client for this invocation, made on first use and closed when the command ends."""
    root = ctx.find_root()
    state = root.obj if isinstance(root.obj, _State) else _State()
    root.obj = state
    if state.client is None:
        verify: Any = str(state.ca_cert) if state.ca_cert else True
        state.client = Client(state.url, state.api_key, verify=verify)
        root.call_on_close(state.client.close)
    return state.client


@app.callback()
def _root(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            envvar="FLEETPORT_URL", show_envvar=True, help="The server, e.g. http://localhost:8080."
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="FLEETPORT_API_KEY", show_envvar=True, help="An API key or session token."),
    ] = None,
    ca_cert: Annotated[
        Path | None,
        typer.Option(
            envvar="FLEETPORT_CA_CERT",
            show_envvar=True,
            exists=True,
            dir_okay=False,
            help="CA bundle to trust for https URLs (a server's self-signed tls/cert.pem).",
        ),
    ] = None,
) -> None:
    ctx.obj = _State(url=url, api_key=api_key, ca_cert=ca_cert)


# --- output -----------------------------------------------------------------------------------

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
Column = str | tuple[str, Callable[[Any], Any]]


def _grant_text(g: m.Authorization | m.Grant) -> str:
    return f"{g.role}:{g.resource_type}:{g.resource_id}"


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, m.Authorization | m.Grant):
        return _grant_text(value)
    if isinstance(value, m.User):
        return value.email
    if isinstance(value, list) and all(isinstance(v, BaseModel) for v in value):
        return "\n".join(_plain(v) for v in value) or "-"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def _dump(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def show(obj: BaseModel, as_json: bool, *, hide: frozenset[str] = frozenset()) -> None:
    """One object: its JSON, or a field/value table (without the ``hide`` fields)."""
    if as_json:
        _dump(obj.model_dump(mode="json"))
        return
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for name in type(obj).model_fields:
        if name in hide:
            continue
        table.add_row(name, Text(_plain(getattr(obj, name))))
    out.print(table)


def listing(items: Iterable[BaseModel], columns: Sequence[Column], as_json: bool) -> None:
    """Several objects: a JSON array, or a table with the given columns (field names, or a title
    and a function of the item)."""
    if as_json:
        _dump([item.model_dump(mode="json") for item in items])
        return
    table = Table(header_style="bold")
    getters: list[Callable[[Any], Any]] = []
    for column in columns:
        title, getter = column if isinstance(column, tuple) else (column, _field(column))
        is_id = title == "id" or title.endswith("_id")
        table.add_column(title.replace("_", " "), no_wrap=is_id, style="cyan" if title == "id" else None)
        getters.append(getter)
    for item in items:
        table.add_row(*(Text(_plain(get(item))) for get in getters))
    out.print(table)


def _field(name: str) -> Callable[[Any], Any]:
    return lambda item: getattr(item, name)


def done(message: str) -> None:
    """A confirmation, on stderr so that stdout carries only data."""
    err.print(Text(message, style="green"), soft_wrap=True, highlight=False)


def show_secret(key: m.ApiKey, as_json: bool) -> None:
    if as_json:
        show(key, True)
        return
    show(key, False, hide=frozenset({"secret"}))
    body = Text.assemble(
        ("API key id: ", "bold"),
        key.id,
        "\n",
        ("secret:     ", "bold"),
        (key.secret or "-", "bold yellow"),
        "\n\n",
        "This secret is shown only once: store it now. Use it as FLEETPORT_API_KEY or --api-key.",
    )
    out.print(Panel(body, title="new API key secret", border_style="yellow", expand=False))


# --- server -----------------------------------------------------------------------------------


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"
    critical = "critical"


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (env FLEETPORT_HOST).")] = None,
    http_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="HTTP port (env FLEETPORT_HTTP_PORT).")
    ] = None,
    https_port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="HTTPS port, 0 disables HTTPS (env FLEETPORT_HTTPS_PORT)."),
    ] = None,
    grpc_port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="gRPC port of the Viam dialect, 0 disables it (env FLEETPORT_GRPC_PORT)."
        ),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(file_okay=False, help="Where data lives (env FLEETPORT_DATA_DIR).")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL; default SQLite in the data dir (env FLEETPORT_DATABASE_URL)."),
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="PEM certificate for HTTPS; default self-signed (env FLEETPORT_TLS_CERT).",
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="PEM private key for HTTPS (env FLEETPORT_TLS_KEY)."),
    ] = None,
    log_level: Annotated[
        LogLevel | None, typer.Option(case_sensitive=False, help="Logging level (env FLEETPORT_LOG_LEVEL).")
    ] = None,
) -> None:
    """Run a Fleetport server. Options override FLEETPORT_* environment variables."""
    from fleetport.server import serve as run  # the server's dependencies load only for this command
    from fleetport.settings import Settings

    settings = Settings.from_env(
        host=host,
        http_port=http_port,
        https_port=https_port,
        grpc_port=grpc_port,
        data_dir=data_dir,
        database_url=database_url,
        tls_cert=tls_cert,
        tls_key=tls_key,
        log_level=log_level.value if log_level else None,
    )
    if bool(settings.tls_cert) != bool(settings.tls_key):
        fail("give both --tls-cert and --tls-key (or FLEETPORT_TLS_CERT and FLEETPORT_TLS_KEY), or neither")
    run(settings)


@app.command()
def version() -> None:
    """Print this program's version."""
    typer.echo(__version__)


@app.command()
def whoami(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Who the credentials belong to."""
    show(_api(ctx).whoami(), as_json)


# --- users ------------------------------------------------------------------------------------

USER_COLUMNS: list[Column] = ["id", "email", "name", "is_admin", "created_at"]


@users_app.command("list")
def users_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List users (administrators see everyone)."""
    listing(_api(ctx).users.list(), USER_COLUMNS, as_json)


@users_app.command("create")
def users_create(
    ctx: typer.Context,
    email: str,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    password: Annotated[
        str | None, typer.Option(help="Password (at least 8 characters); '-' reads it from stdin.")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user a server administrator.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a user."""
    if password == "-":
        password = sys.stdin.readline().rstrip("\r\n")
    show(_api(ctx).users.create(email, password, name=name, is_admin=admin), as_json)


@users_app.command("get")
def users_get(
    ctx: typer.Context,
    user_id: Annotated[str, typer.Argument(help="A user id, or 'me'.")] = "me",
    as_json: JsonOpt = False,
) -> None:
    """Show a user."""
    show(_api(ctx).users.get(user_id), as_json)


@users_app.command("delete")
def users_delete(ctx: typer.Context, user_id: str) -> None:
    """Delete a user."""
    _api(ctx).users.delete(user_id)
    done(f"deleted user {user_id}")


# --- organizations ----------------------------------------------------------------------------

ORG_COLUMNS: list[Column] = ["id", "name", "public_namespace", "region", "created_at"]


@orgs_app.command("list")
def orgs_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the organizations the credentials reach."""
    listing(_api(ctx).organizations.list(), ORG_COLUMNS, as_json)


@orgs_app.command("create")
def orgs_create(
    ctx: typer.Context,
    name: str,
    namespace: Annotated[str | None, typer.Option(help="Public namespace (unique).")] = None,
    region: Annotated[str, typer.Option(help="Region.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create an organization; you become its owner."""
    show(_api(ctx).organizations.create(name, public_namespace=namespace, region=region), as_json)


@orgs_app.command("get")
def orgs_get(ctx: typer.Context, org_id: str, as_json: JsonOpt = False) -> None:
    """Show an organization."""
    show(_api(ctx).organizations.get(org_id), as_json)


@orgs_app.command("update")
def orgs_update(
    ctx: typer.Context,
    org_id: str,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    namespace: Annotated[str | None, typer.Option(help="New public namespace.")] = None,
    region: Annotated[str | None, typer.Option(help="New region.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an organization."""
    org = _api(ctx).organizations.update(org_id, name=name, public_namespace=namespace, region=region)
    show(org, as_json)


@orgs_app.command("delete")
def orgs_delete(ctx: typer.Context, org_id: str) -> None:
    """Delete an organization."""
    _api(ctx).organizations.delete(org_id)
    done(f"deleted organization {org_id}")


@orgs_app.command("members")
def orgs_members(ctx: typer.Context, org_id: str, as_json: JsonOpt = False) -> None:
    """List an organization's members and their roles."""
    columns: list[Column] = [
        ("user_id", lambda x: x.user.id),
        ("email", lambda x: x.user.email),
        ("name", lambda x: x.user.name),
        "authorizations",
    ]
    listing(_api(ctx).organizations.members(org_id), columns, as_json)


# --- locations --------------------------------------------------------------------------------

LOCATION_COLUMNS: list[Column] = ["id", "name", "organization_id", "parent_id", "created_at"]


@locations_app.command("list")
def locations_list(
    ctx: typer.Context,
    org: Annotated[str | None, typer.Option(help="Only this organization's.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List locations."""
    listing(_api(ctx).locations.list(organization_id=org), LOCATION_COLUMNS, as_json)


@locations_app.command("create")
def locations_create(
    ctx: typer.Context,
    org_id: str,
    name: str,
    parent: Annotated[str | None, typer.Option(help="Parent location id.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a location in an organization."""
    show(_api(ctx).locations.create(org_id, name, parent_id=parent), as_json)


@locations_app.command("get")
def locations_get(ctx: typer.Context, location_id: str, as_json: JsonOpt = False) -> None:
    """Show a location."""
    show(_api(ctx).locations.get(location_id), as_json)


@locations_app.command("update")
def locations_update(
    ctx: typer.Context,
    location_id: str,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    parent: Annotated[str | None, typer.Option(help="New parent location id; '' makes it top-level.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename or move a location."""
    show(_api(ctx).locations.update(location_id, name=name, parent_id=parent), as_json)


@locations_app.command("delete")
def locations_delete(ctx: typer.Context, location_id: str) -> None:
    """Delete a location."""
    _api(ctx).locations.delete(location_id)
    done(f"deleted location {location_id}")


# --- machines ---------------------------------------------------------------------------------

MACHINE_COLUMNS: list[Column] = ["id", "name", "location_id", "rentable", "created_at"]


@machines_app.command("list")
def machines_list(
    ctx: typer.Context,
    location: Annotated[str | None, typer.Option(help="Only this location's.")] = None,
    org: Annotated[str | None, typer.Option(help="Only this organization's.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List machines."""
    listing(_api(ctx).machines.list(location_id=location, organization_id=org), MACHINE_COLUMNS, as_json)


@machines_app.command("create")
def machines_create(
    ctx: typer.Context,
    location_id: str,
    name: str,
    rentable: Annotated[bool, typer.Option("--rentable", help="Offer the machine for rent.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a machine (with its main part) in a location."""
    show(_api(ctx).machines.create(location_id, name, rentable=rentable), as_json)


@machines_app.command("get")
def machines_get(ctx: typer.Context, machine_id: str, as_json: JsonOpt = False) -> None:
    """Show a machine."""
    show(_api(ctx).machines.get(machine_id), as_json)


@machines_app.command("update")
def machines_update(
    ctx: typer.Context,
    machine_id: str,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    location: Annotated[str | None, typer.Option(help="Move to this location.")] = None,
    rentable: Annotated[
        bool | None, typer.Option("--rentable/--not-rentable", help="Offer the machine for rent, or stop.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename, move or (un)list a machine."""
    show(_api(ctx).machines.update(machine_id, name=name, location_id=location, rentable=rentable), as_json)


@machines_app.command("delete")
def machines_delete(ctx: typer.Context, machine_id: str) -> None:
    """Delete a machine and its parts."""
    _api(ctx).machines.delete(machine_id)
    done(f"deleted machine {machine_id}")


# --- parts ------------------------------------------------------------------------------------

PART_COLUMNS: list[Column] = [
    "id",
    "name",
    "main_part",
    "restart_required",
    "config_updated_at",
    "last_access",
]


@parts_app.command("list")
def parts_list(ctx: typer.Context, machine_id: str, as_json: JsonOpt = False) -> None:
    """List a machine's parts."""
    listing(_api(ctx).machines.parts(machine_id), PART_COLUMNS, as_json)


@parts_app.command("create")
def parts_create(ctx: typer.Context, machine_id: str, name: str, as_json: JsonOpt = False) -> None:
    """Add a part to a machine."""
    show(_api(ctx).parts.create(machine_id, name), as_json)


@parts_app.command("get")
def parts_get(ctx: typer.Context, part_id: str, as_json: JsonOpt = False) -> None:
    """Show a part."""
    show(_api(ctx).parts.get(part_id), as_json)


@parts_app.command("delete")
def parts_delete(ctx: typer.Context, part_id: str) -> None:
    """Delete a part."""
    _api(ctx).parts.delete(part_id)
    done(f"deleted part {part_id}")


@parts_app.command("set-main")
def parts_set_main(ctx: typer.Context, part_id: str, as_json: JsonOpt = False) -> None:
    """Make a part its machine's main part."""
    show(_api(ctx).parts.update(part_id, main_part=True), as_json)


@parts_app.command("restart")
def parts_restart(ctx: typer.Context, part_id: str, as_json: JsonOpt = False) -> None:
    """Ask a part to restart."""
    show(_api(ctx).parts.restart(part_id), as_json)


LOG_COLUMNS: list[Column] = ["id", "time", "level", "logger_name", "message"]
_LEVEL_STYLES = {
    "debug": "dim",
    "warn": "yellow",
    "error": "red",
    "dpanic": "red",
    "panic": "bold red",
    "fatal": "bold red",
}
_LEVEL_ALIASES = {"warning": "warn", "critical": "fatal"}


def _log_line(entry: m.LogEntry) -> Text:
    line = Text.assemble(
        (entry.time.isoformat(timespec="milliseconds"), "dim"),
        " ",
        (f"{entry.level.upper():<5}", _LEVEL_STYLES.get(entry.level, "")),
        " ",
    )
    if entry.logger_name:
        line.append(f"{entry.logger_name}: ", "cyan")
    line.append(entry.message)
    return line


def _print_logs(entries: Iterable[m.LogEntry], as_json: bool) -> None:
    for entry in entries:
        if as_json:
            typer.echo(entry.model_dump_json())
        else:
            out.print(_log_line(entry), soft_wrap=True, highlight=False)
    sys.stdout.flush()


@parts_app.command("logs")
def parts_logs(
    ctx: typer.Context,
    part_id: str,
    text: Annotated[
        str,
        typer.Option(
            "--filter", help="Only entries whose message or logger name holds this text (any case)."
        ),
    ] = "",
    level: Annotated[
        list[str] | None,
        typer.Option(
            "--level",
            help="Only entries of this level (repeatable): debug, info, warn, error, dpanic, panic, fatal.",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=10_000, help="How many of the newest entries to show.")
    ] = 100,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Then print new entries as they arrive, until Ctrl-C.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """A part's newest log entries, oldest first. With --follow, one line per entry (--json: one JSON
    object per line), and new entries follow as they arrive."""
    api = _api(ctx)
    # the tail opens first, so that no entry falls between the listing and the tail
    tail = api.logs.tail(part_id, filter=text) if follow else None
    try:
        found = api.logs.list(part_id, filter=text, levels=level, limit=limit if limit <= 100 else None)
        newest = list(islice(found, limit))[::-1]
        if tail is None:
            listing(newest, LOG_COLUMNS, as_json)
            return
        _print_logs(newest, as_json)
        last = newest[-1].id if newest else 0
        wanted = {_LEVEL_ALIASES.get(v.lower(), v.lower()) for v in level or ()}
        for batch in tail:
            _print_logs((e for e in batch if e.id > last and (not wanted or e.level in wanted)), as_json)
    except KeyboardInterrupt:
        pass
    finally:
        if tail is not None:
            tail.close()


@parts_app.command("log")
def parts_log(
    ctx: typer.Context,
    part_id: str,
    message: str,
    level: Annotated[str, typer.Option(help="debug, info, warn, error, dpanic, panic or fatal.")] = "info",
    at: Annotated[
        str | None,
        typer.Option("--time", help="When it happened: ISO 8601 or Unix seconds. Default: when it arrives."),
    ] = None,
    logger: Annotated[str, typer.Option(help="The logger's name.")] = "",
) -> None:
    """Append an entry to a part's log."""
    entry: dict[str, Any] = {"level": level, "message": message, "logger_name": logger}
    seconds = _timestamp(at, "--time")
    if seconds is not None:
        entry["time"] = _when(seconds) or fail(f"--time {at} is out of range")
    _api(ctx).logs.append(part_id, [entry])
    done(f"logged to part {part_id}")


@config_app.command("get")
def config_get(
    ctx: typer.Context,
    part_id: str,
    as_json: Annotated[
        bool, typer.Option("--json", help="Accepted for symmetry: the config is always JSON.")
    ] = False,
) -> None:
    """Print a part's configuration as JSON."""
    _dump(_api(ctx).parts.get_config(part_id).config)


@config_app.command("set")
def config_set(
    ctx: typer.Context,
    part_id: str,
    config: Annotated[
        str | None, typer.Argument(help="The configuration, a JSON object.", show_default=False)
    ] = None,
    file: Annotated[
        str | None, typer.Option("--file", "-f", help="Read the JSON object from this file; '-' reads stdin.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace a part's configuration with a JSON object (given inline, or with --file)."""
    if (config is None) == (file is None):
        raise typer.BadParameter(
            "give the configuration either as an argument or with --file (exactly one)",
            param_hint="CONFIG / --file",
        )
    if file is None:
        source, text = "the CONFIG argument", config or ""
    elif file == "-":
        source, text = "stdin", sys.stdin.read()
    else:
        source = file
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {file}: {exc}")
    try:
        value = json.loads(text)
    except ValueError as exc:
        fail(f"{source} is not valid JSON: {exc}")
    if not isinstance(value, dict):
        fail(f"{source} must be a JSON object ({{...}}), not {type(value).__name__}")
    part = _api(ctx).parts.set_config(part_id, value)
    if as_json:
        show(part, True)
    else:
        done(f"updated the configuration of part {part.id}")


def _abbreviated(value: dict[str, Any], width: int = 60) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


@config_app.command("history")
def config_history(ctx: typer.Context, part_id: str, as_json: JsonOpt = False) -> None:
    """A part's configuration edits, newest first, each with the configuration before it."""
    columns: list[Column] = [
        "id",
        "edited_at",
        "edited_by",
        ("previous_config", lambda r: _abbreviated(r.previous_config)),
    ]
    listing(_api(ctx).parts.config_history(part_id), columns, as_json)


# --- API keys ---------------------------------------------------------------------------------


def _parse_grant(value: str) -> m.Grant:
    parts = [p.strip() for p in value.split(":")]
    if len(parts) != 3 or not all(parts):
        raise typer.BadParameter(
            f"{value!r} is not ROLE:RESOURCE_TYPE:RESOURCE_ID, e.g. operator:location:<location id>"
        )
    return m.Grant(role=parts[0], resource_type=parts[1], resource_id=parts[2])


def _check_grants(values: list[str]) -> list[str]:
    for value in values:
        _parse_grant(value)
    return values


KEY_COLUMNS: list[Column] = ["id", "name", "is_admin", "authorizations", "created_at"]


@keys_app.command("list")
def keys_list(ctx: typer.Context, org_id: str, as_json: JsonOpt = False) -> None:
    """List an organization's API keys (secrets are never shown again)."""
    listing(_api(ctx).keys.list(org_id), KEY_COLUMNS, as_json)


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    org_id: str,
    name: str,
    grant: Annotated[
        list[str],
        typer.Option(
            help="ROLE:RESOURCE_TYPE:RESOURCE_ID, e.g. operator:location:<id>; role owner or operator, "
            "resource type organization, location or robot. Repeatable; at least one.",
            show_default=False,
            callback=_check_grants,
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; its secret is printed once."""
    grants = [_parse_grant(g) for g in grant]
    show_secret(_api(ctx).keys.create(org_id, name, grants), as_json)


@keys_app.command("get")
def keys_get(ctx: typer.Context, key_id: str, as_json: JsonOpt = False) -> None:
    """Show an API key (without its secret)."""
    show(_api(ctx).keys.get(key_id), as_json)


@keys_app.command("delete")
def keys_delete(ctx: typer.Context, key_id: str) -> None:
    """Delete an API key; it stops working at once."""
    _api(ctx).keys.delete(key_id)
    done(f"deleted API key {key_id}")


@keys_app.command("rotate")
def keys_rotate(ctx: typer.Context, key_id: str, as_json: JsonOpt = False) -> None:
    """Give an API key a new secret; the old one stops working. The new secret is printed once."""
    show_secret(_api(ctx).keys.rotate(key_id), as_json)


# --- fragments --------------------------------------------------------------------------------


class Visibility(StrEnum):
    private = "private"
    public = "public"
    public_unlisted = "public_unlisted"


class ItemType(StrEnum):
    module = "module"
    ml_model = "ml_model"
    ml_training = "ml_training"
    slam_map = "slam_map"
    archive = "archive"
    project = "project"


VisibilityOpt = Annotated[
    Visibility | None, typer.Option(case_sensitive=False, help="private, public or public_unlisted.")
]
ConfigOpt = Annotated[str | None, typer.Option("--config", help="The configuration, a JSON object.")]
ConfigFileOpt = Annotated[
    str | None, typer.Option("--file", "-f", help="Read the JSON object from this file; '-' reads stdin.")
]


def _json_object(inline: str | None, file: str | None) -> dict[str, Any] | None:
    """A JSON object given inline (--config) or in a file (--file); None when neither is given."""
    if inline is not None and file is not None:
        raise typer.BadParameter("give the configuration with --config or --file, not both")
    if inline is None and file is None:
        return None
    if file is None:
        source, text = "--config", inline or ""
    elif file == "-":
        source, text = "stdin", sys.stdin.read()
    else:
        source = file
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {file}: {exc}")
    try:
        value = json.loads(text)
    except ValueError as exc:
        fail(f"{source} is not valid JSON: {exc}")
    if not isinstance(value, dict):
        fail(f"{source} must be a JSON object ({{...}}), not {type(value).__name__}")
    return value


FRAGMENT_COLUMNS: list[Column] = [
    "id",
    "name",
    "organization_name",
    "visibility",
    ("parts", lambda f: f.robot_part_count),
    "updated_at",
]


@fragments_app.command("list")
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
    items = _api(ctx).fragments.list(org_id, show_public=public, visibilities=wanted)
    listing(items, FRAGMENT_COLUMNS, as_json)


@fragments_app.command("create")
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
    value = _json_object(config, file)
    fragment = _api(ctx).fragments.create(
        org_id, name, config=value, visibility=visibility.value if visibility else "private"
    )
    show(fragment, as_json)


@fragments_app.command("get")
def fragments_get(ctx: typer.Context, fragment_id: str, as_json: JsonOpt = False) -> None:
    """Show a fragment."""
    show(_api(ctx).fragments.get(fragment_id), as_json)


@fragments_app.command("update")
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
    value = _json_object(config, file)
    fragment = _api(ctx).fragments.update(
        fragment_id, name=name, config=value, visibility=visibility.value if visibility else None
    )
    show(fragment, as_json)


@fragments_app.command("delete")
def fragments_delete(ctx: typer.Context, fragment_id: str) -> None:
    """Delete a fragment no machine part uses."""
    _api(ctx).fragments.delete(fragment_id)
    done(f"deleted fragment {fragment_id}")


@fragments_app.command("history")
def fragments_history(ctx: typer.Context, fragment_id: str, as_json: JsonOpt = False) -> None:
    """A fragment's edits, newest first, each with the fragment as it was before it."""
    columns: list[Column] = [
        "id",
        "edited_at",
        "edited_by",
        "previous_name",
        "previous_visibility",
        ("previous_config", lambda r: _abbreviated(r.previous_config)),
    ]
    listing(_api(ctx).fragments.history(fragment_id), columns, as_json)


# --- registry and modules ---------------------------------------------------------------------


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
                [file.platform, str(file.size), file.blob[:12], file.uploaded_by, _plain(file.created_at)]
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
    items = _api(ctx).registry.list(
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
    show_item(_api(ctx).registry.create(org_id, name, type.value), as_json)


@registry_app.command("get")
def registry_get(ctx: typer.Context, item_id: str, as_json: JsonOpt = False) -> None:
    """Show a registry item (namespace:name, organization-id:name or its UUID)."""
    show_item(_api(ctx).registry.get(item_id), as_json)


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
    item = _api(ctx).registry.update(
        item_id,
        type=type.value if type else None,
        description=description,
        visibility=visibility.value if visibility else None,
    )
    show_item(item, as_json)


@registry_app.command("delete")
def registry_delete(ctx: typer.Context, item_id: str) -> None:
    """Delete a registry item with its versions."""
    _api(ctx).registry.delete(item_id)
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
    api = _api(ctx)
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
    api = _api(ctx)
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
    listing(_api(ctx).modules.list(org), ITEM_COLUMNS, as_json)


@modules_app.command("create")
def modules_create(ctx: typer.Context, org_id: str, name: str, as_json: JsonOpt = False) -> None:
    """Create a module (private, in development)."""
    show(_api(ctx).modules.create(org_id, name), as_json)


@modules_app.command("get")
def modules_get(ctx: typer.Context, module_id: str, as_json: JsonOpt = False) -> None:
    """Show a module with its versions and files."""
    show_item(_api(ctx).modules.get(module_id), as_json)


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
    ref = _api(ctx).modules.update(
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
    _api(ctx).modules.delete(module_id)
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
    api = _api(ctx)
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
    api = _api(ctx)
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


# --- telemetry and dataports ------------------------------------------------------------------


@telemetry_app.command("root-client")
def telemetry_root_client(ctx: typer.Context, org_id: str, as_json: JsonOpt = False) -> None:
    """Show an organization's root client: its RID and, for owners, its key (CIK)."""
    show(_api(ctx).telemetry.root_client(org_id), as_json)


@telemetry_app.command("device-client")
def telemetry_device_client(ctx: typer.Context, machine_id: str, as_json: JsonOpt = False) -> None:
    """Show a machine's device client: its RID and, for owners, its key (CIK)."""
    show(_api(ctx).telemetry.device_client(machine_id), as_json)


class DataportFormat(StrEnum):
    float = "float"
    integer = "integer"
    string = "string"
    binary = "binary"


class PointOrder(StrEnum):
    desc = "desc"
    asc = "asc"


class PointSelection(StrEnum):
    all = "all"
    givenwindow = "givenwindow"
    autowindow = "autowindow"


POINTS_PER_WRITE = 10_000


def _when(timestamp: int | None) -> datetime | None:
    """A Unix timestamp as a UTC time (None when there is none, or it is beyond the calendar)."""
    if timestamp is None:
        return None
    try:
        return datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _retention_text(d: m.Dataport) -> str:
    parts = []
    if d.retention_count is not None:
        parts.append(f"{d.retention_count} points")
    if d.retention_seconds is not None:
        parts.append(f"{d.retention_seconds}s")
    return ", ".join(parts) or "unlimited"


def _timestamp(value: str | None, option: str) -> int | None:
    """Unix seconds, from an integer or an ISO 8601 time (without a zone: UTC)."""
    if value is None:
        return None
    try:
        return unix_seconds(value)
    except InvalidArgument as exc:
        raise typer.BadParameter(exc.message, param_hint=option) from None


def _retention_option(value: str | None, option: str) -> int | Literal["unlimited"] | None:
    if value is None:
        return None
    if value == "unlimited":
        return "unlimited"
    if not value.isdigit():
        raise typer.BadParameter("give a whole number, or 'unlimited'", param_hint=option)
    return int(value)


DATAPORT_COLUMNS: list[Column] = [
    "alias",
    "format",
    "name",
    "count",
    ("last", lambda d: _when(d.last_timestamp)),
    "last_value",
    ("retention", _retention_text),
    "rid",
]
POINT_COLUMNS: list[Column] = [("time", lambda p: _when(p.timestamp)), "timestamp", "value"]
AliasArg = Annotated[str, typer.Argument(help="The dataport's alias (or its RID).")]


@dataports_app.command("list")
def dataports_list(ctx: typer.Context, machine_id: str, as_json: JsonOpt = False) -> None:
    """List a machine's dataports, with their newest point."""
    listing(_api(ctx).dataports.list(machine_id), DATAPORT_COLUMNS, as_json)


@dataports_app.command("create")
def dataports_create(
    ctx: typer.Context,
    machine_id: str,
    alias: Annotated[str, typer.Argument(help="Unique for the machine; names the dataport from now on.")],
    format: Annotated[
        DataportFormat, typer.Option("--format", case_sensitive=False, help="What its values are.")
    ] = DataportFormat.float,
    name: Annotated[str, typer.Option(help="A display name.")] = "",
    retention_count: Annotated[
        int | None, typer.Option(min=0, help="Keep at most this many points (the newest).")
    ] = None,
    retention_seconds: Annotated[
        int | None, typer.Option(min=0, help="Delete points older than this many seconds.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a dataport on a machine (without retention options it keeps every point)."""
    dataport = _api(ctx).dataports.create(
        machine_id,
        alias,
        format.value,
        name=name,
        retention_count=retention_count,
        retention_seconds=retention_seconds,
    )
    show(dataport, as_json)


@dataports_app.command("get")
def dataports_get(ctx: typer.Context, machine_id: str, alias: AliasArg, as_json: JsonOpt = False) -> None:
    """Show a dataport: its format, retention and newest point."""
    show(_api(ctx).dataports.get(machine_id, alias), as_json)


@dataports_app.command("update")
def dataports_update(
    ctx: typer.Context,
    machine_id: str,
    alias: AliasArg,
    name: Annotated[str | None, typer.Option(help="New display name.")] = None,
    retention_count: Annotated[
        str | None, typer.Option(help="Keep at most this many points, or 'unlimited'.")
    ] = None,
    retention_seconds: Annotated[
        str | None, typer.Option(help="Delete points older than this many seconds, or 'unlimited'.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename a dataport or change its retention (points beyond a smaller one are deleted at once)."""
    dataport = _api(ctx).dataports.update(
        machine_id,
        alias,
        name=name,
        retention_count=_retention_option(retention_count, "--retention-count"),
        retention_seconds=_retention_option(retention_seconds, "--retention-seconds"),
    )
    show(dataport, as_json)


@dataports_app.command("delete")
def dataports_delete(ctx: typer.Context, machine_id: str, alias: AliasArg) -> None:
    """Delete a dataport with its points."""
    _api(ctx).dataports.delete(machine_id, alias)
    done(f"deleted dataport {alias}")


def _points_file(file: str) -> list[Any]:
    """Points from a JSON file ('-': stdin): an array of {"timestamp", "value"} objects or
    [timestamp, value] pairs, or an object {"points": [...]}."""
    source = "stdin" if file == "-" else file
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {file}: {exc}")
    try:
        value = json.loads(text)
    except ValueError as exc:
        fail(f"{source} is not valid JSON: {exc}")
    if isinstance(value, dict) and set(value) == {"points"}:
        value = value["points"]
    if not isinstance(value, list):
        fail(f'{source} must hold a JSON array of points, or {{"points": [...]}}')
    points: list[Any] = []
    for index, point in enumerate(value):
        if isinstance(point, list) and len(point) == 2:
            point = {"timestamp": point[0], "value": point[1]}
        if not isinstance(point, dict) or "value" not in point:
            fail(
                f"{source}: point {index} is neither "
                '{"timestamp": ..., "value": ...} nor [timestamp, value]'
            )
        points.append(point)
    return points


@dataports_app.command("write")
def dataports_write(
    ctx: typer.Context,
    machine_id: str,
    alias: AliasArg,
    values: Annotated[
        list[str] | None,
        typer.Argument(
            help="Values to write, each a point (the server converts them to the format).", show_default=False
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            help="Timestamp of the VALUES: Unix seconds or ISO 8601; negative: seconds ago. Default: now."
        ),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            "-f",
            help="Read points from a JSON file ('-': stdin): an array of "
            '{"timestamp": ..., "value": ...} objects, or of \\[timestamp, value] pairs.',
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write points to a dataport: the VALUES given (all at --at, or now), or the points of a JSON
    file, sent 10,000 at a time. Points that do not fit the format are reported, and the command
    then exits with status 1."""
    if bool(values) == (file is not None):
        raise typer.BadParameter("give VALUES or --file (exactly one)", param_hint="VALUES / --file")
    if file is not None:
        if at is not None:
            raise typer.BadParameter("--at goes with VALUES; a file's points carry their own")
        points = _points_file(file)
    else:
        timestamp = _timestamp(at, "--at")
        points = [{"timestamp": timestamp, "value": v} for v in values or []]
    api = _api(ctx)
    written, failures = 0, []
    batches = [points[i : i + POINTS_PER_WRITE] for i in range(0, len(points), POINTS_PER_WRITE)]
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} points"),
        console=err,
        disable=len(batches) < 2,
    ) as progress:
        task = progress.add_task(f"writing to {alias}", total=len(points))
        for number, batch in enumerate(batches):
            result = api.dataports.write(machine_id, alias, batch)
            written += result.written
            offset = number * POINTS_PER_WRITE
            for failure in result.failures:
                index = None if failure.index is None else failure.index + offset
                failures.append(failure.model_copy(update={"index": index}))
            progress.advance(task, len(batch))
    if as_json:
        _dump(m.PointsWritten(written=written, failures=failures).model_dump(mode="json"))
    else:
        done(f"wrote {written} point{'s' if written != 1 else ''} to {alias}")
        for failure in failures:
            where = "a point" if failure.index is None else f"point {failure.index}"
            err.print(
                Text(f"left out {where} (timestamp {failure.timestamp}): {failure.reason}", style="red"),
                soft_wrap=True,
                highlight=False,
            )
    if failures:
        raise SystemExit(1)


@dataports_app.command("read")
def dataports_read(
    ctx: typer.Context,
    machine_id: str,
    alias: AliasArg,
    start: Annotated[str | None, typer.Option(help="From this time: Unix seconds or ISO 8601.")] = None,
    end: Annotated[str | None, typer.Option(help="Until this time (default: now).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Points at most.")] = 100,
    order: Annotated[
        PointOrder, typer.Option(help="desc: newest first; asc: oldest first.")
    ] = PointOrder.desc,
    selection: Annotated[
        PointSelection,
        typer.Option(
            help="all, givenwindow (newest of each of LIMIT slices) or autowindow (LIMIT spread evenly)."
        ),
    ] = PointSelection.all,
    as_json: JsonOpt = False,
) -> None:
    """Read a dataport's points, newest first."""
    points = _api(ctx).dataports.read(
        machine_id,
        alias,
        start=_timestamp(start, "--start"),
        end=_timestamp(end, "--end"),
        limit=limit,
        order=order.value,
        selection=selection.value,
    )
    listing(points, POINT_COLUMNS, as_json)


def main() -> None:
    """Runs the command line; an error from the SDK (a server's answer, an unreachable server) is
    one red line on stderr and exit status 1, never a traceback."""
    try:
        app(prog_name="fleetport")
    except UntrustedCertificate as exc:
        fail(
            f"the TLS certificate of {exc.url} is not trusted ({exc.reason}): pass the server's "
            "certificate before the command, fleetport --ca-cert <file> ..., or in FLEETPORT_CA_CERT "
            "(a Fleetport server's own is <data dir>/tls/cert.pem)"
        )
    except FleetportError as exc:
        message = exc.message or str(exc)
        if isinstance(exc, Unauthenticated):
            message += "; check --api-key or FLEETPORT_API_KEY"
        elif isinstance(exc, InvalidServerURL):
            message += "; set it with --url or FLEETPORT_URL"
        fail(message)


if __name__ == "__main__":
    main()
