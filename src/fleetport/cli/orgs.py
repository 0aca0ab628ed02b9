"""``fleetport orgs``: organizations and their members."""

from __future__ import annotations

from typing import Annotated

import typer

from fleetport.cli.output import Column, JsonOpt, done, listing, show
from fleetport.cli.root import sdk

app = typer.Typer(no_args_is_help=True, help="Organizations.")

ORG_COLUMNS: list[Column] = ["id", "name", "public_namespace", "region", "created_at"]


@app.command("list")
def orgs_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the organizations the credentials reach."""
    listing(sdk(ctx).organizations.list(), ORG_COLUMNS, as_json)


@app.command("create")
def orgs_create(
    ctx: typer.Context,
    name: str,
    namespace: Annotated[str | None, typer.Option(help="Public namespace (unique).")] = None,
    region: Annotated[str, typer.Option(help="Region.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create an organization; you become its owner."""
    show(sdk(ctx).organizations.create(name, public_namespace=namespace, region=region), as_json)


@app.command("get")
def orgs_get(ctx: typer.Context, org_id: str, as_json: JsonOpt = False) -> None:
    """Show an organization."""
    show(sdk(ctx).organizations.get(org_id), as_json)


@app.command("update")
def orgs_update(
    ctx: typer.Context,
    org_id: str,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    namespace: Annotated[str | None, typer.Option(help="New public namespace.")] = None,
    region: Annotated[str | None, typer.Option(help="New region.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an organization."""
    org = sdk(ctx).organizations.update(org_id, name=name, public_namespace=namespace, region=region)
    show(org, as_json)


@app.command("delete")
def orgs_delete(ctx: typer.Context, org_id: str) -> None:
    """Delete an organization."""
    sdk(ctx).organizations.delete(org_id)
    done(f"deleted organization {org_id}")


@app.command("members")
def orgs_members(ctx: typer.Context, org_id: str, as_json: JsonOpt = False) -> None:
    """List an organization's members and their roles."""
    columns: list[Column] = [
        ("user_id", lambda x: x.user.id),
        ("email", lambda x: x.user.email),
        ("name", lambda x: x.user.name),
        "authorizations",
    ]
    listing(sdk(ctx).organizations.members(org_id), columns, as_json)
