"""The One Platform JSON-RPC envelope: parse the request, call core telemetry, render the replies.

A request is ``{"auth": {...}, "calls": [{"id", "procedure", "arguments"}, ...]}``; the answer is
an array with ``{"id", "status", "result"?}`` per call, in call order, or a request-level
``{"error": {"code", "message", "context"}}`` when the body or the auth is unusable.

Calls run one after the other; each has its own status, and a call that fails leaves the effects
of the calls before it in place. ``wait`` is a long poll: an envelope holding one is answered by
``process_async``, which awaits new points on the bus without holding a thread.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from fleetport.core import validate
from fleetport.core.calls import run_core
from fleetport.core.credentials import ClientCik, GrantToken
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
    Expired,
    NewResource,
    Ref,
    ResourceChanges,
    ResourceInfo,
    Telemetry,
    Unsupported,
)
from fleetport.core.telemetry.waits import wait_for_point

if TYPE_CHECKING:
    from fleetport.core.fleet import Fleet

log = logging.getLogger(__name__)

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


class ErrorStatus(Exception):
    """A status other than the usual ones, with a result (the ``error`` of ``listing`` and ``wait``)."""

    def __init__(self, status: str, result: Any) -> None:
        super().__init__(status)
        self.status = status
        self.result = result


def request_error(code: int, message: str, context: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "context": context}}


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _loads(body: bytes) -> Any:
    """Parses JSON with orjson, or with the standard library for what orjson refuses but JSON
    allows (integers beyond 64 bits, which per-call checks then refuse with ``invalid``)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            return json.loads(body, parse_constant=_not_json)
        except (UnicodeDecodeError, RecursionError) as exc:
            raise ValueError(str(exc)) from None


@dataclass
class Envelope:
    principal: Principal
    calls: list[Any]
    credential: ClientCik | GrantToken  # authenticated again when a wait hands over a point


def parse(fleet: Fleet, body: bytes) -> Envelope | dict[str, Any]:
    """The caller and the calls of a request, or the request-level error to answer."""
    try:
        envelope = _loads(body)
    except ValueError as exc:
        return request_error(-1, f"the body is not JSON: {exc}", "calls")
    if not isinstance(envelope, dict):
        return request_error(400, "the body must be an object with auth and calls", "calls")
    auth, calls = envelope.get("auth"), envelope.get("calls")
    if not isinstance(auth, dict):
        return request_error(400, 'auth must be an object such as {"cik": "<40 hex>"}', "auth")
    if not isinstance(calls, list):
        return request_error(400, "calls must be a list of {id, procedure, arguments}", "calls")
    if len(calls) > MAX_CALLS:
        return request_error(413, f"one request carries at most {MAX_CALLS} calls", "calls")
    for index, call in enumerate(calls):
        # a call without an id (or with a null one) runs unanswered; one whose id could not be
        # echoed must not run at all
        if isinstance(call, dict) and call.get("id") is not None and not _answered(call["id"]):
            return request_error(
                400,
                f"call {index}: an id is an integer of at most 64 bits or a string of up to 40 characters",
                "calls",
            )
    try:
        credential = _credential(auth)
        p = fleet.identity.authenticate(credential)
    except Expired:
        return request_error(401, "Expired", "auth")
    except (Unauthenticated, BadArguments):
        return request_error(401, "Invalid", "auth")
    return Envelope(p, calls, credential)


def process(fleet: Fleet, body: bytes) -> Any:
    """The JSON value to answer a request body with (``wait`` calls answer at once: use
    ``process_async`` to wait)."""
    parsed = parse(fleet, body)
    if not isinstance(parsed, Envelope):
        return parsed
    return _run_calls(fleet.telemetry, parsed.principal, parsed.calls)


def _start(fleet: Fleet, body: bytes) -> Any:
    """The whole answer, when the request needs no waiting; else its parsed envelope."""
    parsed = parse(fleet, body)
    if isinstance(parsed, Envelope) and not any(_is_wait(call) for call in parsed.calls):
        return _run_calls(fleet.telemetry, parsed.principal, parsed.calls)
    return parsed


