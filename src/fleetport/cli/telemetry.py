"""``fleetport telemetry``: the telemetry clients (and their keys) One Platform clients use."""

from __future__ import annotations

import typer

from fleetport.cli.output import JsonOpt, show
from fleetport.cli.root import sdk

app = typer.Typer(
    no_args_is_help=True, help="Telemetry clients and their keys (CIKs), for One Platform clients."
)


@app.command("root-client")
def telemetry_root_client(ctx: typer.Context, org_id: str, as_json: JsonOpt = False) -> None:
    """Show an organization's root client: its RID and, for owners, its key (CIK)."""
    show(sdk(ctx).telemetry.root_client(org_id), as_json)


@app.command("device-client")
def telemetry_device_client(ctx: typer.Context, machine_id: str, as_json: JsonOpt = False) -> None:
    """Show a machine's device client: its RID and, for owners, its key (CIK)."""
    show(sdk(ctx).telemetry.device_client(machine_id), as_json)
