"""Machines and their parts: config and its history, secrets, restart."""

from __future__ import annotations

from fastapi import Query, Request

from fleetport.api import schemas as s
from fleetport.api.deps import Caller, FleetDep, PagingDep
from fleetport.api.routing import api_router
from fleetport.client import models as m

router = api_router()


@router.get("/machines", response_model=m.Page[m.Machine], tags=["machines"])
async def list_machines(
    fleet: FleetDep,
    caller: Caller,
    paging: PagingDep,
    location_id: str | None = Query(None, max_length=64),
    organization_id: str | None = Query(None, max_length=64),
) -> object:
    return await caller(fleet.machines.list, paging, location_id=location_id, organization_id=organization_id)


@router.post("/machines", response_model=m.Machine, status_code=201, tags=["machines"])
async def create_machine(body: s.MachineIn, fleet: FleetDep, caller: Caller) -> object:
    """Creates the machine with its main part."""
    return await caller(fleet.machines.create, body.location_id, body.name, metadata=body.metadata)


@router.get("/machines/{machine_id}", response_model=m.Machine, tags=["machines"])
async def get_machine(machine_id: str, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.machines.get, machine_id)


@router.patch("/machines/{machine_id}", response_model=m.Machine, tags=["machines"])
async def update_machine(machine_id: str, body: s.MachinePatch, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.machines.update, machine_id, **body.model_dump(exclude_unset=True))


@router.delete("/machines/{machine_id}", tags=["machines"], status_code=204, response_model=None)
async def delete_machine(machine_id: str, fleet: FleetDep, caller: Caller) -> None:
    await caller(fleet.machines.delete, machine_id)


@router.get("/machines/{machine_id}/parts", response_model=m.Page[m.Part], tags=["parts"])
async def list_parts(machine_id: str, fleet: FleetDep, caller: Caller, paging: PagingDep) -> object:
    """The machine's parts, oldest first."""
    return await caller(fleet.machines.list_parts, machine_id, paging)


@router.post("/machines/{machine_id}/parts", response_model=m.Part, status_code=201, tags=["parts"])
async def create_part(machine_id: str, body: s.PartIn, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.machines.create_part, machine_id, body.name)


@router.get("/parts/{part_id}", response_model=m.Part, tags=["parts"])
async def get_part(part_id: str, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.machines.get_part, part_id)


@router.patch("/parts/{part_id}", response_model=m.Part, tags=["parts"])
async def update_part(part_id: str, body: s.PartPatch, fleet: FleetDep, caller: Caller) -> object:
    """``main_part: true`` makes this the machine's main part in place of the previous one."""
    return await caller(fleet.machines.update_part, part_id, **body.model_dump(exclude_unset=True))


@router.delete("/parts/{part_id}", tags=["parts"], status_code=204, response_model=None)
async def delete_part(part_id: str, fleet: FleetDep, caller: Caller) -> None:
    await caller(fleet.machines.delete_part, part_id)


@router.post("/parts/{part_id}/restart", response_model=m.Part, tags=["parts"])
async def restart_part(part_id: str, fleet: FleetDep, caller: Caller) -> object:
    """Raises the part's restart flag; its agent restarts it and lowers the flag."""
    return await caller(fleet.machines.mark_restart, part_id)


@router.get("/parts/{part_id}/config", response_model=m.PartConfig, tags=["config"])
async def get_config(part_id: str, fleet: FleetDep, caller: Caller) -> object:
    """Readable with the part's own secret too; that read records the part's last access."""
    return {"part_id": part_id, "config": await caller(fleet.machines.get_config, part_id)}


@router.put("/parts/{part_id}/config", response_model=m.Part, tags=["config"])
async def set_config(part_id: str, body: s.ConfigIn, fleet: FleetDep, caller: Caller) -> object:
    """Replaces the config; the one replaced goes into the history with who and when."""
    return await caller(fleet.machines.set_config, part_id, body.config)


@router.get("/parts/{part_id}/config/history", response_model=m.Page[m.ConfigRevision], tags=["config"])
async def config_history(part_id: str, fleet: FleetDep, caller: Caller, paging: PagingDep) -> object:
    """Newest edit first; each entry holds the config as it was before that edit."""
    return await caller(fleet.machines.config_history, part_id, paging)


@router.get("/parts/{part_id}/agent-config", response_model=m.AgentConfig, tags=["parts"])
async def agent_config(part_id: str, request: Request, fleet: FleetDep, caller: Caller) -> object:
    """What ``fleetport agent --config FILE`` reads to connect as this part: the server's address
    (as this request reached it), the part's id and its oldest secret. Needs manage_robot_secrets."""
    enrolment = await caller(fleet.agents.enrolment, part_id)
    server = str(request.base_url).rstrip("/")
    return {"server": server, "part_id": enrolment.part_id, "secret": enrolment.secret}


@router.get("/parts/{part_id}/secrets", response_model=list[m.Secret], tags=["parts"])
async def list_part_secrets(part_id: str, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.machines.secrets, part_id)


@router.post("/parts/{part_id}/secrets", response_model=m.Secret, status_code=201, tags=["parts"])
async def create_part_secret(part_id: str, fleet: FleetDep, caller: Caller) -> object:
    """A secret the part authenticates itself with (Bearer)."""
    return await caller(fleet.machines.create_secret, part_id)


@router.delete("/parts/{part_id}/secrets/{secret_id}", tags=["parts"], status_code=204, response_model=None)
async def delete_part_secret(part_id: str, secret_id: str, fleet: FleetDep, caller: Caller) -> None:
    await caller(fleet.machines.delete_secret, part_id, secret_id)
