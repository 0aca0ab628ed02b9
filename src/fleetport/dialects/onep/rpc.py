"""The One Platform JSON-RPC envelope: parse the request, call core telemetry, render the replies.

A request is ``{"auth": {...}, "calls": [{"id", "procedure", "arguments"}, ...]}``; the answer is
an array with ``{"id", "status", "result"?}`` per call, in call order, or a request-level
``{"error": {"code", "message", "context"}}`` when the body or the auth is unusable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from fleetport.core.errors import (
    Conflict,
    CoreError,
    Invalid,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from fleetport.core.permissions import Principal
from fleetport.core.telemetry import (
    Alias,
    NewResource,
    Ref,
    ResourceChanges,
    ResourceInfo,
    Telemetry,
)

MAX_CALLS = 1000  # calls in one envelope
HOUR = 3600
INFO_OPTIONS = (
    "aliases",
    "basic",
    "counts",
    "description",
    "key",
    "shares",
    "storage",
    "subscribers",
    "tagged",
    "tags",
)
COUNT_KEYS = ("client", "dataport", "datarule", "disk", "dispatch", "email", "http", "share", "sms", "xmpp")


class BadArguments(Exception):
    """Arguments of the wrong shape: status ``invalid``."""


class Unsupported(Exception):
    """A procedure or form this server does not offer: status ``fail`` with error 501."""


class ErrorStatus(Exception):
    """A status other than the usual ones, with a result (``listing``'s ``error``)."""

    def __init__(self, status: str, result: Any) -> None:
        super().__init__(status)
        self.status = status
        self.result = result


def request_error(code: int, message: str, context: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "context": context}}


def process(telemetry: Telemetry, body: bytes) -> Any:
    """The JSON value to answer a request body with."""
    try:
        envelope = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return request_error(-1, f"the body is not JSON: {exc}", "calls")
    if not isinstance(envelope, dict):
        return request_error(400, "the body must be an object with auth and calls", "calls")
    auth, calls = envelope.get("auth"), envelope.get("calls")
    if not isinstance(auth, dict):
        return request_error(400, 'auth must be an object such as {"cik": "<40 hex>"}', "auth")
    if not isinstance(calls, list):
        return request_error(400, "calls must be a list of {id, procedure, arguments}", "calls")
    if len(calls) > MAX_CALLS:
        return request_error(400, f"one request carries at most {MAX_CALLS} calls", "calls")
    try:
        p = _authenticate(telemetry, auth)
    except (Unauthenticated, BadArguments):
        return request_error(401, "Invalid", "auth")
    replies: list[dict[str, Any]] = []
    for call in calls:
        reply = _call(telemetry, p, call)
        if reply is not None:
            replies.append(reply)
    return replies


def _authenticate(telemetry: Telemetry, auth: Mapping[str, Any]) -> Principal:
    cik = auth.get("cik")
    if not isinstance(cik, str):
        raise BadArguments("auth needs a cik")  # tokens (grant) are not offered yet
    client_id, resource_id = auth.get("client_id"), auth.get("resource_id")
    for value in (client_id, resource_id):
        if value is not None and not isinstance(value, str):
            raise BadArguments("client_id and resource_id are RIDs")
    if client_id is not None and resource_id is not None:
        raise BadArguments("auth takes client_id or resource_id, not both")
    return telemetry.authenticate(cik, client_id=client_id, resource_id=resource_id)


def _call(telemetry: Telemetry, p: Principal, call: object) -> dict[str, Any] | None:
    if not isinstance(call, dict):
        return None  # no id to answer with
    id_ = call.get("id")
    answered = (isinstance(id_, int) and not isinstance(id_, bool)) or (
        isinstance(id_, str) and len(id_) <= 40
    )
    procedure, arguments = call.get("procedure"), call.get("arguments", [])
    reply: dict[str, Any] = {"id": id_}
    if not isinstance(procedure, str) or not isinstance(arguments, list):
        reply.update(status="fail", error={"code": 400, "message": "malformed call", "context": "calls"})
        return reply if answered else None
    handler = PROCEDURES.get(procedure)
    try:
        if handler is None:
            raise Unsupported(f"procedure {procedure!r} is not supported")
        result = handler(telemetry, p, arguments)
    except Unsupported as exc:
        reply.update(status="fail", error={"code": 501, "message": str(exc), "context": "procedure"})
    except ErrorStatus as exc:
        reply.update(status=exc.status, result=exc.result)
    except BadArguments:
        reply["status"] = "invalid"
    except CoreError as exc:
        reply["status"] = _status(exc)
    else:
        if isinstance(result, _Status):
            reply["status"] = result.value
        else:
            reply["status"] = "ok"
            if result is not None:
                reply["result"] = result
    return reply if answered else None


