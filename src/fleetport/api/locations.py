"""Locations, their sharing and secrets."""

from __future__ import annotations

from fastapi import APIRouter, Query

from fleetport.api import schemas as s
from fleetport.api.deps import Caller, FleetDep, PagingDep
from fleetport.client import models as m

router = APIRouter(tags=["locations"])


@router.get("/locations", response_model=m.Page[m.Location])
def list_locations(
    fleet: FleetDep,
    caller: Caller,
    paging: PagingDep,
    organization_id: str | None = Query(None, max_length=64),
) -> object:
    return fleet.locations.list(caller, paging.limit, paging.cursor, organization_id=organization_id)


@router.post("/locations", response_model=m.Location, status_code=201)
def create_location(body: s.LocationIn, fleet: FleetDep, caller: Caller) -> object:
    return fleet.locations.create(
        caller, body.organization_id, body.name, parent_id=body.parent_id, metadata=body.metadata
    )


@router.get("/locations/{location_id}", response_model=m.Location)
def get_location(location_id: str, fleet: FleetDep, caller: Caller) -> object:
    return fleet.locations.get(caller, location_id)


@router.patch("/locations/{location_id}", response_model=m.Location)
def update_location(location_id: str, body: s.LocationPatch, fleet: FleetDep, caller: Caller) -> object:
    return fleet.locations.update(caller, location_id, **body.model_dump(exclude_unset=True))


@router.delete("/locations/{location_id}", status_code=204, response_model=None)
def delete_location(location_id: str, fleet: FleetDep, caller: Caller) -> None:
    """Refused while the location holds machines or sub-locations."""
    fleet.locations.delete(caller, location_id)


@router.post("/locations/{location_id}/shares", status_code=204, response_model=None)
def share_location(location_id: str, body: s.ShareIn, fleet: FleetDep, caller: Caller) -> None:
    fleet.locations.share(caller, location_id, body.organization_id)


@router.delete("/locations/{location_id}/shares/{organization_id}", status_code=204, response_model=None)
def unshare_location(location_id: str, organization_id: str, fleet: FleetDep, caller: Caller) -> None:
    fleet.locations.unshare(caller, location_id, organization_id)


@router.get("/locations/{location_id}/secrets", response_model=list[m.Secret])
def list_location_secrets(location_id: str, fleet: FleetDep, caller: Caller) -> object:
    return fleet.locations.secrets(caller, location_id)


@router.post("/locations/{location_id}/secrets", response_model=m.Secret, status_code=201)
def create_location_secret(location_id: str, fleet: FleetDep, caller: Caller) -> object:
    return fleet.locations.create_secret(caller, location_id)


@router.delete("/locations/{location_id}/secrets/{secret_id}", status_code=204, response_model=None)
def delete_location_secret(location_id: str, secret_id: str, fleet: FleetDep, caller: Caller) -> None:
    fleet.locations.delete_secret(caller, location_id, secret_id)
