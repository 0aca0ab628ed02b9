"""``fleetport users``: the users of a server."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from fleetport.cli.output import Column, JsonOpt, done, listing, show
from fleetport.cli.root import sdk

app = typer.Typer(no_args_is_help=True, help="Users of this server.")

USER_COLUMNS: list[Column] = ["id", "email", "name", "is_admin", "created_at"]


@app.command("list")
def users_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List users (administrators see everyone)."""
    listing(sdk(ctx).users.list(), USER_COLUMNS, as_json)


@app.command("create")
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
    show(sdk(ctx).users.create(email, password, name=name, is_admin=admin), as_json)


@app.command("get")
def users_get(
    ctx: typer.Context,
    user_id: Annotated[str, typer.Argument(help="A user id, or 'me'.")] = "me",
    as_json: JsonOpt = False,
) -> None:
    """Show a user."""
    show(sdk(ctx).users.get(user_id), as_json)


@app.command("delete")
def users_delete(ctx: typer.Context, user_id: str) -> None:
    """Delete a user."""
    sdk(ctx).users.delete(user_id)
    done(f"deleted user {user_id}")