class _Status:
    """A handler's answer that is a status of its own (recordbatch's list of failures)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _status(exc: CoreError) -> str:
    if isinstance(exc, PermissionDenied):
        return "restricted"
    if isinstance(exc, Unauthenticated):
        return "noauth"
    if isinstance(exc, Invalid | NotFound | Conflict):
        return "invalid"
    return "invalid"


# --- argument parsing --------------------------------------------------------------------------


def _ref(value: object) -> Ref:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"alias"} and isinstance(value["alias"], str):
        return Alias(value["alias"])
    raise BadArguments('a resource is a RID or {"alias": name}')


def _args(arguments: list[Any], *counts: int) -> None:
    if len(arguments) not in counts:
        raise BadArguments(f"expected {' or '.join(map(str, counts))} arguments")


def _options(value: object) -> dict[str, Any]:
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise BadArguments("options are an object")
    return value


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadArguments(f"{what} must be an integer")
    return value


def _retention(desc: Mapping[str, Any]) -> tuple[int | None, int | None, bool, bool]:
    """count, seconds, and whether each is "infinity"."""
    retention = desc.get("retention")
    if not isinstance(retention, dict):
        raise BadArguments("retention is {count, duration}")
    count, duration = retention.get("count", "infinity"), retention.get("duration", "infinity")
    count_inf, duration_inf = count == "infinity", duration == "infinity"
    seconds: int | None = None
    if not duration_inf:
        if isinstance(duration, bool) or not isinstance(duration, int | float) or duration < 0:
            raise BadArguments('retention duration is a number of hours or "infinity"')
        seconds = int(duration * HOUR)
    return (None if count_inf else _int(count, "retention count")), seconds, count_inf, duration_inf


def _common(desc: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, kind in (("name", str), ("meta", str), ("public", bool)):
        if key in desc:
            if not isinstance(desc[key], kind):
                raise BadArguments(f"{key} has the wrong type")
            out[key] = desc[key]
    return out


# --- procedures ----------------------------------------------------------------------------------


def create(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    if len(arguments) == 3 and arguments[1] == "client":
        if telemetry.lookup_alias(p, "", under=_ref(arguments[0])) != p.client_rid:
            raise Unsupported("creating a client under another client is not supported yet")
        arguments = arguments[1:]
    _args(arguments, 2)
    kind, desc = arguments
    if kind in ("datarule", "dispatch", "clone"):
        raise Unsupported(f"creating a {kind} is not supported")
    if kind not in ("client", "dataport") or not isinstance(desc, dict):
        raise BadArguments("create takes a type and a description")
    common = _common(desc)
    if kind == "client":
        return telemetry.create(p, NewResource(type="client", description=desc, **common))
    if "format" not in desc:
        raise BadArguments("a dataport needs a format")
    count, seconds, _, _ = _retention(desc)
    spec = NewResource(
        type="dataport",
        format=desc["format"],
        retention_count=count,
        retention_seconds=seconds,
        description=desc,
        **common,
    )
    return telemetry.create(p, spec)


def _description(info: ResourceInfo) -> dict[str, Any]:
    r = info.resource
    out: dict[str, Any] = {**r.description, "name": r.name, "meta": r.meta, "public": r.public}
    if r.type == "client":
        out.setdefault("limits", {})
        out.setdefault("locked", False)
    else:
        out["format"] = r.format
        out["retention"] = {
            "count": "infinity" if r.retention_count is None else r.retention_count,
            "duration": "infinity" if r.retention_seconds is None else r.retention_seconds // HOUR,
        }
        out.setdefault("preprocess", [])
        out.setdefault("subscribe", None)
    return out


def info(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 1, 2)
    options = _options(arguments[1] if len(arguments) == 2 else {})
    for key, value in options.items():
        if key not in (*INFO_OPTIONS, "usage", "comments") or not isinstance(value, bool):
            raise BadArguments(f"unknown info option {key}")
    wanted = [k for k in INFO_OPTIONS if options.get(k)] if options else list(INFO_OPTIONS)
    found = telemetry.info(p, _ref(arguments[0]))
    r = found.resource
    out: dict[str, Any] = {}
    for key in wanted:
        if key == "basic":
            basic: dict[str, Any] = {"type": r.type, "modified": r.modified_at, "subscribers": 0}
            if r.type == "client":
                basic["status"] = "activated"
            out[key] = basic
        elif key == "description":
            out[key] = _description(found)
        elif key == "key":
            if found.key is not None:
                out[key] = found.key
            elif options:
                raise PermissionDenied("only the direct owner of a client reads its key")
        elif key == "aliases":
            out[key] = found.aliases if found.aliases is not None else "undefined"
        elif key == "counts":
            out[key] = {name: found.counts.get(name, 0) for name in COUNT_KEYS}
        elif key == "storage":
            if found.storage is not None:
                s = found.storage
                out[key] = {"count": s.count, "first": s.first or 0, "last": s.last or 0}
        elif key == "tags":
            out[key] = r.tags
        else:  # shares, subscribers, tagged: nothing of these exists here yet
            out[key] = []
    return out


def listing(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    deprecated_list = False
    if len(arguments) == 3:
        ref, types, options = _ref(arguments[0]), arguments[1], _options(arguments[2])
    elif len(arguments) == 2 and isinstance(arguments[0], list):
        ref, types, options = Alias(""), arguments[0], _options(arguments[1])
    elif len(arguments) == 1:
        ref, types, options, deprecated_list = Alias(""), arguments[0], {}, True
    else:
        raise BadArguments("listing takes [resource, types, options]")
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        raise BadArguments("types are a list of strings")
    tagged = options.get("tagged", [])
    if not isinstance(tagged, list):
        raise BadArguments("tagged is a list of tags")
    try:
        found = telemetry.listing(
            p,
            ref,
            types,
            owned=bool(options.get("owned")),
            public=bool(options.get("public")),
            aliased=bool(options.get("aliased")),
            activated=bool(options.get("activated")),
            tagged=tagged,
        )
    except Invalid as exc:
        if "not a resource type" in exc.message:
            raise ErrorStatus("error", exc.message) from None
        raise
    if deprecated_list:
        return [found[t] for t in types]
    return found


def lookup(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    under: Ref | None = None
    if len(arguments) == 3:
        under, arguments = _ref(arguments[0]), arguments[1:]
    _args(arguments, 2)
    kind, value = arguments
    if kind == "alias":
        if not isinstance(value, str):
            raise BadArguments("an alias is a string")
        return telemetry.lookup_alias(p, value, under=under)
    if kind == "owner":
        return telemetry.lookup_owner(p, _ref(value))
    if kind == "shared":
        raise NotFound("no share has this code")
    raise BadArguments("lookup type is alias, owner or shared")


def map_(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 3)
    kind, ref, alias = arguments
    if kind != "alias" or not isinstance(alias, str):
        raise BadArguments('map takes ["alias", resource, alias]')
    telemetry.map_alias(p, _ref(ref), alias)
    return None


def unmap(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    under: Ref | None = None
    if len(arguments) == 3:
        under, arguments = _ref(arguments[0]), arguments[1:]
    _args(arguments, 2)
    kind, alias = arguments
    if kind != "alias" or not isinstance(alias, str):
        raise BadArguments('unmap takes ["alias", alias]')
    telemetry.unmap_alias(p, alias, under=under)
    return None


def read(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 1, 2)
    options = _options(arguments[1] if len(arguments) == 2 else {})
    selection = options.get("selection", "all")
    if selection in ("givenwindow", "autowindow"):
        raise Unsupported(f"selection {selection} is not supported yet: use all")
    if selection != "all":
        raise BadArguments("selection is all, givenwindow or autowindow")
    sort = options.get("sort", "desc")
    if sort not in ("asc", "desc"):
        raise BadArguments("sort is asc or desc")
    end = options.get("endtime")
    points = telemetry.read(
        p,
        _ref(arguments[0]),
        start=_int(options.get("starttime", 0), "starttime"),
        end=None if end is None else _int(end, "endtime"),
        descending=sort == "desc",
        limit=_int(options.get("limit", 1), "limit"),
    )
    return [[ts, value] for ts, value in points]


def write(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 2, 3)
    telemetry.write(p, _ref(arguments[0]), arguments[1])
    return None


def record(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 2, 3)
    if not isinstance(arguments[1], list):
        raise BadArguments("entries are a list of [timestamp, value]")
    telemetry.record(p, _ref(arguments[0]), arguments[1], all_or_none=True)
    return None


def recordbatch(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 2)
    if not isinstance(arguments[1], list):
        raise BadArguments("entries are a list of [timestamp, value]")
    failures = telemetry.record(p, _ref(arguments[0]), arguments[1])
    if failures:
        return _Status([[f.timestamp, f.reason] for f in failures])
    return None


def flush(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 1, 2)
    options = _options(arguments[1] if len(arguments) == 2 else {})
    newer, older = options.get("newerthan"), options.get("olderthan")
    telemetry.flush(
        p,
        _ref(arguments[0]),
        newer_than=None if newer is None else _int(newer, "newerthan"),
        older_than=None if older is None else _int(older, "olderthan"),
    )
    return None


def drop(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 1)
    telemetry.drop(p, _ref(arguments[0]))
    return None


def update(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 2)
    desc = arguments[1]
    if not isinstance(desc, dict):
        raise BadArguments("update takes a description object")
    changes = ResourceChanges(**_common(desc), description=desc)
    if "format" in desc:
        changes.format = desc["format"] if isinstance(desc["format"], str) else ""
    if "retention" in desc:
        count, seconds, count_inf, duration_inf = _retention(desc)
        changes.retention_count, changes.retention_seconds = count, seconds
        changes.unlimited_count, changes.unlimited_seconds = count_inf, duration_inf
    telemetry.update(p, _ref(arguments[0]), changes)
    return None


Handler = Callable[[Telemetry, Principal, list[Any]], Any]

PROCEDURES: dict[str, Handler] = {
    "create": create,
    "info": info,
    "listing": listing,
    "lookup": lookup,
    "map": map_,
    "unmap": unmap,
    "read": read,
    "write": write,
    "record": record,
    "recordbatch": recordbatch,
    "flush": flush,
    "drop": drop,
    "update": update,
}
