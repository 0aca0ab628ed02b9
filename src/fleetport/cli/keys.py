"""``fleetport keys``: an organization's API keys; a new secret is shown once."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.panel import Panel
from rich.text import Text

from fleetport.cli.output import Column, JsonOpt, done, listing, out, show
from fleetport.cli.root import sdk
from fleetport.client import models as m

app = typer.Typer(no_args_is_help=True, help="An organization's API keys.")


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


@app.command("list")
def keys_list(ctx: typer.Context, org_id: str, as_json: JsonOpt = False) -> None:
    """List an organization's API keys (secrets are never shown again)."""
    listing(sdk(ctx).keys.list(org_id), KEY_COLUMNS, as_json)


@app.command("create")
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
    show_secret(sdk(ctx).keys.create(org_id, name, grants), as_json)


@app.command("get")
def keys_get(ctx: typer.Context, key_id: str, as_json: JsonOpt = False) -> None:
    """Show an API key (without its secret)."""
    show(sdk(ctx).keys.get(key_id), as_json)


@app.command("delete")
def keys_delete(ctx: typer.Context, key_id: str) -> None:
    """Delete an API key; it stops working at once."""
    sdk(ctx).keys.delete(key_id)
    done(f"deleted API key {key_id}")


@app.command("rotate")
def keys_rotate(ctx: typer.Context, key_id: str, as_json: JsonOpt = False) -> None:
    """Give an API key a new secret; the old one stops working. The new secret is printed once."""
    show_secret(sdk(ctx).keys.rotate(key_id), as_json)
