"""The One Platform dialect as the server mounts it: the RPC API under ``/onep:v1`` answers in
JSON request-level errors (``{"error": {"code", "message", "context"}}``), the provisioning API
under ``/provision`` in one line of text; unknown paths, wrong methods, oversized bodies and
unexpected failures included."""

from __future__ import annotations

import re
from collections.abc import Sequence

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp

from fleetport.core.fleet import Fleet
from fleetport.dialect import HttpOnly, owns, path_pattern
from fleetport.dialects.onep import provision, routes, rpc
from fleetport.edge import BodyLimit, fault_message
from fleetport.settings import Settings

RPC_PREFIX = "/onep:v1"
PROVISION_PREFIX = "/provision"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def rpc_answer(status: int, message: str, context: str = "calls") -> tuple[bytes, bytes]:
    """(content type, body) of a request-level error of the RPC API."""
    return routes.JSON.encode(), orjson.dumps(rpc.request_error(status, message, context))


async def on_http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths (404) and wrong methods (405) in the shape of the API the path is under."""
    assert isinstance(exc, HTTPException)
    path = request.scope["path"]
    provisioning = owns(PROVISION_PREFIX, path)
    allowed = (exc.headers or {}).get("Allow")
    if exc.status_code == 404:
        message = f"no {'provisioning' if provisioning else 'One Platform'} endpoint at {path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed at {path}; allowed: {allowed}"
    else:
        message = str(exc.detail)
    if provisioning:
        return provision.error(exc.status_code, message, dict(exc.headers or {}))
    content_type, body = rpc_answer(exc.status_code, message, "path")
    return Response(body, status_code=exc.status_code, media_type=content_type.decode(), headers=exc.headers)


class OnePlatform(HttpOnly):
    name = "onep"
    paths: tuple[str, ...] = (RPC_PREFIX, PROVISION_PREFIX)

    def enabled(self, settings: Settings) -> bool:
        return settings.onep.enabled

    def app(self, fleet: Fleet) -> ASGIApp:
        router = APIRouter(redirect_slashes=False)
        router.routes.extend([*routes.router.routes, *provision.router.routes])
        return ExceptionMiddleware(router, handlers={HTTPException: on_http_error})

    def body_limits(self, settings: Settings) -> Sequence[BodyLimit]:
        """An RPC body has a limit of its own, refused with a request-level error pyonep
        understands; other requests under ``/onep:v1`` have the general limit, refused alike."""
        limit, general = settings.onep.max_body_bytes, settings.max_body_bytes
        too_large = "the request body is larger than the limit of {} bytes"
        general_refusal = rpc_answer(413, too_large.format(general))
        return [
            BodyLimit(
                "POST", re.compile(r"^/onep:v1/rpc/process$"), limit, rpc_answer(413, too_large.format(limit))
            ),
            *(
                BodyLimit(method, path_pattern(RPC_PREFIX), general, general_refusal)
                for method in WRITE_METHODS
            ),
            *provision.body_limits(settings),
        ]

    def fault(self, path: str, request_id: str) -> tuple[bytes, bytes]:
        if owns(PROVISION_PREFIX, path):
            return provision.TEXT.encode(), fault_message(request_id).encode()
        return rpc_answer(500, fault_message(request_id))


dialect = OnePlatform()
