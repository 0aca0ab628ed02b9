"""Telemetry: the keys of an organization's root client and of machines' device clients."""

from __future__ import annotations

from fastapi import APIRouter

from fleetport.api.deps import Caller, FleetDep
from fleetport.client import models as m

router = APIRouter(tags=["telemetry"])


@router.get("/organizations/{org_id}/telemetry/root-client", response_model=m.TelemetryClient)
async def root_client(org_id: str, fleet: FleetDep, caller: Caller) -> object:
    """The organization's root client (made on first use); its key needs update_organization."""
    return await caller(fleet.telemetry.root_client, org_id)


@router.get("/machines/{machine_id}/telemetry/device-client", response_model=m.TelemetryClient)
async def device_client(machine_id: str, fleet: FleetDep, caller: Caller) -> object:
    """The machine's device client (made on first use, under the root client); its key needs
    update_robot."""
    return await caller(fleet.telemetry.device_client, machine_id)
