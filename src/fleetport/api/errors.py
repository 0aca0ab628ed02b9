"""One error shape for the native API: ``{"error": {"code", "message"}}`` with the right status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp, ExceptionHandler

from fleetport.core import errors as core
from fleetport.edge import error_body

STATUS = {
    core.Invalid: 422,
    core.Unauthenticated: 401,
    core.PermissionDenied: 403,
    core.NotFound: 404,
    core.Conflict: 409,
    core.FailedPrecondition: 409,
    core.TooLarge: 413,
    core.Unavailable: 503,
}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_argument",
    503: "unavailable",
}


def _json(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None, **extra: object
) -> Response:
    return Response(
        error_body(code, message, **extra), status_code=status, media_type="application/json", headers=headers
    )


async def on_core_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, core.CoreError)
    status = next((s for kind, s in STATUS.items() if isinstance(exc, kind)), 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return _json(status, exc.code, exc.message, headers)


async def on_invalid_request(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = exc.errors()
    if any(p.get("type") == "json_invalid" for p in problems):
        return _json(400, "malformed_body", "request body is not valid JSON")
    details = [
        {"location": ".".join(str(part) for part in p.get("loc", ())), "problem": p.get("msg", "")}
        for p in problems
    ]
    summary = "; ".join(f"{d['location']}: {d['problem']}" for d in details[:5])
    return _json(422, "invalid_argument", summary or "request is invalid", details=details)


async def on_http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "error")
    return _json(exc.status_code, code, str(exc.detail), exc.headers)


# The native API's handlers, by the exception they answer. Unexpected errors are answered by the
# edge middleware (fleetport.edge), which knows the request.
HANDLERS: dict[Any, ExceptionHandler] = {
    core.CoreError: on_core_error,
    RequestValidationError: on_invalid_request,
    HTTPException: on_http_error,
}


def native_errors(app: ASGIApp) -> ASGIApp:
    """``app`` with every error it raises answered in the native API's shape."""
    return ExceptionMiddleware(app, handlers=HANDLERS)