def _run_calls(telemetry: Telemetry, p: Principal, calls: list[Any]) -> list[dict[str, Any]]:
    replies: list[dict[str, Any]] = []
    for call in calls:
        reply = _call(telemetry, p, call)
        if reply is not None:
            replies.append(reply)
    return replies


def _is_wait(call: object) -> bool:
    return isinstance(call, dict) and call.get("procedure") == "wait"


async def process_async(fleet: Fleet, body: bytes) -> Any:
    """``process``, with ``wait`` calls awaiting their point (or their timeout) on the bus."""
    telemetry = fleet.telemetry
    started = await run_core(fleet, lambda: _start(fleet, body))
    if not isinstance(started, Envelope):
        return started  # answered in full: no wait among the calls, or a request-level error
    p, calls = started.principal, started.calls
    replies: list[dict[str, Any]] = []
    run: list[Any] = []
    for call in [*calls, None]:
        if call is not None and not _is_wait(call):
            run.append(call)
            continue
        if run:
            replies.extend(await run_core(fleet, functools.partial(_run_calls, telemetry, p, run)))
            run = []
        if call is not None:
            reply = await _wait(fleet, p, call, started.credential)
            if reply is not None:
                replies.append(reply)
    return replies


async def _wait(
    fleet: Fleet, p: Principal, call: dict[str, Any], credential: ClientCik | GrantToken
) -> dict[str, Any] | None:
    """``wait [R, {timeout, since}]``: the newest point after ``since`` (or after the call
    arrived), or status ``expire`` once ``timeout`` milliseconds pass. A point that arrives after
    the caller's credential was revoked, or lost the resource, is not handed over: the
    call answers ``noauth`` or ``restricted``."""
    id_ = call.get("id")
    reply: dict[str, Any] = {"id": id_}
    answered = _answered(id_)
    try:
        ref, timeout, since = _wait_arguments(call.get("arguments", []))
        found = await wait_for_point(
            fleet, p, ref, since, timeout, reauthenticate=lambda: fleet.identity.authenticate(credential)
        )
    except ErrorStatus as exc:
        reply.update(status=exc.status, result=exc.result)
    except Unsupported as exc:
        reply.update(status="fail", error={"code": 501, "message": str(exc), "context": "arguments"})
    except CoreError as exc:
        reply["status"] = _status(exc)
    except Exception:
        reply.update(status="fail", error=_internal_error("wait"))
    else:
        if found is None:
            reply["status"] = "expire"
        else:
            reply.update(status="ok", result=[found[0], found[1]])
    return reply if answered else None


def _wait_arguments(arguments: object) -> tuple[Ref, float | None, int | None]:
    """The resource, timeout (milliseconds) and ``since`` of a wait. A malformed wait request
    answers status ``error`` (not ``invalid``), with what is wrong as the result."""
    if not isinstance(arguments, list) or len(arguments) not in (1, 2):
        raise ErrorStatus("error", "wait takes [resource, {timeout, since}]")
    try:
        ref = _ref(arguments[0])
        options = _options(arguments[1] if len(arguments) == 2 else {})
    except BadArguments as exc:
        raise ErrorStatus("error", str(exc)) from None
    timeout = options.get("timeout")  # None: the core's default
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0
    ):
        raise ErrorStatus("error", "timeout is a non-negative number of milliseconds")
    since = options.get("since")
    if since is not None and (isinstance(since, bool) or not isinstance(since, int)):
        raise ErrorStatus("error", "since is an integer timestamp or null")
    return ref, timeout, since


