"""The One Platform HTTP routes."""

from __future__ import annotations

import asyncio
import contextlib
import re

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from fleetport.api.edge import BodyLimit, FaultShape, fault_message, json_bytes
from fleetport.core.fleet import Fleet
from fleetport.dialects.onep import provision, rpc
from fleetport.settings import Settings

router = APIRouter(tags=["onep"])
JSON = "application/json; charset=utf-8"
DISCONNECT_CHECK_SECONDS = 5.0  # how often a waiting request checks that its caller is still there


@router.post("/onep:v1/rpc/process", include_in_schema=False)
async def process(request: Request) -> Response:
    """One JSON-RPC envelope. The answer is always JSON with status 200: pyonep reads only the body."""
    fleet: Fleet = request.app.state.fleet
    body = await request.body()
    if b"wait" not in body:
        answer = await rpc.process_async(fleet, body)
    else:  # a long poll: given up when the caller goes away, so that it holds nothing for minutes
        work = asyncio.ensure_future(rpc.process_async(fleet, body))
        while not work.done():
            await asyncio.wait({work}, timeout=DISCONNECT_CHECK_SECONDS)
            if not work.done() and await request.is_disconnected():
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await work
                return Response(status_code=499)
        answer = work.result()
    return Response(json_bytes(answer), media_type=JSON)


def body_limits(settings: Settings) -> list[BodyLimit]:
    """An RPC body has a limit of its own, refused with a request-level error pyonep understands."""
    limit = settings.onep_max_body_bytes
    error = rpc.request_error(413, f"the request body is larger than the limit of {limit} bytes", "calls")
    return [
        BodyLimit(
            "POST",
            re.compile(r"^/onep:v1/rpc/process$"),
            limit,
            (JSON.encode(), orjson.dumps(error)),
        )
    ]


def fault_shapes() -> list[FaultShape]:
    """An RPC request that fails unexpectedly is answered with a request-level error, and a
    provisioning request with text, like their other errors."""

    def rpc_fault(rid: str) -> tuple[bytes, bytes]:
        return JSON.encode(), orjson.dumps(rpc.request_error(500, fault_message(rid), "calls"))

    def provision_fault(rid: str) -> tuple[bytes, bytes]:
        return provision.TEXT.encode(), fault_message(rid).encode()

    return [
        FaultShape(re.compile(r"^/onep:v1/rpc/"), rpc_fault),
        FaultShape(re.compile(r"^/provision/"), provision_fault),
    ]


def install(app: FastAPI) -> None:
    """Adds the routes to the app itself, like the native API."""
    app.router.routes.extend(router.routes)
    app.router.routes.extend(provision.router.routes)
