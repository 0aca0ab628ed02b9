"""The One Platform Provisioning HTTP API under ``/provision`` (onep.md §9), as pyonep's
``Provision`` and exoline speak it.

Requests carry form-encoded bodies (also without a Content-Type, as pyonep sends PUT and DELETE),
with percent-encoded keys (``sn%5B%5D``); a key ending in ``[]`` is the same field as the key
without it, and a field may repeat. GET data is the query string. The management key is the
vendor client's CIK or the vendor token, in ``X-Exosite-CIK`` or ``X-Exosite-Token`` (either
header takes either key).

Answers are text, never JSON: ``text/csv`` lines joined by ``\\n`` with no trailing newline (so
that a single value, a RID or a CIK, can be used as is), ``text/plain``, or form-encoded model
info; 205 with an empty body for success without content; 204 for "nothing to show". Errors are
``text/plain`` with a one-line message: 400 malformed, 401 no or unknown key, 403 not allowed,
404 not found, 405 wrong method, 409 conflict, 413 too large, 416 range not satisfiable.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, BinaryIO, TypeVar
from urllib.parse import parse_qsl, quote

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from fleetport.core import errors
from fleetport.core.calls import run_core
from fleetport.core.credentials import ProvisioningKey
from fleetport.core.fleet import Fleet
from fleetport.core.pages import PageRequest
from fleetport.core.permissions import Principal
from fleetport.core.provision import SERIALS, Content, Serial
from fleetport.core.validate import INT64_MAX
from fleetport.edge import BodyLimit, BodyTooLarge, fault_message, request_id
from fleetport.settings import Settings

log = logging.getLogger("fleetport.onep")

router = APIRouter(tags=["onep"])
T = TypeVar("T")

TEXT = "text/plain; charset=utf-8"
CSV = "text/csv; charset=utf-8"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
MAX_FIELDS = 20_000  # fields in one form body or query string
CHUNK = 64 * 1024
TOKEN_ID = "default"  # the id of the vendor token under /provision/admin/auth/ (one per vendor)
UPLOAD_PATH = re.compile(r"^/provision/manage/content/[^/]+/[^/]+$")
ANY_PATH = re.compile(r"^/provision/")
SERIALS_PAGE_MIN = 5  # One Platform brings a serial number listing's limit within 5..1000

STATUS: tuple[tuple[type[errors.CoreError], int], ...] = (
    (errors.Unauthenticated, 401),
    (errors.PermissionDenied, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.FailedPrecondition, 409),
    (errors.TooLarge, 413),
)


def body_limits(settings: Settings) -> list[BodyLimit]:
    """Content uploads take bodies up to ``max_upload_bytes``; other provisioning requests have
    the general body limit (``max_body_bytes``). Both are refused with 413 as text."""

    def refusal(limit: int) -> tuple[bytes, bytes]:
        return TEXT.encode(), f"the request body is larger than the limit of {limit} bytes".encode()

    upload, general = settings.max_upload_bytes, settings.max_body_bytes
    return [
        BodyLimit("POST", UPLOAD_PATH, upload, refusal(upload)),
        *(BodyLimit(method, ANY_PATH, general, refusal(general)) for method in ("POST", "PUT", "DELETE")),
    ]


class BadRequest(Exception):
    """A request this API cannot read: answered 400 with the message."""


class RangeNotSatisfiable(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


# --- forms --------------------------------------------------------------------------------------


class Form:
    """Form fields by name; ``name[]`` and ``name`` are one field."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.fields: dict[str, list[str]] = {}
        for key, value in pairs:
            name = key[:-2] if key.endswith("[]") else key
            self.fields.setdefault(name, []).append(value)

    def __bool__(self) -> bool:
        return bool(self.fields)

    def all(self, name: str) -> list[str]:
        return list(self.fields.get(name, []))

    def one(self, name: str) -> str | None:
        """The field's last value, or None when absent or blank."""
        values = self.fields.get(name)
        return values[-1] if values and values[-1] != "" else None

    def required(self, name: str, what: str | None = None) -> str:
        value = self.one(name)
        if value is None:
            raise BadRequest(f"{what or name} is missing: send {name}=<value>")
        return value

    def flag(self, name: str) -> bool:
        value = self.fields.get(name, [""])[-1].lower()
        if value in ("true", "1", "yes", "on"):
            return True
        if value in ("false", "0", "no", "off", ""):
            return False
        raise BadRequest(f"{name} must be true or false, not {value!r}")

    def integer(self, name: str, default: int) -> int:
        """A count (an offset or a limit): an integer from 0 to 2^63-1."""
        value = self.one(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise BadRequest(f"{name} must be an integer, not {value!r}") from None
        if not 0 <= number <= INT64_MAX:
            raise BadRequest(f"{name} must be an integer from 0 to {INT64_MAX}, not {value!r}")
        return number


def parse_form(raw: bytes) -> Form:
    """A form-encoded body or query string: ``+`` is a space, keys and values are percent-decoded
    UTF-8, blank values are kept."""
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, encoding="utf-8", errors="strict", max_num_fields=MAX_FIELDS
        )
    except UnicodeDecodeError:
        raise BadRequest("the form is not UTF-8 (after percent-decoding)") from None
    except ValueError:
        raise BadRequest(f"the form has more than {MAX_FIELDS} fields") from None
    return Form(pairs)