def _credential(auth: Mapping[str, Any]) -> ClientCik | GrantToken:
    """The credential of an envelope's ``auth``: ``{"token"}`` or ``{"cik", "client_id"?,
    "resource_id"?}``."""
    if "token" in auth:
        token = auth["token"]
        if not isinstance(token, str) or len(auth) != 1:
            raise BadArguments('token auth is {"token": "<40 hex>"}')
        return GrantToken(token)
    cik = auth.get("cik")
    if not isinstance(cik, str):
        raise BadArguments("auth needs a cik or a token")
    client_id, resource_id = auth.get("client_id"), auth.get("resource_id")
    for value in (client_id, resource_id):
        if value is not None and not isinstance(value, str):
            raise BadArguments("client_id and resource_id are RIDs")
    if client_id is not None and resource_id is not None:
        raise BadArguments("auth takes client_id or resource_id, not both")
    return ClientCik(cik, client_id=client_id, resource_id=resource_id)


def _internal_error(procedure: str) -> dict[str, Any]:
    """Logs the exception being handled under a fresh id, and the error object that names it."""
    error_id = uuid.uuid4().hex[:12]
    log.exception("procedure %s failed: internal error %s", procedure, error_id)
    return {"code": 500, "message": f"internal error {error_id} (see the server log)", "context": "procedure"}


def _answered(id_: object) -> bool:
    """Whether a call's id gets a reply: an integer of at most 64 bits or a string of up to 40
    characters."""
    if isinstance(id_, int) and not isinstance(id_, bool):
        return -(2**63) <= id_ < 2**63
    return isinstance(id_, str) and len(id_) <= 40


def _call(telemetry: Telemetry, p: Principal, call: object) -> dict[str, Any] | None:
    if not isinstance(call, dict):
        return None  # no id to answer with
    id_ = call.get("id")
    answered = _answered(id_)
    procedure, arguments = call.get("procedure"), call.get("arguments", [])
    reply: dict[str, Any] = {"id": id_}
    if not isinstance(procedure, str) or not isinstance(arguments, list):
        reply.update(status="fail", error={"code": 400, "message": "malformed call", "context": "calls"})
        return reply if answered else None
    handler = PROCEDURES.get(procedure)
    try:
        if handler is None:
            raise Unsupported(f"procedure {procedure!r} does not exist")
        result = handler(telemetry, p, arguments)
    except Unsupported as exc:
        context = "procedure" if handler is None else "arguments"
        reply.update(status="fail", error={"code": 501, "message": str(exc), "context": context})
    except ErrorStatus as exc:
        reply.update(status=exc.status, result=exc.result)
    except BadArguments:
        reply["status"] = "invalid"
    except CoreError as exc:
        reply["status"] = _status(exc)
    except Exception:  # a fault of this server: the call fails, the others go on
        reply.update(status="fail", error=_internal_error(procedure))
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


def _client_first(arguments: list[Any], count: int) -> tuple[Ref | None, list[Any]]:
    """The documented form puts a client before the ``count`` arguments of pyonep's form (which
    means the calling client): that client, or None, and the ``count`` arguments."""
    if len(arguments) == count + 1:
        return _ref(arguments[0]), arguments[1:]
    _args(arguments, count)
    return None, arguments


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
        hours = duration * HOUR
        if not math.isfinite(hours) or hours > validate.INT64_MAX:
            raise BadArguments("retention duration is out of range")
        seconds = int(hours)
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


def _retention_or_infinity(desc: Mapping[str, Any]) -> tuple[int | None, int | None]:
    if "retention" not in desc:
        return None, None
    count, seconds, _, _ = _retention(desc)
    return count, seconds


def _subscribe(desc: Mapping[str, Any]) -> Ref | None:
    value = desc.get("subscribe")
    return None if value is None else _ref(value)


def _str(desc: Mapping[str, Any], key: str) -> str:
    value = desc.get(key, "")
    if not isinstance(value, str):
        raise BadArguments(f"{key} is a string")
    return value


