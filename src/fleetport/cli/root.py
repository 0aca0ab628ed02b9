"""The ``fleetport`` command's root: the connection options every client command shares, the SDK
client of one invocation, and the commands that belong to no group (``version``, ``whoami``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from fleetport import __version__
from fleetport.cli.output import JsonOpt, show
from fleetport.client.sync import Client

app = typer.Typer(no_args_is_help=True, help="Fleetport: a self-hosted cloud for fleets of robots.")


@dataclass
class _State:
    url: str | None = None
    api_key: str | None = None
    ca_cert: Path | None = None
    client: Client | None = None


def sdk(ctx: typer.Context) -> Client:
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


def version() -> None:
    """Print this program's version."""
    typer.echo(__version__)


def whoami(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Who the credentials belong to."""
    show(sdk(ctx).whoami(), as_json)
