"""How the Viam servicer answers: the caller by its bearer token, core errors as gRPC statuses."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from grpclib.const import Status
from grpclib.exceptions import GRPCError
from grpclib.server import Stream

from fleetport.core import errors
from fleetport.core.calls import Call
from fleetport.core.credentials import BearerToken
from fleetport.core.fleet import Fleet

log = logging.getLogger("fleetport.viam")

STATUS: list[tuple[type[errors.CoreError], Status]] = [
    (errors.MalformedId, Status.INVALID_ARGUMENT),
    (errors.NotFound, Status.NOT_FOUND),
    (errors.Invalid, Status.INVALID_ARGUMENT),
    (errors.TooLarge, Status.INVALID_ARGUMENT),
    (errors.Unauthenticated, Status.UNAUTHENTICATED),
    (errors.PermissionDenied, Status.PERMISSION_DENIED),
    (errors.Conflict, Status.ALREADY_EXISTS),
    (errors.FailedPrecondition, Status.FAILED_PRECONDITION),
]


MESSAGE_MAX = 1000  # characters of an error message: it travels in a header (grpc-message)


class Area:
    """One area of ``viam.app.v1.AppService``; the servicer is composed of them all."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet


A = TypeVar("A", bound=Area)


def grpc_error(exc: errors.CoreError) -> GRPCError:
    """The status for a core error. Its message is cut short: one that quotes a long value back
    would exceed the limit a client sets on headers, which drops the whole connection."""
    status = next((s for kind, s in STATUS if isinstance(exc, kind)), Status.UNKNOWN)
    message = exc.message
    if len(message) > MESSAGE_MAX:
        message = f"{message[: MESSAGE_MAX - 20]}... ({len(message)} characters)"
    return GRPCError(status, message)


def request_time(req: Any, field: str) -> datetime | None:
    """A request's time field (None when unset); one a datetime cannot hold is refused."""
    if not req.HasField(field):
        return None
    try:
        return getattr(req, field).ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]
    except (ValueError, OverflowError) as exc:
        raise errors.Invalid(f"{field} is not a valid time: {exc}") from None


def bearer(stream: Stream[Any, Any]) -> BearerToken:
    metadata: Any = stream.metadata or {}
    header = metadata.get("authorization", "")
    scheme, _, token = str(header).partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.Unauthenticated(
            "missing or malformed 'authorization: Bearer <token>' metadata;"
            " authenticate with an API key first"
        )
    return BearerToken(token.strip())


def unary(
    handler: Callable[[A, Call, Any], Awaitable[Any]],
) -> Callable[[A, Stream[Any, Any]], Coroutine[Any, Any, None]]:
    """One request, one response; the request's caller authenticated by its bearer token."""

    @functools.wraps(handler)
    async def rpc(self: A, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        async with errors_as_status():
            call = Call(self.fleet, bearer(stream))
            response = await handler(self, call, request)
        await stream.send_message(response)

    return rpc


class errors_as_status:
    """Core errors become gRPC statuses; anything else is logged and answered INTERNAL."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, _tb: Any) -> bool:
        if exc is None or isinstance(exc, GRPCError):
            return False
        if isinstance(exc, errors.CoreError):
            raise grpc_error(exc) from None
        if isinstance(exc, Exception):
            rid = uuid.uuid4().hex
            log.exception("unexpected error in a Viam RPC (error id %s)", rid)
            raise GRPCError(
                Status.INTERNAL, f"internal error; the server log has the details under {rid}"
            ) from None
        return False


def required(value: str, what: str) -> str:
    if not value:
        raise errors.Invalid(f"{what} is required")
    return value
