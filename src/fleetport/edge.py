"""ASGI middleware at the edge of the HTTP server: request ids, access log, body size limit, and
the answer to a request that failed unexpectedly."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
access_log = logging.getLogger("fleetport.access")
log = logging.getLogger("fleetport.api")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def json_bytes(value: Any) -> bytes:
    """``value`` as JSON: with orjson, or with escapes for text orjson refuses to write (a lone
    surrogate that came in, escaped, with the request and is echoed back), so that an answer never
    fails to encode."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


def error_body(code: str, message: str, **extra: Any) -> bytes:
    """The native API's error answer; it names the request it answers (also in ``X-Request-ID``)."""
    return json_bytes({"error": {"code": code, "message": message, "request_id": request_id.get(), **extra}})


def fault_message(rid: str) -> str:
    return f"internal error; the server log has the details under request id {rid}"


# The body of a 500 answer (content type, body) for a path and request id, in the shape of the
# dialect that owns the path; the native API's shape where none is given.
FaultAnswer = Callable[[str, str], tuple[bytes, bytes]]


def native_fault(path: str, rid: str) -> tuple[bytes, bytes]:
    return b"application/json", error_body("internal", fault_message(rid))


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True)
class BodyLimit:
    """A body size limit of its own for the requests of one method whose path matches (file
    uploads), in place of the general one."""

    method: str
    path: re.Pattern[str]
    max_bytes: int
    # the 413 answer in the dialect of the route, when it is not the native API's error shape
    error: tuple[bytes, bytes] | None = None  # (content type, body)

    def applies(self, scope: Scope) -> bool:
        return bool(scope["method"] == self.method and self.path.match(scope["path"]))


@dataclass(frozen=True)
class FaultShape:
    """How the routes whose path matches answer a request that failed unexpectedly."""

    path: re.Pattern[str]
    answer: FaultAnswer


class EdgeMiddleware:
    """Gives every request an id (kept from ``X-Request-ID`` when the caller sends one), logs one
    access line per request, and refuses bodies over the configured limit with 413 before the
    application reads them whole. ``body_limits`` give some routes a limit of their own.

    A request that fails unexpectedly is logged with its traceback under its id and answered 500
    here, with the id in the ``X-Request-ID`` header and in the body (shaped by ``fault_shapes``
    for routes of a dialect). The connection stays usable; when the request's body was not read to
    its end, the answer says ``Connection: close`` and the server closes it after the answer."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        body_limits: Sequence[BodyLimit] = (),
        fault_shapes: Sequence[FaultShape] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_limits = tuple(body_limits)
        self.fault_shapes = tuple(fault_shapes)

    def fault_answer(self, scope: Scope) -> FaultAnswer:
        return next(
            (shape.answer for shape in self.fault_shapes if shape.path.match(scope["path"])), native_fault
        )

    def body_limit(self, scope: Scope) -> tuple[int, tuple[bytes, bytes] | None]:
        for rule in self.body_limits:
            if rule.applies(scope):
                return rule.max_bytes, rule.error
        return self.max_body_bytes, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _header(scope, b"x-request-id") or uuid.uuid4().hex
        rid = rid[:64]
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        response_started = False
        too_large = False
        body_read = False
        limit, error = self.body_limit(scope)

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if too_large:
                # the application gave up on the body it could not read (FastAPI answers 400);
                # the caller is told the real reason instead
                if message["type"] == "http.response.start" and not response_started:
                    response_started = True
                    status = 413
                    await _too_large(send, limit, rid, error)
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", _raw(rid))]
            await send(message)

        try:
            declared = _header(scope, b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                status = 413
                await _too_large(send, limit, rid, error)
                return
            received = 0

            async def counted_receive() -> Message:
                nonlocal received, too_large, body_read
                message = await receive()
                if message["type"] == "http.request":
                    body_read = not message.get("more_body", False)
                    received += len(message.get("body", b""))
                    if received > limit:
                        too_large = True
                        raise BodyTooLarge
                return message

            try:
                await self.app(scope, counted_receive, send_with_id)
            except BodyTooLarge:
                if not response_started:
                    status = 413
                    await _too_large(send, limit, rid, error)
            except Exception:
                log.exception("unexpected error (request %s)", rid)
                if response_started:
                    raise  # the answer is under way: the server can only close the connection
                status = 500
                response_started = True
                content_type, body = self.fault_answer(scope)(scope["path"], rid)
                empty = declared in (None, "0") and _header(scope, b"transfer-encoding") is None
                await _answer(send, 500, content_type, body, rid, close=not (body_read or empty))
        finally:
            access_log.info(
                "%s %s %d %.1fms",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
            )
            request_id.reset(token)


async def _too_large(send: Send, limit: int, rid: str, error: tuple[bytes, bytes] | None) -> None:
    content_type, body = error or (
        b"application/json",
        error_body(
            "payload_too_large", f"request body is larger than the limit of {limit} bytes", limit=limit
        ),
    )
    await _answer(send, 413, content_type, body, rid, close=True)


async def _answer(
    send: Send, status: int, content_type: bytes, body: bytes, rid: str, *, close: bool
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", _raw(rid)),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _raw(rid: str) -> bytes:
    """A request id as header bytes: the caller's own come back as they were sent."""
    return rid.encode("latin-1")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