def create(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    under, arguments = _client_first(arguments, 2)
    kind, desc = arguments
    if not isinstance(desc, dict):
        raise BadArguments("create takes a type and a description")
    if kind == "clone":
        if under is not None:
            raise BadArguments('clone takes ["clone", {rid | code, noaliases, nohistorical}]')
        rid, code = desc.get("rid"), desc.get("code")
        for flag in ("noaliases", "nohistorical"):
            if not isinstance(desc.get(flag, False), bool):
                raise BadArguments(f"{flag} is true or false")
        if (rid is not None and not isinstance(rid, str)) or (code is not None and not isinstance(code, str)):
            raise BadArguments("rid and code are strings")
        return telemetry.resources.clone(
            p,
            rid=rid,
            code=code,
            aliases=not desc.get("noaliases", False),
            historical=not desc.get("nohistorical", False),
        )
    if kind not in ("client", "dataport", "datarule", "dispatch"):
        raise BadArguments("type is client, dataport, datarule, dispatch or clone")
    common = _common(desc)
    if kind == "client":
        return telemetry.resources.create(
            p, NewResource(type="client", description=desc, **common), under=under
        )
    if kind == "dataport":
        if "format" not in desc:
            raise BadArguments("a dataport needs a format")
        count, seconds, _, _ = _retention(desc)
    else:
        count, seconds = _retention_or_infinity(desc)
    spec = NewResource(
        type=kind,
        format=desc.get("format"),
        retention_count=count,
        retention_seconds=seconds,
        preprocess=desc.get("preprocess") or [],
        subscribe=_subscribe(desc),
        description=desc,
        **common,
    )
    if kind == "datarule":
        if "rule" not in desc:
            raise BadArguments("a datarule needs a rule")
        spec.rule = desc["rule"]
    if kind == "dispatch":
        spec.method = desc.get("method") if isinstance(desc.get("method"), str) else None
        spec.recipient = _str(desc, "recipient")
        spec.message = _str(desc, "message")
        spec.subject = _str(desc, "subject")
    return telemetry.resources.create(p, spec, under=under)


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
            "duration": "infinity" if r.retention_seconds is None else r.retention_seconds / HOUR,
        }
        if isinstance(out["retention"]["duration"], float) and out["retention"]["duration"].is_integer():
            out["retention"]["duration"] = int(out["retention"]["duration"])
        out.setdefault("preprocess", [])
        out["subscribe"] = r.subscribe_rid
    return out


