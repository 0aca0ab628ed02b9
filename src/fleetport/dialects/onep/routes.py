"""The One Platform HTTP routes."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from fleetport.core.fleet import Fleet
from fleetport.dialects.onep import rpc

router = APIRouter(tags=["onep"])


@router.post("/onep:v1/rpc/process", include_in_schema=False)
async def process(request: Request) -> Response:
    """One JSON-RPC envelope. The answer is always JSON with status 200: pyonep reads only the body."""
    fleet: Fleet = request.app.state.fleet
    body = await request.body()
    answer = await rpc.process_async(fleet, body)
    return Response(orjson.dumps(answer), media_type="application/json; charset=utf-8")


def install(app: FastAPI) -> None:
    """Adds the routes to the app itself, like the native API."""
    app.router.routes.extend(router.routes)
