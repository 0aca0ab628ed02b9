"""Telemetry: the keys of an organization's root client and of machines' device clients, and a
machine's dataports with their points."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import orjson
from fastapi import Path, Query, Request
from fastapi.responses import Response

from fleetport.api import schemas as s
from fleetport.api.deps import Caller, FleetDep, PagingDep
from fleetport.api.routing import api_router
from fleetport.client import models as m
from fleetport.core import dataports as dp
from fleetport.core.errors import Invalid
from fleetport.edge import BodyLimit, error_body
from fleetport.settings import Settings

router = api_router()

DATAPORT = "/machines/{machine_id}/dataports/{alias}"
AliasPath = Annotated[str, Path(description="The dataport's alias, or its RID")]


def body_limits(settings: Settings) -> list[BodyLimit]:
    """A batch of points may be as large as ``points_max_batch_bytes``."""
    points = re.compile(r"^/api/v1/machines/[^/]+/dataports/[^/]+/points$")
    return [BodyLimit("POST", points, settings.points_max_batch_bytes)]


@router.get(
    "/organizations/{org_id}/telemetry/root-client", response_model=m.TelemetryClient, tags=["telemetry"]
)
async def root_client(org_id: str, fleet: FleetDep, caller: Caller) -> object:
    """The organization's root client (made on first use); its key needs update_organization."""
    return await caller(fleet.telemetry.clients.root_client, org_id)


@router.get(
    "/machines/{machine_id}/telemetry/device-client", response_model=m.TelemetryClient, tags=["telemetry"]
)
async def device_client(machine_id: str, fleet: FleetDep, caller: Caller) -> object:
    """The machine's device client (made on first use, under the root client); its key needs
    update_robot."""
    return await caller(fleet.telemetry.clients.device_client, machine_id)


# --- dataports -----------------------------------------------------------------------------------


@router.get("/machines/{machine_id}/dataports", response_model=m.Page[m.Dataport], tags=["dataports"])
async def list_dataports(machine_id: str, fleet: FleetDep, caller: Caller, paging: PagingDep) -> object:
    """The machine's dataports (those of its device client, made through any API): aliased ones by
    alias, then the others by RID. Needs read_robot."""
    return await caller(fleet.dataports.list, machine_id, paging)


@router.post(
    "/machines/{machine_id}/dataports", response_model=m.Dataport, status_code=201, tags=["dataports"]
)
async def create_dataport(machine_id: str, body: s.DataportIn, fleet: FleetDep, caller: Caller) -> object:
    """A new dataport under an alias unique to the machine (409 when taken). Needs update_robot."""
    return await caller(
        fleet.dataports.create,
        machine_id,
        body.alias,
        body.format,
        name=body.name,
        retention_count=body.retention_count,
        retention_seconds=body.retention_seconds,
    )


@router.get(DATAPORT, response_model=m.Dataport, tags=["dataports"])
async def get_dataport(machine_id: str, alias: AliasPath, fleet: FleetDep, caller: Caller) -> object:
    """The dataport with its point count and newest point. Needs read_robot."""
    return await caller(fleet.dataports.get, machine_id, alias)


@router.patch(DATAPORT, response_model=m.Dataport, tags=["dataports"])
async def update_dataport(
    machine_id: str, alias: AliasPath, body: s.DataportPatch, fleet: FleetDep, caller: Caller
) -> object:
    """Renames the dataport or changes its retention (null: no limit); a smaller retention deletes
    the points beyond it at once. Needs update_robot."""
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    return await caller(fleet.dataports.update, machine_id, alias, **changes)


@router.delete(DATAPORT, status_code=204, response_model=None, tags=["dataports"])
async def delete_dataport(machine_id: str, alias: AliasPath, fleet: FleetDep, caller: Caller) -> None:
    """Deletes the dataport with its points. Needs update_robot."""
    await caller(fleet.dataports.delete, machine_id, alias)


_POINT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["value"],
    "additionalProperties": False,
    "properties": {
        "timestamp": {
            "type": ["integer", "null"],
            "description": "Unix seconds; left out or null: now; negative: that many seconds ago",
        },
        "value": {
            "anyOf": [{"type": "number"}, {"type": "string"}],
            "description": "Of the dataport's format (numbers as strings are taken too)",
        },
    },
}
_POINTS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["points"],
                    "additionalProperties": False,
                    "properties": {
                        "points": {"type": "array", "maxItems": dp.MAX_POINTS, "items": _POINT_SCHEMA}
                    },
                }
            }
        },
    }
}


@router.post(
    DATAPORT + "/points", response_model=m.PointsWritten, openapi_extra=_POINTS_BODY, tags=["dataports"]
)
async def write_points(
    machine_id: str, alias: AliasPath, request: Request, fleet: FleetDep, caller: Caller
) -> object:
    """Stores a batch of points (at most 10,000; the body at most ``points_max_batch_bytes``) in
    one transaction. A malformed point refuses the batch (422); points whose value does not fit
    the format or whose timestamp is out of range are left out and listed in ``failures``, the
    others stored. Needs update_robot."""
    # a batch is checked by hand, not point by point through a model: it is the hot path
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return Response(
            error_body("malformed_body", "request body is not valid JSON"),
            status_code=400,
            media_type="application/json",
        )
    if not isinstance(body, dict) or set(body) != {"points"} or not isinstance(body["points"], list):
        raise Invalid('the body is {"points": [{"timestamp": <Unix seconds>, "value": ...}, ...]}')
    return await caller(fleet.dataports.write, machine_id, alias, body["points"])


@router.get(DATAPORT + "/points", response_model=list[m.Point], tags=["dataports"])
async def read_points(
    machine_id: str,
    alias: AliasPath,
    fleet: FleetDep,
    caller: Caller,
    start: int = Query(0, ge=0, description="Unix seconds: points at or after"),
    end: int | None = Query(None, ge=0, description="Unix seconds: points at or before (default: now)"),
    limit: int = Query(100, ge=1, le=dp.MAX_READ, description="Points at most"),
    order: Literal["desc", "asc"] = Query("desc", description="desc: newest first; asc: oldest first"),
    selection: Literal["all", "givenwindow", "autowindow"] = Query(
        "all",
        description="all: every point (up to limit); givenwindow: the newest point of each of limit "
        "equal slices of the window; autowindow: limit points spread evenly over the window",
    ),
) -> object:
    """The dataport's points in a time window. Needs read_robot."""
    return await caller(
        fleet.dataports.read,
        machine_id,
        alias,
        start=start,
        end=end,
        limit=limit,
        order=order,
        selection=selection,
    )
