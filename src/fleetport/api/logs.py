"""Part logs: append a batch, list with filters, tail live as Server-Sent Events."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Literal

import orjson
from fastapi import Query
from fastapi.responses import StreamingResponse

from fleetport.api import schemas as s
from fleetport.api.deps import Caller, FleetDep, PagingDep
from fleetport.api.routing import api_router
from fleetport.client import models as m
from fleetport.core.errors import CoreError
from fleetport.core.fleet import Fleet
from fleetport.core.logs import FILTER_MAX, LogTail, NewLogEntry, open_tail
from fleetport.edge import BodyLimit, error_body
from fleetport.settings import Settings

router = api_router()

KEEPALIVE_SECONDS = 15.0
FILTER_DESCRIPTION = "Case-insensitive text in the message or the logger name"


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


def body_limits(settings: Settings) -> list[BodyLimit]:
    """A batch of log entries may be as large as ``log_max_batch_bytes``."""
    return [BodyLimit("POST", re.compile(r"^/api/v1/parts/[^/]+/logs$"), settings.log_max_batch_bytes)]


@router.post("/parts/{part_id}/logs", response_model=m.LogsAppended, tags=["logs"])
async def append_logs(part_id: str, body: s.LogsIn, fleet: FleetDep, caller: Caller) -> object:
    """Appends a batch of entries, all or none. Allowed to the part itself (a part secret) and to
    owners (write_robot_logs); live tails receive the batch at once."""
    entries = [
        NewLogEntry(
            time=e.time,
            level=e.level,
            message=e.message,
            logger_name=e.logger_name,
            host=e.host,
            caller=e.caller,
            stack=e.stack,
            fields=e.fields,
        )
        for e in body.entries
    ]
    return {"count": await caller(fleet.logs.append, part_id, entries)}


@router.get("/parts/{part_id}/logs", response_model=m.Page[m.LogEntry], tags=["logs"])
async def list_logs(
    part_id: str,
    fleet: FleetDep,
    caller: Caller,
    paging: PagingDep,
    text: str = Query("", alias="filter", max_length=FILTER_MAX, description=FILTER_DESCRIPTION),
    levels: list[str] | None = Query(None, max_length=20, description="Any of these levels (repeatable)"),
    start: datetime | None = Query(None, description="Entries logged at or after this time"),
    end: datetime | None = Query(None, description="Entries logged before this time"),
    order: Literal["desc", "asc"] = Query("desc", description="desc: newest first; asc: oldest first"),
) -> object:
    """A part's log entries by the time they were logged, newest first unless ``order=asc``."""
    return await caller(
        fleet.logs.query,
        part_id,
        paging,
        filter=text,
        levels=levels,
        start=start,
        end=end,
        order=order,
    )


@router.get(
    "/parts/{part_id}/logs/tail",
    response_class=EventStream,
    tags=["logs"],
    responses={
        200: {
            "description": "Server-Sent Events: each event's data is a JSON array of the log entries "
            "just appended (never empty); comment lines keep the connection alive. A reader too "
            "slow to keep up gets an `error` event and the stream ends.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def tail_logs(
    part_id: str,
    fleet: FleetDep,
    caller: Caller,
    errors_only: bool = Query(False, description="Only error, dpanic, panic and fatal entries"),
    text: str = Query("", alias="filter", max_length=FILTER_MAX, description=FILTER_DESCRIPTION),
) -> EventStream:
    """Entries appended to the part's log from now on, as they arrive, until you disconnect."""
    _attach_bus(fleet)
    tail = await open_tail(caller, part_id, errors_only=errors_only, filter=text)
    return EventStream(_events(tail), headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _attach_bus(fleet: Fleet) -> None:
    """The server attaches the bus when it starts; an app served otherwise (tests) attaches it to
    the loop its requests run on."""
    loop = asyncio.get_running_loop()
    if fleet.bus.loop is not loop:
        fleet.bus.attach(loop)


async def _events(tail: LogTail) -> AsyncIterator[bytes]:
    try:
        while True:
            try:
                async with asyncio.timeout(KEEPALIVE_SECONDS):
                    batch = await anext(tail)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            except StopAsyncIteration:  # the server is stopping
                return
            except CoreError as exc:  # too slow a reader, or one that may no longer read the log
                yield b"event: error\ndata: " + error_body(exc.code, exc.message) + b"\n\n"
                return
            yield b"data: " + orjson.dumps(batch, option=orjson.OPT_UTC_Z) + b"\n\n"
    finally:
        tail.close()
