"""``fleetport locations``: locations, which hold machines."""

from __future__ import annotations

from typing import Annotated

import typer

from fleetport.cli.output import Column, JsonOpt, done, listing, show
from fleetport.cli.root import sdk

app = typer.Typer(no_args_is_help=True, help="Locations, which hold machines.")

LOCATION_COLUMNS: list[Column] = ["id", "name", "organization_id", "parent_id", "created_at"]


@app.command("list")
def locations_list(
    ctx: typer.Context,
    org: Annotated[str | None, typer.Option(help="Only this organization's.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List locations."""
    listing(sdk(ctx).locations.list(organization_id=org), LOCATION_COLUMNS, as_json)


@app.command("create")
def locations_create(
    ctx: typer.Context,
    org_id: str,
    name: str,
    parent: Annotated[str | None, typer.Option(help="Parent location id.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a location in an organization."""
    show(sdk(ctx).locations.create(org_id, name, parent_id=parent), as_json)


@app.command("get")
def locations_get(ctx: typer.Context, location_id: str, as_json: JsonOpt = False) -> None:
    """Show a location."""
    show(sdk(ctx).locations.get(location_id), as_json)


@app.command("update")
def locations_update(
    ctx: typer.Context,
    location_id: str,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    parent: Annotated[str | None, typer.Option(help="New parent location id; '' makes it top-level.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename or move a location."""
    show(sdk(ctx).locations.update(location_id, name=name, parent_id=parent), as_json)


@app.command("delete")
def locations_delete(ctx: typer.Context, location_id: str) -> None:
    """Delete a location."""
    sdk(ctx).locations.delete(location_id)
    done(f"deleted location {location_id}")