def parse_csv(raw: bytes) -> list[list[str]]:
    """CSV lines (CRLF or LF), blank lines left out."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadRequest("the CSV body is not UTF-8") from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise BadRequest(f"the CSV body is malformed: {exc}") from None
    return [row for row in rows if any(field.strip() for field in row)]


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def body_form(request: Request) -> Form:
    return parse_form(await request.body())


def query_form(request: Request) -> Form:
    return parse_form(request.scope.get("query_string", b""))


def key_of(request: Request) -> ProvisioningKey | None:
    """The key from ``X-Exosite-CIK`` or ``X-Exosite-Token``, whichever is not blank: either header
    takes either key (a client's CIK or the vendor token)."""
    for header in ("x-exosite-cik", "x-exosite-token"):
        value = request.headers.get(header, "").strip()
        if value:
            return ProvisioningKey(value)
    return None


NO_MANAGEMENT_KEY = (
    "no key: send the vendor client's CIK or the vendor token as X-Exosite-CIK or X-Exosite-Token"
)
NO_DEVICE_KEY = "no key: a device downloads with its own CIK in X-Exosite-CIK"


async def as_caller(
    request: Request, work: Callable[[Principal], T], *, missing: str = NO_MANAGEMENT_KEY
) -> T:
    """Runs core ``work`` for the caller the request's key authenticates, in one go (``missing``:
    the refusal when the request carries no key)."""
    fleet, key = fleet_of(request), key_of(request)

    def run() -> T:
        if key is None:
            raise errors.Unauthenticated(missing)
        return work(fleet.identity.authenticate(key))

    return await run_core(fleet, run)


# --- answers ------------------------------------------------------------------------------------


def plain(text: str, status: int = 200) -> Response:
    return Response(text.encode(), status_code=status, media_type=TEXT)


def csv_lines(lines: list[str], status: int = 200) -> Response:
    return Response("\n".join(lines).encode(), status_code=status, media_type=CSV)


def reset() -> Response:
    """Success without content."""
    return Response(status_code=205)


def no_content() -> Response:
    return Response(status_code=204)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(message.encode(), status_code=status, media_type=TEXT, headers=headers)


def core_error(exc: errors.CoreError) -> Response:
    status = next((code for kind, code in STATUS if isinstance(exc, kind)), 400)
    return error(status, exc.message)


Handler = Callable[..., Awaitable[Response]]


def guarded(handler: Handler) -> Handler:
    """Answers every failure as text: core errors by kind, malformed requests 400, unexpected
    ones 500 with the request id (and the traceback in the log)."""

    @functools.wraps(handler)
    async def wrapper(request: Request, **params: Any) -> Response:
        try:
            return await handler(request, **params)
        except errors.CoreError as exc:
            return core_error(exc)
        except BadRequest as exc:
            return error(400, str(exc))
        except RangeNotSatisfiable as exc:
            return error(416, "the range is not satisfiable", {"Content-Range": f"bytes */{exc.size}"})
        except BodyTooLarge:  # the edge middleware answers 413 with the limit
            return error(413, "the request body is too large")
        except Exception:
            rid = request_id.get()
            log.exception("unexpected error in the provisioning API (request %s)", rid)
            return error(500, fault_message(rid))

    return wrapper


def fleet_of(request: Request) -> Fleet:
    fleet: Fleet = request.app.state.fleet
    return fleet


async def core(request: Request, work: Callable[[], Any]) -> Any:
    return await run_core(fleet_of(request), work)


def serial_line(serial: Serial, *, status: bool) -> str:
    shown = "" if serial.status == "unused" else serial.status
    fields = (
        [serial.sn, shown, serial.rid or "", serial.extra]
        if status
        else [serial.sn, serial.rid or "", serial.extra]
    )
    return ",".join(fields)


def content_line(content: Content, *, protected: bool) -> str:
    fields = [content.content_type or "", str(content.size), str(content.updated_at), content.meta]
    if protected:
        fields.append("true" if content.protected else "false")
    return ",".join(fields)


# --- ranges and downloads -------------------------------------------------------------------------

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte range ``Range: bytes=X-Y``, ``X-`` or ``-N`` asks for, within ``size``;
    None to send everything (no header, another unit, several ranges or a malformed one: RFC 9110
    lets a server ignore those); RangeNotSatisfiable when it lies outside the content."""
    if not header:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":  # the last N bytes
        count = int(last)
        if count == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - count), size - 1
    start = int(first)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable(size)
    return start, size - 1 if last == "" else min(int(last), size - 1)


def _chunks(file: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    with file:
        file.seek(start)
        left = length
        while left > 0:
            chunk = file.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk


async def download(request: Request, content: Content) -> Response:
    """The content's bytes with its stored Content-Type, or the range asked for (206)."""
    fleet = fleet_of(request)
    size = content.size
    span = byte_range(request.headers.get("range"), size)
    file = await core(request, lambda: fleet.provision.open_content(content))
    media = content.content_type or "application/octet-stream"
    headers = {"Accept-Ranges": "bytes"}
    if span is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(_chunks(file, 0, size), media_type=media, headers=headers)
    start, end = span
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(
        _chunks(file, start, end - start + 1), status_code=206, media_type=media, headers=headers
    )


# --- vendors ------------------------------------------------------------------------------------


@router.get("/provision/register", include_in_schema=False)
@guarded
async def vendor_show(request: Request) -> Response:
    """The name of the vendor the key manages (404 when its client registered none)."""
    fleet = fleet_of(request)
    vendor = await as_caller(request, lambda p: fleet.provision.vendor(p))
    return plain(vendor.name)


@router.post("/provision/register", include_in_schema=False)
@guarded
async def vendor_register(request: Request) -> Response:
    """``vendor=<name>`` registers the key's client as a vendor; ``delete=true&vendor=<name>``
    unregisters it."""
    fleet = fleet_of(request)
    form = await body_form(request)
    name = form.required("vendor", "the vendor name")
    if form.flag("delete"):
        await as_caller(request, lambda p: fleet.provision.unregister(p, name))
    else:
        await as_caller(request, lambda p: fleet.provision.register(p, name))
    return reset()


@router.get("/provision/admin/auth/", include_in_schema=False)
@guarded
async def vendor_token_ids(request: Request) -> Response:
    """The ids of the vendor's tokens: one, ``default``."""
    fleet = fleet_of(request)
    await as_caller(request, lambda p: fleet.provision.vendor_token(p))
    return csv_lines([TOKEN_ID])


@router.get("/provision/admin/auth/{token_id}", include_in_schema=False)
@guarded
async def vendor_token(request: Request, token_id: str) -> Response:
    """The vendor token, for the vendor client's CIK (not for the token itself)."""
    fleet = fleet_of(request)
    token = await as_caller(request, lambda p: fleet.provision.vendor_token(p))
    if token_id != TOKEN_ID:
        return error(404, f"the vendor has no token {token_id!r}: its one token is {TOKEN_ID!r}")
    return plain(token)


# --- devices ------------------------------------------------------------------------------------


@router.post("/provision/activate", include_in_schema=False)
@guarded
async def activate(request: Request) -> Response:
    """``vendor=<v>&model=<m>&sn=<sn>``: the client's CIK, once, as bare text. Any auth header is
    ignored (pyonep sends an empty one)."""
    fleet = fleet_of(request)
    form = await body_form(request) or query_form(request)
    vendor = form.required("vendor")
    model = form.required("model")
    sn = form.required("sn")
    peer = request.client.host if request.client is not None else ""
    cik = await core(request, lambda: fleet.provision.activate(vendor, model, sn, connection=peer))
    return plain(cik)


@router.get("/provision/download", include_in_schema=False)
@guarded
async def device_download(request: Request) -> Response:
    """``vendor=&model=&id=``: the content's bytes (``Range`` honoured); ``&info=true`` its info;
    without ``id`` the ids the key may download. The key is a device's CIK, or the vendor's."""
    fleet = fleet_of(request)
    form = query_form(request)
    vendor = form.required("vendor")
    model = form.required("model")
    content_id = form.one("id")
    if content_id is None:
        ids = await as_caller(
            request, lambda p: fleet.provision.device_contents(p, vendor, model), missing=NO_DEVICE_KEY
        )
        return csv_lines(ids)
    content = await as_caller(
        request,
        lambda p: fleet.provision.device_content(p, vendor, model, content_id),
        missing=NO_DEVICE_KEY,
    )
    if form.flag("info"):
        return csv_lines([content_line(content, protected=False)])
    return await download(request, content)


# --- models -------------------------------------------------------------------------------------


@router.get("/provision/manage/model/", include_in_schema=False)
@guarded
async def model_list(request: Request) -> Response:
    """The vendor's model names, one per line (``show=shared``: none, models are not shared
    between vendors here)."""
    fleet = fleet_of(request)
    names = await as_caller(request, lambda p: fleet.provision.models(p))
    if query_form(request).one("show") == "shared":
        return csv_lines([])
    return csv_lines(names)


@router.post("/provision/manage/model/", include_in_schema=False)
@guarded
async def model_create(request: Request) -> Response:
    """``model=<m>&rid=<template RID>`` or ``&code=<share code>``, with ``options[]=...``;
    ``delete=true&model=<m>`` deletes the model."""
    fleet = fleet_of(request)
    form = await body_form(request)
    name = form.required("model", "the model name")
    if form.flag("delete"):
        await as_caller(request, lambda p: fleet.provision.remove_model(p, name))
        return reset()
    rid, code, options = form.one("rid"), form.one("code"), form.all("options")
    await as_caller(
        request, lambda p: fleet.provision.create_model(p, name, rid=rid, code=code, options=options)
    )
    return reset()


@router.get("/provision/manage/model/{model}", include_in_schema=False)
@guarded
async def model_info(request: Request, model: str) -> Response:
    """Form-encoded: ``rid=<rid>`` or ``code=<code>``, then ``&options[]=<option>`` each."""
    fleet = fleet_of(request)
    info = await as_caller(request, lambda p: fleet.provision.model(p, model))
    head = f"code={quote(info.share_code, safe='')}" if info.share_code else f"rid={info.template_rid}"
    text = head + "".join(f"&options[]={quote(option, safe='')}" for option in info.options)
    return Response(text.encode(), media_type=FORM)


@router.put("/provision/manage/model/{model}", include_in_schema=False)
@guarded
async def model_update(request: Request, model: str) -> Response:
    """``rid=<RID or share code>`` or ``code=<code>`` and ``options[]=...`` (the options given
    replace the model's)."""
    fleet = fleet_of(request)
    form = await body_form(request)
    rid, code, options = form.one("rid"), form.one("code"), form.all("options")
    await as_caller(
        request, lambda p: fleet.provision.update_model(p, model, rid=rid, code=code, options=options)
    )
    return reset()


@router.delete("/provision/manage/model/{model}", include_in_schema=False)
@guarded
async def model_remove(request: Request, model: str) -> Response:
    """Deletes the model, its serial numbers and content (the body pyonep sends is not needed)."""
    fleet = fleet_of(request)
    await request.body()
    await as_caller(request, lambda p: fleet.provision.remove_model(p, model))
    return reset()


# --- serial numbers -----------------------------------------------------------------------------


def _ranges_unsupported() -> BadRequest:
    return BadRequest(
        "serial number ranges are not supported: send serial numbers as sn=<sn>, sn[]=<sn>... or CSV lines"
    )


@router.get("/provision/manage/model/{model}/", include_in_schema=False)
@guarded
async def serial_list(request: Request, model: str) -> Response:
    """``offset=&limit=[&status=true]``: ``<sn>,<rid>,<extra>`` (or ``<sn>,<status>,<rid>,<extra>``)
    per line, blank status and rid for serial numbers without a client. ``limit`` defaults to
    1000 and is brought within 5..1000."""
    fleet = fleet_of(request)
    form = query_form(request)
    if form.one("show") is not None:
        raise _ranges_unsupported()
    offset, limit, status = form.integer("offset", 0), form.integer("limit", 1000), form.flag("status")
    page = PageRequest(min(max(limit, SERIALS_PAGE_MIN), SERIALS.maximum), offset=offset)
    serials = await as_caller(request, lambda p: fleet.provision.serials(p, model, page))
    return csv_lines([serial_line(s, status=status) for s in serials.items])


@router.post("/provision/manage/model/{model}/", include_in_schema=False)
@guarded
async def serial_add(request: Request, model: str) -> Response:
    """Adds ``sn=<sn>[&extra=<extra>]`` or ``sn[]=<a>&sn[]=<b>`` (with or without ``add=true``),
    or CSV lines ``<sn>,<extra>`` (Content-Type text/csv); ``remove=true`` or ``delete=true``
    with ``sn``/``sn[]`` removes them. All or nothing."""
    fleet = fleet_of(request)
    kind = media_type(request)
    raw = await request.body()
    if kind in ("application/javascript", "application/json"):
        raise _ranges_unsupported()
    if kind == "text/csv":
        rows = parse_csv(raw)
        entries: list[tuple[str, str | None]] = [(row[0].strip(), ",".join(row[1:])) for row in rows]
        await as_caller(request, lambda p: fleet.provision.add_serials(p, model, entries))
        return reset()
    form = parse_form(raw)
    sns = form.all("sn")
    removing = form.flag("remove") or form.flag("delete")
    if removing and form.flag("add"):
        raise BadRequest("send add=true or remove=true, not both")
    if removing:
        await as_caller(request, lambda p: fleet.provision.remove_serials(p, model, sns))
        return reset()
    extra = form.one("extra")
    await as_caller(request, lambda p: fleet.provision.add_serials(p, model, [(sn, extra) for sn in sns]))
    return reset()


@router.delete("/provision/manage/model/{model}/", include_in_schema=False)
@guarded
async def serial_remove_batch(request: Request, model: str) -> Response:
    """Removes the serial numbers of a CSV body (first field of each line) or of ``sn[]``."""
    fleet = fleet_of(request)
    kind = media_type(request)
    raw = await request.body()
    if kind in ("application/javascript", "application/json"):
        raise _ranges_unsupported()
    sns = [row[0].strip() for row in parse_csv(raw)] if kind == "text/csv" else parse_form(raw).all("sn")
    await as_caller(request, lambda p: fleet.provision.remove_serials(p, model, sns))
    return reset()


@router.get("/provision/manage/model/{model}/{sn}", include_in_schema=False)
@guarded
async def serial_info(request: Request, model: str, sn: str) -> Response:
    """``<status>,<rid>,<extra>``, or 204 when the serial number has no client; ``show=log``:
    ``<timestamp>,<connection>,<entry>`` per activation attempt, or 204 when there was none."""
    fleet = fleet_of(request)
    show = query_form(request).one("show")
    if show == "log":
        entries = await as_caller(request, lambda p: fleet.provision.activation_log(p, model, sn))
        if not entries:
            return no_content()
        return csv_lines([f"{e.at},{e.connection},{e.entry}" for e in entries])
    if show is not None:
        raise BadRequest(f"show={show} is not supported here; show=log is")
    serial = await as_caller(request, lambda p: fleet.provision.serial(p, model, sn))
    if serial.status == "unused":
        return no_content()
    return csv_lines([f"{serial.status},{serial.rid or ''},{serial.extra}"])


@router.post("/provision/manage/model/{model}/{sn}", include_in_schema=False)
@guarded
async def serial_enable(request: Request, model: str, sn: str) -> Response:
    """``enable=true&owner=<rid>``: the new client's RID (200); ``enable=true&oldsn=<sn>``: remap;
    ``enable=true``: a new key to activate; ``disable=true``: activation refused."""
    fleet = fleet_of(request)
    form = await body_form(request)
    enable, disable = form.flag("enable"), form.flag("disable")
    if enable == disable:
        raise BadRequest("send enable=true (with owner=<rid> or oldsn=<sn>, or alone) or disable=true")
    provision = fleet.provision
    if disable:
        await as_caller(request, lambda p: provision.disable(p, model, sn))
        return reset()
    owner, oldsn = form.one("owner"), form.one("oldsn")
    if owner is not None and oldsn is not None:
        raise BadRequest("send owner=<rid> or oldsn=<sn>, not both")
    if owner is not None:
        rid = await as_caller(request, lambda p: provision.enable(p, model, sn, owner))
        return csv_lines([rid])
    if oldsn is not None:
        await as_caller(request, lambda p: provision.remap(p, model, sn, oldsn))
    else:
        await as_caller(request, lambda p: provision.reenable(p, model, sn))
    return reset()


@router.delete("/provision/manage/model/{model}/{sn}", include_in_schema=False)
@guarded
async def serial_remove(request: Request, model: str, sn: str) -> Response:
    """Removes the serial number; its client stays in its owner's tree."""
    fleet = fleet_of(request)
    await request.body()
    await as_caller(request, lambda p: fleet.provision.remove_serial(p, model, sn))
    return reset()


# --- content ------------------------------------------------------------------------------------


@router.get("/provision/manage/content/{model}/", include_in_schema=False)
@guarded
async def content_list(request: Request, model: str) -> Response:
    fleet = fleet_of(request)
    ids = await as_caller(request, lambda p: fleet.provision.contents(p, model))
    return csv_lines(ids)


@router.post("/provision/manage/content/{model}/", include_in_schema=False)
@guarded
async def content_create(request: Request, model: str) -> Response:
    """``id=<id>&meta=<meta>[&protected=true]`` (``description`` for ``meta`` as in the docs);
    ``delete=true&id=<id>`` deletes the content."""
    fleet = fleet_of(request)
    form = await body_form(request)
    content_id = form.required("id", "the content id")
    if form.flag("delete"):
        await as_caller(request, lambda p: fleet.provision.remove_content(p, model, content_id))
        return reset()
    values = form.fields.get("meta") or form.fields.get("description") or [""]
    meta, protected = values[-1], form.flag("protected")
    await as_caller(
        request,
        lambda p: fleet.provision.create_content(p, model, content_id, meta=meta, protected=protected),
    )
    return reset()


@router.get("/provision/manage/content/{model}/{content_id}", include_in_schema=False)
@guarded
async def content_info(request: Request, model: str, content_id: str) -> Response:
    """``<content-type>,<byte-size>,<updated-timestamp>,<meta>,<protected>``; with
    ``download=true`` the bytes (``Range`` honoured)."""
    fleet = fleet_of(request)
    content = await as_caller(request, lambda p: fleet.provision.content(p, model, content_id))
    if query_form(request).flag("download"):
        return await download(request, content)
    return csv_lines([content_line(content, protected=True)])


@router.post("/provision/manage/content/{model}/{content_id}", include_in_schema=False)
@guarded
async def content_upload(request: Request, model: str, content_id: str) -> Response:
    """The raw body becomes the content's data, served later with the request's Content-Type.
    Bodies up to ``max_upload_bytes``."""
    fleet = fleet_of(request)
    provision = fleet.provision
    await as_caller(request, lambda p: provision.check_upload(p, model, content_id))
    limit = fleet.settings.max_upload_bytes
    with fleet.blobs.writer() as blob:
        async for chunk in request.stream():
            blob.write(chunk)
            if blob.size > limit:
                raise errors.TooLarge(f"the content is larger than the upload limit of {limit} bytes")
        digest, size = await run_in_threadpool(blob.commit)
    kind = request.headers.get("content-type")
    await as_caller(
        request,
        lambda p: provision.store_content(p, model, content_id, blob=digest, size=size, content_type=kind),
    )
    return reset()


@router.delete("/provision/manage/content/{model}/{content_id}", include_in_schema=False)
@guarded
async def content_remove(request: Request, model: str, content_id: str) -> Response:
    fleet = fleet_of(request)
    await request.body()
    await as_caller(request, lambda p: fleet.provision.remove_content(p, model, content_id))
    return reset()


# --- anything else under /provision ---------------------------------------------------------------

# the endpoints above (path pattern, methods), for telling 404 from 405
_ROUTES = [(getattr(r, "path_regex"), set(getattr(r, "methods", ()))) for r in router.routes]  # noqa: B009
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]


@router.api_route("/provision/{rest:path}", methods=ALL_METHODS, include_in_schema=False)
async def elsewhere(request: Request, rest: str) -> Response:
    """404 (as text) for paths this API does not have, 405 for a method a path does not take."""
    path = request.scope["path"]
    allowed = sorted({m for pattern, methods in _ROUTES if pattern.match(path) for m in methods})
    if allowed:
        return error(
            405,
            f"{request.method} is not allowed at {path}; allowed: {', '.join(allowed)}",
            {"Allow": ", ".join(allowed)},
        )
    return error(404, f"no provisioning endpoint at {path}")
