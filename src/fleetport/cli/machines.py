"""``fleetport machines``: machines (robots)."""

from __future__ import annotations

from typing import Annotated

import typer

from fleetport.cli.output import Column, JsonOpt, done, listing, show
from fleetport.cli.root import sdk

app = typer.Typer(no_args_is_help=True, help="Machines (robots).")

MACHINE_COLUMNS: list[Column] = ["id", "name", "location_id", "online", "last_seen", "created_at"]


@app.command("list")
def machines_list(
    ctx: typer.Context,
    location: Annotated[str | None, typer.Option(help="Only this location's.")] = None,
    org: Annotated[str | None, typer.Option(help="Only this organization's.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List machines."""
    listing(sdk(ctx).machines.list(location_id=location, organization_id=org), MACHINE_COLUMNS, as_json)


@app.command("create")
def machines_create(
    ctx: typer.Context,
    location_id: str,
    name: str,
    as_json: JsonOpt = False,
) -> None:
    """Create a machine (with its main part) in a location (offer it for rent, or remote access,
    with fleetport deployments create)."""
    show(sdk(ctx).machines.create(location_id, name), as_json)


@app.command("get")
def machines_get(ctx: typer.Context, machine_id: str, as_json: JsonOpt = False) -> None:
    """Show a machine."""
    show(sdk(ctx).machines.get(machine_id), as_json)


@app.command("update")
def machines_update(
    ctx: typer.Context,
    machine_id: str,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    location: Annotated[str | None, typer.Option(help="Move to this location.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename or move a machine."""
    show(sdk(ctx).machines.update(machine_id, name=name, location_id=location), as_json)


@app.command("delete")
def machines_delete(ctx: typer.Context, machine_id: str) -> None:
    """Delete a machine and its parts."""
    sdk(ctx).machines.delete(machine_id)
    done(f"deleted machine {machine_id}")
