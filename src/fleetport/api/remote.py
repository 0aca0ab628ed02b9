"""Remote access: deployments and their access rules, instances with their firewall, reservations."""

from __future__ import annotations

from fastapi import Query

from fleetport.api import schemas as s
from fleetport.api.deps import Caller, FleetDep, PagingDep
from fleetport.api.routing import api_router
from fleetport.client import models as m

router = api_router(tags=["remote access"])


@router.post("/deployments", response_model=m.Deployment, status_code=201)
async def create_deployment(body: s.DeploymentIn, fleet: FleetDep, caller: Caller) -> object:
    return await caller(
        fleet.remote.deployments.create,
        body.machine_id,
        body.type,
        body.region,
        body.addons,
        body.addons_config,
    )


@router.get("/deployments", response_model=m.Page[m.Deployment])
async def list_deployments(
    fleet: FleetDep,
    caller: Caller,
    paging: PagingDep,
    type: list[str] = Query([], max_length=20),
    q: str | None = Query(None, max_length=200),
) -> object:
    found = await caller(fleet.remote.deployments.search, paging, text=q, types=type)
    return found.page


@router.get("/deployments/{deployment_id}", response_model=m.Deployment)
async def get_deployment(deployment_id: str, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.remote.deployments.get, deployment_id)


@router.get("/machines/{machine:path}/deployment", response_model=m.Deployment)
async def get_machine_deployment(machine: str, fleet: FleetDep, caller: Caller) -> object:
    """The deployment of a machine named by its id, or by its name among the machines you read."""
    return await caller(fleet.remote.deployments.of_machine, machine)


@router.patch("/deployments/{deployment_id}", response_model=m.Deployment)
async def update_deployment(
    deployment_id: str, body: s.DeploymentPatch, fleet: FleetDep, caller: Caller
) -> object:
    return await caller(fleet.remote.deployments.update, deployment_id, **body.model_dump(exclude_unset=True))


@router.delete("/deployments/{deployment_id}", status_code=204, response_model=None)
async def delete_deployment(deployment_id: str, fleet: FleetDep, caller: Caller) -> None:
    """Refused while an instance is active on it."""
    await caller(fleet.remote.deployments.delete, deployment_id)


@router.get("/deployments/{deployment_id}/rules", response_model=list[m.AccessRule])
async def list_rules(deployment_id: str, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.remote.deployments.rules, deployment_id)


@router.post("/deployments/{deployment_id}/rules", response_model=m.AccessRule, status_code=201)
async def add_rule(deployment_id: str, body: s.AccessRuleIn, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.remote.deployments.add_rule, deployment_id, body.capability, body.user)


@router.delete("/deployments/{deployment_id}/rules/{rule_id}", status_code=204, response_model=None)
async def delete_rule(deployment_id: str, rule_id: str, fleet: FleetDep, caller: Caller) -> None:
    await caller(fleet.remote.deployments.delete_rule, deployment_id, rule_id)


@router.post("/instances", response_model=m.Launch, status_code=201)
async def launch_instance(body: s.InstanceIn, fleet: FleetDep, caller: Caller) -> object:
    """An instance on the deployment (or a free one of the workspace type), or a reservation when
    it is busy and ``reserve`` is set; 409 when it is busy otherwise."""
    return await caller(
        fleet.remote.instances.launch,
        body.deployment,
        public_key=body.public_key,
        expire_seconds=body.expire_seconds,
        reserve=body.reserve,
        event_url=body.event_url,
    )


@router.get("/instances", response_model=m.Page[m.Instance])
async def list_instances(
    fleet: FleetDep, caller: Caller, paging: PagingDep, include_ended: bool = False
) -> object:
    found = await caller(fleet.remote.instances.list, paging, include_ended=include_ended)
    return found.page


@router.get("/instances/{instance_id}", response_model=m.Instance)
async def get_instance(instance_id: str, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.remote.instances.get, instance_id)


@router.post("/instances/{instance_id}/terminate", response_model=m.Instance)
async def terminate_instance(instance_id: str, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.remote.instances.terminate, instance_id)


@router.get("/instances/{instance_id}/firewall", response_model=m.Firewall)
async def get_firewall(instance_id: str, fleet: FleetDep, caller: Caller) -> object:
    rules = await caller(fleet.remote.instances.firewall, instance_id)
    return {"rules": rules}


@router.post("/instances/{instance_id}/firewall", response_model=m.Firewall)
async def add_firewall_rule(
    instance_id: str, body: s.FirewallRuleIn, fleet: FleetDep, caller: Caller
) -> object:
    rules = await caller(fleet.remote.instances.add_firewall_rule, instance_id, body.action, body.source)
    return {"rules": rules}


@router.delete("/instances/{instance_id}/firewall", status_code=204, response_model=None)
async def flush_firewall(instance_id: str, fleet: FleetDep, caller: Caller) -> None:
    """Removes every rule: the empty chain drops every address."""
    await caller(fleet.remote.instances.flush_firewall, instance_id)


@router.get("/reservations", response_model=list[m.Reservation])
async def list_reservations(fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.remote.reservations.list)


@router.delete("/reservations/{reservation_id}", status_code=204, response_model=None)
async def cancel_reservation(reservation_id: str, fleet: FleetDep, caller: Caller) -> None:
    await caller(fleet.remote.reservations.cancel, reservation_id)
