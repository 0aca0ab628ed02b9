"""Locations, their sharing and secrets."""

from __future__ import annotations

from fastapi import Query

from fleetport.api import schemas as s
from fleetport.api.deps import Caller, FleetDep, PagingDep
from fleetport.api.routing import api_router
from fleetport.client import models as m

router = api_router(tags=["locations"])


@router.get("/locations", response_model=m.Page[m.Location])
async def list_locations(
    fleet: FleetDep,
    caller: Caller,
    paging: PagingDep,
    organization_id: str | None = Query(None, max_length=64),
) -> object:
    return await caller(fleet.locations.list, paging, organization_id=organization_id)


@router.post("/locations", response_model=m.Location, status_code=201)
async def create_location(body: s.LocationIn, fleet: FleetDep, caller: Caller) -> object:
    return await caller(
        fleet.locations.create,
        body.organization_id,
        body.name,
        parent_id=body.parent_id,
        metadata=body.metadata,
    )


@router.get("/locations/{location_id}", response_model=m.Location)
async def get_location(location_id: str, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.locations.get, location_id)


@router.patch("/locations/{location_id}", response_model=m.Location)
async def update_location(location_id: str, body: s.LocationPatch, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.locations.update, location_id, **body.model_dump(exclude_unset=True))


@router.delete("/locations/{location_id}", status_code=204, response_model=None)
async def delete_location(location_id: str, fleet: FleetDep, caller: Caller) -> None:
    """Refused while the location holds machines or sub-locations."""
    await caller(fleet.locations.delete, location_id)


@router.post("/locations/{location_id}/shares", status_code=204, response_model=None)
async def share_location(location_id: str, body: s.ShareIn, fleet: FleetDep, caller: Caller) -> None:
    await caller(fleet.locations.share, location_id, body.organization_id)


@router.delete("/locations/{location_id}/shares/{organization_id}", status_code=204, response_model=None)
async def unshare_location(location_id: str, organization_id: str, fleet: FleetDep, caller: Caller) -> None:
    await caller(fleet.locations.unshare, location_id, organization_id)


@router.get("/locations/{location_id}/secrets", response_model=list[m.Secret])
async def list_location_secrets(location_id: str, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.locations.secrets, location_id)


@router.post("/locations/{location_id}/secrets", response_model=m.Secret, status_code=201)
async def create_location_secret(location_id: str, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.locations.create_secret, location_id)


@router.delete("/locations/{location_id}/secrets/{secret_id}", status_code=204, response_model=None)
async def delete_location_secret(location_id: str, secret_id: str, fleet: FleetDep, caller: Caller) -> None:
    await caller(fleet.locations.delete_secret, location_id, secret_id)
