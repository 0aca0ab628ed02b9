"""Part logs: pages of them and live tails."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.server import Stream
from viam.proto import app as pb
from viam.proto.common import LogEntry as LogEntryProto

from fleetport.bus import SubscriberTooSlow
from fleetport.core import errors
from fleetport.core.calls import Call
from fleetport.core.fleet import Fleet
from fleetport.core.logs import ERROR_LEVELS, LISTING, LogEntry, open_tail
from fleetport.core.pages import PageRequest
from fleetport.dialects.viam import convert as cv
from fleetport.dialects.viam.rpc import (
    Area,
    bearer,
    errors_as_status,
    grpc_error,
    request_time,
    required,
    unary,
)

LOG_PAGE = 100  # entries per GetRobotPartLogs page unless the request sets a limit
LOG_PROTO_CACHE = 20_000  # recent entries kept converted for the tails


class LogRpcs(Area):
    def __init__(self, fleet: Fleet) -> None:
        super().__init__(fleet)
        # Every tail of a part receives the same new entries: each is converted once, not once per tail.
        self._log_protos: OrderedDict[int, LogEntryProto] = OrderedDict()

    def _log_proto(self, entry: LogEntry) -> LogEntryProto:
        proto = self._log_protos.get(entry.id)
        if proto is None:
            proto = self._log_protos[entry.id] = cv.log_entry(entry)
            if len(self._log_protos) > LOG_PROTO_CACHE:
                self._log_protos.popitem(last=False)
        return proto

    @unary
    async def GetRobotPartLogs(
        self, call: Call, req: pb.GetRobotPartLogsRequest
    ) -> pb.GetRobotPartLogsResponse:
        if req.range:
            raise errors.Invalid("range is not supported: give start and end instead")
        order = "asc" if req.order == pb.LogOrder.LOG_ORDER_ASCENDING else "desc"
        limit = min(req.limit, LISTING.maximum) if req.limit > 0 else LOG_PAGE  # Viam caps, not refuses
        page = await call(
            self.fleet.logs.query,
            required(req.id, "id"),
            PageRequest(limit, req.page_token),
            filter=req.filter,
            levels=[level for level in req.levels if level]
            or (list(ERROR_LEVELS) if req.errors_only else None),
            start=request_time(req, "start"),
            end=request_time(req, "end"),
            order=order,
        )
        return pb.GetRobotPartLogsResponse(
            logs=[cv.log_entry(e) for e in page.items], next_page_token=page.next_cursor or ""
        )

    async def TailRobotPartLogs(self, stream: Stream[Any, Any]) -> None:
        """Batches of new entries as they are written; never an empty batch (it would end the
        client's iteration). The stream lasts until the client closes it."""
        request = await stream.recv_message()
        assert request is not None
        async with errors_as_status():
            call = Call(self.fleet, bearer(stream))
            tail = await open_tail(
                call, required(request.id, "id"), errors_only=request.errors_only, filter=request.filter
            )
        try:
            async for batch in tail:
                await stream.send_message(
                    pb.TailRobotPartLogsResponse(logs=[self._log_proto(e) for e in batch])
                )
        except SubscriberTooSlow:
            raise GRPCError(
                Status.RESOURCE_EXHAUSTED,
                "this tail fell too far behind the log and was closed; open a new one",
            ) from None
        except errors.CoreError as exc:  # the caller may no longer read the log
            raise grpc_error(exc) from None
        finally:
            tail.close()
