"""The rerobots dialect as the server mounts it under ``/rerobots``: every answer, errors, unknown
paths, wrong methods, oversized bodies and unexpected failures included, is JSON with an
``error_message`` (and a ``result_message``, which the client reads for new instances and
termination)."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Router
from starlette.types import ASGIApp

from fleetport.core.fleet import Fleet
from fleetport.dialect import HttpOnly, path_pattern
from fleetport.dialects.rerobots import routes, wire
from fleetport.edge import BodyLimit, fault_message, json_bytes
from fleetport.settings import Settings

PREFIX = routes.PREFIX
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def shaped(status: int, message: str) -> tuple[bytes, bytes]:
    return wire.JSON.encode(), json_bytes({"error_message": message, "result_message": message})


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.scope["path"]
    if exc.status_code == 404:
        message = f"no rerobots endpoint at {path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed at {path}; allowed: {(exc.headers or {}).get('Allow')}"
    else:
        message = str(exc.detail)
    response = wire.error(exc.status_code, message)
    response.headers.update(exc.headers or {})
    return response


class Rerobots(HttpOnly):
    name = "rerobots"
    paths: tuple[str, ...] = (PREFIX,)

    def enabled(self, settings: Settings) -> bool:
        return settings.rerobots.enabled

    def app(self, fleet: Fleet) -> ASGIApp:
        router = Router(routes.routes(fleet), redirect_slashes=False)
        return ExceptionMiddleware(router, handlers={HTTPException: on_http_error})

    def body_limits(self, settings: Settings) -> Sequence[BodyLimit]:
        limit = settings.rerobots.max_body_bytes
        refusal = shaped(413, f"the request body is larger than the limit of {limit} bytes")
        return [BodyLimit(method, path_pattern(PREFIX), limit, refusal) for method in WRITE_METHODS]

    def fault(self, path: str, request_id: str) -> tuple[bytes, bytes]:
        return shaped(500, fault_message(request_id))


dialect = Rerobots()
