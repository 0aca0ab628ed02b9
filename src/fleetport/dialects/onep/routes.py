"""The One Platform RPC route."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fleetport.core.fleet import Fleet
from fleetport.dialects.onep import rpc
from fleetport.edge import json_bytes

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
