"""``fleetport deployments`` and ``fleetport instances``: machines offered for remote sessions,
who may launch on them, and the sessions (instances) with their firewall and reservations."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from fleetport.cli.output import Column, JsonOpt, done, listing, show
from fleetport.cli.root import sdk

deployments_app = typer.Typer(no_args_is_help=True, help="Machines offered for remote sessions.")
instances_app = typer.Typer(no_args_is_help=True, help="Remote sessions on deployments.")

DEPLOYMENT_COLUMNS: list[Column] = ["id", "type", "region", "machine_id", "queuelen", "locked_out"]
RULE_COLUMNS: list[Column] = ["id", "capability", "user_email", "user_id", "created_at"]
INSTANCE_COLUMNS: list[Column] = ["id", "status", "type", "deployment_id", "port", "started_at"]
RESERVATION_COLUMNS: list[Column] = ["id", "type", "deployment_id", "created_at"]
AddonsOpt = Annotated[list[str] | None, typer.Option("--addon", help="A supported add-on (repeat).")]


@deployments_app.command("create")
def deployments_create(
    ctx: typer.Context,
    machine_id: str,
    type: Annotated[str, typer.Option(help="Workspace type, like fixed_misty2.")] = "generic",
    region: Annotated[str, typer.Option(help="Region, like us:cali.")] = "",
    addons: AddonsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Offer a machine for remote sessions."""
    show(sdk(ctx).deployments.create(machine_id, type=type, region=region, addons=addons or []), as_json)


@deployments_app.command("list")
def deployments_list(
    ctx: typer.Context,
    type: Annotated[
        list[str] | None, typer.Option("--type", help="Only this workspace type (repeat).")
    ] = None,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Text in the type, region or id.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the deployments you see."""
    listing(sdk(ctx).deployments.list(types=type or [], query=query), DEPLOYMENT_COLUMNS, as_json)


@deployments_app.command("get")
def deployments_get(ctx: typer.Context, deployment_id: str, as_json: JsonOpt = False) -> None:
    """Show a deployment."""
    show(sdk(ctx).deployments.get(deployment_id), as_json)


@deployments_app.command("update")
def deployments_update(
    ctx: typer.Context,
    deployment_id: str,
    type: Annotated[str | None, typer.Option(help="New workspace type.")] = None,
    region: Annotated[str | None, typer.Option(help="New region.")] = None,
    addons: AddonsOpt = None,
    lockout: Annotated[
        bool | None, typer.Option("--lockout/--no-lockout", help="Only owners launch.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a deployment's type, region, add-ons or lockout."""
    changed = sdk(ctx).deployments.update(
        deployment_id, type=type, region=region, addons=addons, locked_out=lockout
    )
    show(changed, as_json)


@deployments_app.command("delete")
def deployments_delete(ctx: typer.Context, deployment_id: str) -> None:
    """Stop offering the machine (once no instance is active on it)."""
    sdk(ctx).deployments.delete(deployment_id)
    done(f"deleted deployment {deployment_id}")


@deployments_app.command("rules")
def deployments_rules(ctx: typer.Context, deployment_id: str, as_json: JsonOpt = False) -> None:
    """List a deployment's access rules."""
    listing(sdk(ctx).deployments.rules(deployment_id), RULE_COLUMNS, as_json)


@deployments_app.command("add-rule")
def deployments_add_rule(
    ctx: typer.Context,
    deployment_id: str,
    capability: Annotated[str, typer.Argument(help="CAP_INSTANTIATE or CAP_NO_INSTANTIATE.")],
    user: Annotated[str | None, typer.Option(help="A user id or email; none: everyone.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Let (or not let) a user, or everyone, launch on a deployment."""
    show(sdk(ctx).deployments.add_rule(deployment_id, capability, user), as_json)


@deployments_app.command("delete-rule")
def deployments_delete_rule(ctx: typer.Context, deployment_id: str, rule_id: str) -> None:
    """Delete an access rule."""
    sdk(ctx).deployments.delete_rule(deployment_id, rule_id)
    done(f"deleted rule {rule_id}")


@instances_app.command("launch")
def instances_launch(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(help="A deployment id or a workspace type.")],
    public_key: Annotated[Path | None, typer.Option(help="Your SSH public key file.")] = None,
    secret_key: Annotated[Path, typer.Option(help="Where a key made for you is written.")] = Path("key.pem"),
    expire: Annotated[int | None, typer.Option(help="Seconds the instance lives (default 3600).")] = None,
    reserve: Annotated[bool, typer.Option(help="Reserve the deployment when it is busy.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Launch an instance (or reserve a busy deployment)."""
    key = public_key.read_text() if public_key is not None else None
    launch = sdk(ctx).instances.launch(deployment, public_key=key, expire_seconds=expire, reserve=reserve)
    if launch.private_key is not None:
        descriptor = os.open(secret_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(launch.private_key)
        done(f"the private key was written to {secret_key}")
    made = launch.instance or launch.reservation
    if made is not None:
        show(made, as_json)


@instances_app.command("list")
def instances_list(
    ctx: typer.Context,
    all: Annotated[bool, typer.Option("--all", help="Include ended instances.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List your instances."""
    listing(sdk(ctx).instances.list(include_ended=all), INSTANCE_COLUMNS, as_json)


@instances_app.command("get")
def instances_get(ctx: typer.Context, instance_id: str, as_json: JsonOpt = False) -> None:
    """Show an instance."""
    show(sdk(ctx).instances.get(instance_id), as_json)


@instances_app.command("terminate")
def instances_terminate(ctx: typer.Context, instance_id: str, as_json: JsonOpt = False) -> None:
    """End an instance."""
    show(sdk(ctx).instances.terminate(instance_id), as_json)


@instances_app.command("firewall")
def instances_firewall(
    ctx: typer.Context,
    instance_id: str,
    add: Annotated[str | None, typer.Option(help="Append a rule: ACCEPT, DROP or REJECT.")] = None,
    source: Annotated[str | None, typer.Option(help="The rule's source CIDR; none: any.")] = None,
    flush: Annotated[bool, typer.Option(help="Remove every rule (then every address is dropped).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show, add to or flush an instance's firewall rules."""
    client = sdk(ctx)
    if flush:
        client.instances.flush_firewall(instance_id)
    firewall = (
        client.instances.add_firewall_rule(instance_id, add, source)
        if add is not None
        else client.instances.firewall(instance_id)
    )
    if firewall.rules is None:
        done("no firewall chain yet: every address is accepted")
    elif not firewall.rules and not as_json:
        done("no rules (the chain was flushed): every address is dropped")
    else:
        listing(firewall.rules, ["source", "action"], as_json)


@instances_app.command("reservations")
def instances_reservations(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List your waiting reservations."""
    listing(sdk(ctx).reservations.list(), RESERVATION_COLUMNS, as_json)


@instances_app.command("cancel-reservation")
def instances_cancel_reservation(ctx: typer.Context, reservation_id: str) -> None:
    """Cancel a reservation."""
    sdk(ctx).reservations.cancel(reservation_id)
    done(f"cancelled reservation {reservation_id}")
