"""``fleetport parts``: a machine's parts, their configuration and its history, and their logs."""

from __future__ import annotations

from typing import Annotated

import typer

from fleetport.cli import logs
from fleetport.cli.options import json_object
from fleetport.cli.output import Column, JsonOpt, abbreviated, done, dump_json, listing, show
from fleetport.cli.root import sdk

app = typer.Typer(no_args_is_help=True, help="A machine's parts, and their configuration.")
config_app = typer.Typer(no_args_is_help=True, help="A part's configuration.")
app.add_typer(config_app, name="config")


PART_COLUMNS: list[Column] = [
    "id",
    "name",
    "main_part",
    "restart_required",
    "config_updated_at",
    "last_access",
    "online",
]


@app.command("list")
def parts_list(ctx: typer.Context, machine_id: str, as_json: JsonOpt = False) -> None:
    """List a machine's parts."""
    listing(sdk(ctx).machines.parts(machine_id), PART_COLUMNS, as_json)


@app.command("create")
def parts_create(ctx: typer.Context, machine_id: str, name: str, as_json: JsonOpt = False) -> None:
    """Add a part to a machine."""
    show(sdk(ctx).parts.create(machine_id, name), as_json)


@app.command("get")
def parts_get(ctx: typer.Context, part_id: str, as_json: JsonOpt = False) -> None:
    """Show a part."""
    show(sdk(ctx).parts.get(part_id), as_json)


@app.command("delete")
def parts_delete(ctx: typer.Context, part_id: str) -> None:
    """Delete a part."""
    sdk(ctx).parts.delete(part_id)
    done(f"deleted part {part_id}")


@app.command("set-main")
def parts_set_main(ctx: typer.Context, part_id: str, as_json: JsonOpt = False) -> None:
    """Make a part its machine's main part."""
    show(sdk(ctx).parts.update(part_id, main_part=True), as_json)


@app.command("restart")
def parts_restart(ctx: typer.Context, part_id: str, as_json: JsonOpt = False) -> None:
    """Ask a part to restart."""
    show(sdk(ctx).parts.restart(part_id), as_json)


@app.command("agent-config")
def parts_agent_config(ctx: typer.Context, part_id: str) -> None:
    """Print what the agent on the robot connects with, as JSON: save it to a file (mode 0600) and
    run `fleetport agent --config FILE` there. It holds the part's secret."""
    dump_json(sdk(ctx).parts.agent_config(part_id).model_dump(mode="json"))


app.command("logs")(logs.parts_logs)
app.command("log")(logs.parts_log)


@config_app.command("get")
def config_get(
    ctx: typer.Context,
    part_id: str,
    as_json: Annotated[
        bool, typer.Option("--json", help="Accepted for symmetry: the config is always JSON.")
    ] = False,
) -> None:
    """Print a part's configuration as JSON."""
    dump_json(sdk(ctx).parts.get_config(part_id).config)


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
    value = json_object(config, file, "the CONFIG argument")
    part = sdk(ctx).parts.set_config(part_id, value)
    if as_json:
        show(part, True)
    else:
        done(f"updated the configuration of part {part.id}")


@config_app.command("history")
def config_history(ctx: typer.Context, part_id: str, as_json: JsonOpt = False) -> None:
    """A part's configuration edits, newest first, each with the configuration before it."""
    columns: list[Column] = [
        "id",
        "edited_at",
        "edited_by",
        ("previous_config", lambda r: abbreviated(r.previous_config)),
    ]
    listing(sdk(ctx).parts.config_history(part_id), columns, as_json)
