"""The rerobots wire: bearer tokens, JSON bodies whatever their content type, paging by
``page``/``max_per_page``, error bodies in the shapes the ``rerobots`` client maps to its
exceptions, and the JSON forms of deployments, rules, instances and reservations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fleetport.core import errors
from fleetport.core.calls import Call
from fleetport.core.credentials import BearerToken
from fleetport.core.fleet import Fleet
from fleetport.core.pages import INT_BOUND, PageRequest
from fleetport.core.remote.model import AccessRule, AddonStatus, Deployment, Instance, Reservation
from fleetport.edge import json_bytes

JSON = "application/json"
WRONG_TOKEN = "wrong authorization token"
INSTANCE_BUSY = "This instance is busy."
ONE_PAGE = 1000  # items of the one page max_per_page=0 (or none) asks for: a core listing's most

STATUS: list[tuple[type[errors.CoreError], int]] = [
    (errors.Unauthenticated, 400),
    (errors.Busy, 503),
    (errors.Unavailable, 503),
    (errors.MalformedId, 404),
    (errors.NotFound, 404),
    (errors.PermissionDenied, 403),
    (errors.Invalid, 400),
    (errors.TooLarge, 413),
    (errors.Conflict, 409),
    (errors.FailedPrecondition, 409),
]


class WireError(Exception):
    """A request the dialect refuses before any core call (a malformed body or parameter)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def answer(value: Any, status: int = 200) -> Response:
    return Response(json_bytes(value), status_code=status, media_type=JSON)


def error(status: int, message: str) -> Response:
    """Both keys the client reads: ``error_message`` (most calls) and ``result_message`` (new
    instances and termination)."""
    return answer({"error_message": message, "result_message": message}, status)


def refusal(exc: errors.CoreError) -> Response:
    if isinstance(exc, errors.Unauthenticated):
        return error(400, WRONG_TOKEN)
    status = next((s for kind, s in STATUS if isinstance(exc, kind)), 400)
    return error(status, exc.message)


Handler = Callable[[Request, Call], Awaitable[Response]]


def endpoint(fleet: Fleet, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A route: the caller's bearer token (none: 400 wrong authorization token), the handler's one
    core call, and core errors in the rerobots shape."""

    async def route(request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return error(400, WRONG_TOKEN)
        try:
            return await handler(request, Call(fleet, BearerToken(token.strip())))
        except errors.CoreError as exc:
            return refusal(exc)
        except WireError as exc:
            return error(exc.status, exc.message)

    return route


async def body(request: Request) -> dict[str, Any]:
    """The body as a JSON object, whatever the Content-Type (``/new`` and ``/firewall`` send
    none); an empty body is an empty object."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise WireError(400, "the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise WireError(400, "the request body must be a JSON object")
    return value


def whole(request: Request, name: str, *, low: int = 0) -> int | None:
    """A whole-number query parameter, None when absent."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18 or int(raw) < low:
        raise WireError(400, f"{name} must be a whole number from {low}, got {raw[:40]!r}")
    return int(raw)


def paging(request: Request) -> tuple[PageRequest, int]:
    """``max_per_page`` (0 or none: one page of everything) and ``page`` (from 1) as a page
    request by position, with the page size."""
    per_page = whole(request, "max_per_page") or ONE_PAGE
    page = whole(request, "page", low=1) or 1
    offset = (page - 1) * per_page
    if offset >= INT_BOUND:
        raise WireError(400, "page is past any listing")
    return PageRequest(per_page, offset=offset), per_page


def page_count(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


def moment(value: datetime | None) -> str | None:
    """A time as the rerobots API writes it: ``2019-06-25 07:21:48.223695`` (UTC)."""
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def deployment(d: Deployment) -> dict[str, Any]:
    return {
        "id": d.id,
        "type": d.type,
        "type_version": 1,
        "supported_addons": d.addons,
        "addons_config": d.addons_config,
        "desc": "",
        "region": d.region,
        "icounter": d.instance_count,
        "created": moment(d.created_at),
        "queuelen": d.queuelen,
        "lockout": d.locked_out,
    }


def rule(r: AccessRule) -> dict[str, Any]:
    return {
        "id": r.id,
        "date_created": moment(r.created_at),
        "user": r.user_email or "*",
        "wdeployment_id": r.deployment_id,
        "capability": r.capability,
        "param": 0,
    }


def instance(i: Instance) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": i.id,
        "deployment": i.deployment_id,
        "type": i.type,
        "region": i.region,
        "starttime": moment(i.started_at),
        "status": i.status,
        "expire_d": i.expire_seconds,
        "rootuser": "root",
    }
    if i.status == "READY" and i.port is not None:
        shown["fwd"] = {"ipv4": i.host, "port": i.port}
        shown["hostkeys"] = [i.hostkey] if i.hostkey else []
    if i.terminated_at is not None:
        shown["endtime"] = moment(i.terminated_at)
    if i.failure:
        shown["failure"] = i.failure
    return shown


def addon(a: AddonStatus) -> dict[str, Any]:
    """An add-on's status: mistyproxy adds its ``url`` pair (http, https) once active, vnc the
    ``fwd`` address of its port and whether it listens (``started``)."""
    shown: dict[str, Any] = {"status": a.status}
    host = f"[{a.host}]" if ":" in a.host else a.host
    if a.addon == "mistyproxy" and a.ports:
        shown["url"] = [f"http://{host}:{a.ports['http']}", f"https://{host}:{a.ports['https']}"]
    elif a.addon == "vnc" and a.ports:
        shown["fwd"] = {"ipv4": a.host, "port": a.ports["vnc"]}
        shown["started"] = a.listening
    return shown


def reservation(r: Reservation) -> dict[str, Any]:
    return {
        "id": r.id,
        "deployment": r.deployment_id,
        "created": moment(r.created_at),
        "desc": f"type {r.type}",
    }