def info(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 1, 2)
    options = _options(arguments[1] if len(arguments) == 2 else {})
    for key, value in options.items():
        if key not in (*INFO_OPTIONS, "usage", "comments") or not isinstance(value, bool):
            raise BadArguments(f"unknown info option {key}")
    wanted = [k for k in (*INFO_OPTIONS, "usage") if options.get(k)] if options else [*INFO_OPTIONS, "usage"]
    found = telemetry.inventory.info(p, _ref(arguments[0]))
    r = found.resource
    out: dict[str, Any] = {}
    for key in wanted:
        if key == "basic":
            basic: dict[str, Any] = {
                "type": r.type,
                "modified": r.modified_at,
                "subscribers": len(found.subscribers),
            }
            if r.type in ("client", "dispatch"):
                basic["status"] = r.status if r.type == "client" else "activated"
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
        elif key == "usage":
            if r.type == "client":
                out[key] = {name: found.usage.get(name, 0) for name in COUNT_KEYS}
        elif key == "storage":
            if found.storage is not None:
                s = found.storage
                out[key] = {"count": s.count, "first": s.first or 0, "last": s.last or 0, "size": s.size}
        elif key == "tags":
            out[key] = r.tags
        elif key == "shares":
            if found.shares is not None:
                out[key] = [{"activator": s.activator, "code": s.code, "meta": s.meta} for s in found.shares]
            elif options:
                raise PermissionDenied("only the owner of a resource reads its shares")
        elif key == "subscribers":
            out[key] = found.subscribers
        else:  # tagged: tags this client put on others (none: tags live on the resource)
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
    if not isinstance(tagged, list) or not all(isinstance(t, str) for t in tagged):
        raise BadArguments("tagged is a list of tags")
    try:
        found = telemetry.inventory.listing(
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
    under, arguments = _client_first(arguments, 2)
    kind, value = arguments
    if kind == "alias":
        if not isinstance(value, str):
            raise BadArguments("an alias is a string")
        return telemetry.names.lookup_alias(p, value, under=under)
    if kind == "owner":
        return telemetry.names.lookup_owner(p, _ref(value))
    if kind == "shared":
        if not isinstance(value, str):
            raise BadArguments("a share code is a string")
        return telemetry.names.lookup_shared(p, value)
    raise BadArguments("lookup type is alias, owner or shared")


def map_(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    under, arguments = _client_first(arguments, 3)
    kind, ref, alias = arguments
    if kind != "alias" or not isinstance(alias, str):
        raise BadArguments('map takes ["alias", resource, alias]')
    telemetry.names.map_alias(p, _ref(ref), alias, under=under)
    return None


def unmap(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    under, arguments = _client_first(arguments, 2)
    kind, alias = arguments
    if kind != "alias" or not isinstance(alias, str):
        raise BadArguments('unmap takes ["alias", alias]')
    telemetry.names.unmap_alias(p, alias, under=under)
    return None


def read(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 1, 2)
    options = _options(arguments[1] if len(arguments) == 2 else {})
    selection = options.get("selection", "all")
    if selection not in ("all", "givenwindow", "autowindow"):
        raise BadArguments("selection is all, givenwindow or autowindow")
    sort = options.get("sort", "desc")
    if sort not in ("asc", "desc"):
        raise BadArguments("sort is asc or desc")
    end = options.get("endtime")
    points = telemetry.points.read(
        p,
        _ref(arguments[0]),
        start=_int(options.get("starttime", 0), "starttime"),
        end=None if end is None else _int(end, "endtime"),
        descending=sort == "desc",
        limit=_int(options.get("limit", 1), "limit"),
        selection=selection,
    )
    return [[ts, value] for ts, value in points]


def write(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 2, 3)
    telemetry.points.write(p, _ref(arguments[0]), arguments[1])
    return None


def writegroup(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 1)
    entries = arguments[0]
    if not isinstance(entries, list) or not entries:
        raise BadArguments("writegroup takes [[[resource, value], ...]]")
    pairs: list[tuple[Ref, object]] = []
    for entry in entries:
        if not isinstance(entry, list) or len(entry) != 2:
            raise BadArguments("each entry is [resource, value]")
        pairs.append((_ref(entry[0]), entry[1]))
    telemetry.points.writegroup(p, pairs)
    return None


def record(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 2, 3)
    if not isinstance(arguments[1], list):
        raise BadArguments("entries are a list of [timestamp, value]")
    telemetry.points.record(p, _ref(arguments[0]), arguments[1], all_or_none=True)
    return None


def recordbatch(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 2)
    if not isinstance(arguments[1], list):
        raise BadArguments("entries are a list of [timestamp, value]")
    failures = telemetry.points.record(p, _ref(arguments[0]), arguments[1])
    if failures:
        return _Status([[f.timestamp, f.reason] for f in failures])
    return None


def flush(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 1, 2)
    options = _options(arguments[1] if len(arguments) == 2 else {})
    newer, older = options.get("newerthan"), options.get("olderthan")
    telemetry.points.flush(
        p,
        _ref(arguments[0]),
        newer_than=None if newer is None else _int(newer, "newerthan"),
        older_than=None if older is None else _int(older, "olderthan"),
    )
    return None


def drop(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 1)
    telemetry.resources.drop(p, _ref(arguments[0]))
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
    if "preprocess" in desc:
        changes.preprocess = desc["preprocess"] or []
    if "subscribe" in desc:
        changes.subscribe = _subscribe(desc)
        changes.unsubscribe = desc["subscribe"] is None
    if "rule" in desc:
        changes.rule = desc["rule"]
    telemetry.resources.update(p, _ref(arguments[0]), changes)
    return None


def _codes(
    arguments: list[Any], codetypes: tuple[str, ...] = ("client", "share")
) -> tuple[Ref | None, str, str]:
    """``[(R,) codetype, code]``."""
    under, arguments = _client_first(arguments, 2)
    codetype, code = arguments
    if codetype not in codetypes or not isinstance(code, str):
        raise BadArguments(f"takes a codetype ({' or '.join(codetypes)}) and a code")
    return under, codetype, code


def activate(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    under, codetype, code = _codes(arguments)
    telemetry.sharing.activate(p, codetype, code, under=under)
    return None


def deactivate(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    under, codetype, code = _codes(arguments)
    telemetry.sharing.deactivate(p, codetype, code, under=under)
    return None


def revoke(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    under, codetype, code = _codes(arguments, ("client", "share", "token"))
    if under is not None:
        raise BadArguments("revoke takes [codetype, code]")
    telemetry.sharing.revoke(p, codetype, code)
    return None


def share(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 1, 2)
    options = _options(arguments[1] if len(arguments) == 2 else {})
    meta, code = options.get("meta"), options.get("code")
    if (meta is not None and not isinstance(meta, str)) or (code is not None and not isinstance(code, str)):
        raise BadArguments("share options are {meta, code}, strings")
    return telemetry.sharing.share(p, _ref(arguments[0]), meta=meta, code=code)


def grant(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 2, 3)
    permissions = arguments[1]
    if not isinstance(permissions, dict):
        raise BadArguments("permissions are {resource: [procedure, ...]}")
    ttl = None
    if len(arguments) == 3:
        ttl = _options(arguments[2]).get("ttl")
        if ttl is not None:
            ttl = _int(ttl, "ttl")
    return telemetry.sharing.grant(p, _ref(arguments[0]), permissions, ttl=ttl)


def move(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 2, 3)
    options = _options(arguments[2] if len(arguments) == 3 else {})
    aliases = options.get("aliases", True)
    if not isinstance(aliases, bool):
        raise BadArguments("aliases is true or false")
    telemetry.resources.move(p, _ref(arguments[0]), _ref(arguments[1]), aliases=aliases)
    return None


def tag(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    try:
        _args(arguments, 3)
        ref, action, name = arguments
        if action not in ("add", "remove") or not isinstance(name, str):
            raise BadArguments('tag takes [resource, "add" | "remove", tag]')
        telemetry.resources.tag(p, _ref(ref), action, name)
    except (BadArguments, Invalid, NotFound, Conflict):
        return _Status("badarg")
    return None


def usage(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    _args(arguments, 4)
    ref, metric, start, end = arguments
    if not isinstance(metric, str):
        raise BadArguments("metric is a string")
    return telemetry.inventory.usage(p, _ref(ref), metric, _int(start, "starttime"), _int(end, "endtime"))


def wait(telemetry: Telemetry, p: Principal, arguments: list[Any]) -> Any:
    """Without an event loop to wait on (``process``): answers at once with the newest point after
    ``since``, or ``expire``."""
    ref, _, since = _wait_arguments(arguments)
    found = telemetry.points.latest(p, ref, since)
    if found is None:
        return _Status("expire")
    return [found[0], found[1]]


Handler = Callable[[Telemetry, Principal, list[Any]], Any]

PROCEDURES: dict[str, Handler] = {
    "activate": activate,
    "create": create,
    "deactivate": deactivate,
    "drop": drop,
    "flush": flush,
    "grant": grant,
    "info": info,
    "listing": listing,
    "lookup": lookup,
    "map": map_,
    "move": move,
    "read": read,
    "record": record,
    "recordbatch": recordbatch,
    "revoke": revoke,
    "share": share,
    "tag": tag,
    "unmap": unmap,
    "update": update,
    "usage": usage,
    "wait": wait,
    "write": write,
    "writegroup": writegroup,
}
