"""Provisioning (One Platform fleet management): vendors, models, serial numbers and content.

A **vendor** is a telemetry client registered under a unique name; it gets a vendor token. The
vendor is managed with a management key: the CIK of its client, or its vendor token. Callers come
authenticated (``Identity.authenticate`` of a ``ProvisioningKey``): a principal of the client,
``via`` which of the two keys; the vendor is the one its client registered.

A **model** of a vendor names a template client (by RID, in the vendor client's tree, or by the
code of a share, which may come from another tree) and clone options (``noaliases``,
``nocomments``, ``nohistorical``). Serial numbers are whitelisted per model:

* ``enable`` with an owner (a client in the vendor client's tree) clones the template under the
  owner, binds the clone to the serial number and enables it for activation; the clone's status
  is ``notactivated``;
* ``activate`` (unauthenticated, by vendor, model and serial number) hands out the clone's key
  once and marks it activated; each attempt goes to the serial number's activation log;
* ``reenable`` gives the clone a new key that must be activated again (the old key stops
  working); ``disable`` refuses activation until the next ``reenable`` (a key handed out already
  keeps working); ``remap`` moves the clone of one serial number to another, with a new key;
* removing a serial number (or the model, or the vendor) unbinds its clone but keeps it: the
  client, its data and its key live on in the owner's tree, where the owner can drop it.

The status of a serial number is ``unused`` (no client bound), ``notactivated`` (enabled,
awaiting activation), ``activated``, ``disabled`` (activation refused) or ``expired`` (the
client's key was deactivated through the resource tree). Whether it was activated is the status of
its client: the client's owner may activate the key over RPC instead of the device, and then
``activate`` here refuses as it does after a device's activation.

**Content** is per model: entries (an id, meta text, protected or not) whose bytes live in the
blob store. A device downloads with its own key (the key of a client bound to a serial number of
the model); protected content only while its serial number is enabled. The vendor's own keys may
download too.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from fleetport.blobs import Blobs
from fleetport.core.errors import (
    Conflict,
    Invalid,
    NotFound,
    PermissionDenied,
    TooLarge,
    Unauthenticated,
)
from fleetport.core.ids import new_id
from fleetport.core.pages import Listing, Page, PageRequest
from fleetport.core.permissions import Principal
from fleetport.core.telemetry import Telemetry, is_rid, now
from fleetport.store import Row, Store, Tx
from fleetport.store import provision as sp
from fleetport.store import telemetry as st

MODEL_OPTIONS: tuple[str, ...] = ("noaliases", "nocomments", "nohistorical")
STATUSES: tuple[str, ...] = ("unused", "notactivated", "activated", "disabled", "expired")
VENDOR_MAX = 64
NAME_MAX = 255  # model names, serial numbers, content ids
EXTRA_MAX = 4096
META_MAX = 64 * 1024
CONTENT_TYPE_MAX = 255
CONNECTION_MAX = 255
MAX_BATCH = 10_000  # serial numbers one request adds or removes
LOG_KEEP = 100  # activation log entries kept per serial number
# a model's serial numbers, oldest first
SERIALS = Listing("serials", default=1000, maximum=1000, offsets=True)
DEFAULT_CONTENT_TYPE = "application/octet-stream"

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # control characters but tab


@dataclass(frozen=True)
class Vendor:
    name: str
    client_rid: str
    token: str  # manages the vendor in place of the client's CIK
    created_at: int


@dataclass(frozen=True)
class Model:
    name: str
    template_rid: str
    share_code: str | None  # set when the model was made from a share code
    options: tuple[str, ...]


@dataclass(frozen=True)
class Serial:
    sn: str
    status: str  # one of STATUSES
    rid: str | None  # the bound client, if any
    extra: str


@dataclass(frozen=True)
class LogEntry:
    at: int
    connection: str
    entry: str


@dataclass(frozen=True)
class Content:
    content_id: str
    meta: str
    protected: bool
    content_type: str | None  # None until uploaded
    size: int
    updated_at: int
    blob: str | None


@dataclass(frozen=True)
class _Caller:
    client_rid: str
    vendor: Row | None
    by_token: bool


def _text(value: object, what: str, limit: int, *, path: bool = False, comma: bool = True) -> str:
    """A required name: non-empty, at most ``limit`` characters, no control characters; with
    ``path`` also no ``/`` (it is a segment of a URL path); without ``comma`` no comma (it is a
    CSV field)."""
    if not isinstance(value, str) or value == "":
        raise Invalid(f"{what} is missing")
    if len(value) > limit:
        raise Invalid(f"{what} is longer than {limit} characters")
    if _CONTROL.search(value):
        raise Invalid(f"{what} contains control characters")
    if path and ("/" in value or value in (".", "..")):
        raise Invalid(f"{what} {value!r} cannot contain '/' nor be '.' or '..'")
    if not comma and "," in value:
        raise Invalid(f"{what} {value!r} cannot contain a comma")
    return value


def _extra(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid("extra is text")
    if len(value) > EXTRA_MAX:
        raise Invalid(f"extra is longer than {EXTRA_MAX} characters")
    if _CONTROL.search(value):
        raise Invalid("extra cannot contain line breaks or control characters")
    return value


def _options(values: Iterable[str]) -> list[str]:
    given = set()
    for value in values:
        if value not in MODEL_OPTIONS:
            raise Invalid(f"unknown model option {value!r}: the options are {', '.join(MODEL_OPTIONS)}")
        given.add(value)
    return [o for o in MODEL_OPTIONS if o in given]


def _rid(value: object, what: str) -> str:
    if not is_rid(value):
        raise Invalid(f"{what} must be a resource id (40 lowercase hexadecimal characters)")
    assert isinstance(value, str)
    return value


def _status(row: Mapping[Any, Any]) -> str:
    if row["rid"] is None:
        return "unused"
    if row["client_status"] == "expired":
        return "expired"
    if not row["enabled"]:
        return "disabled"
    # one state: the client's, whether its key was activated here or by its owner over RPC
    return "notactivated" if row["client_status"] == "notactivated" else "activated"


def _serial_of(row: Mapping[Any, Any]) -> Serial:
    return Serial(str(row["sn"]), _status(row), row["rid"], str(row["extra"]))


def _model_of(row: Mapping[Any, Any]) -> Model:
    return Model(str(row["name"]), str(row["template_rid"]), row["share_code"], tuple(row["options"]))


def _content_of(row: Mapping[Any, Any]) -> Content:
    return Content(
        str(row["content_id"]),
        str(row["meta"]),
        bool(row["protected"]),
        row["content_type"],
        int(row["size"]),
        int(row["updated_at"]),
        row["blob"],
    )


def _vendor_of(row: Mapping[Any, Any]) -> Vendor:
    return Vendor(str(row["name"]), str(row["client_rid"]), str(row["token"]), int(row["created_at"]))


def _few(values: Sequence[str]) -> str:
    shown = ", ".join(values[:5])
    return shown + (f" and {len(values) - 5} more" if len(values) > 5 else "")


class Provision:
    def __init__(self, store: Store, telemetry: Telemetry, blobs: Blobs) -> None:
        self.store = store
        self.telemetry = telemetry
        self.blobs = blobs

    # --- keys -------------------------------------------------------------------------------

    def _caller(self, conn: Tx, p: Principal) -> _Caller:
        """Who manages provisioning: a client authenticated by its CIK or by its vendor token
        (``ProvisioningKey``), and the vendor that client registered, if any."""
        if p.kind != "client" or p.client_rid is None or p.via not in ("cik", "vendor_token"):
            raise PermissionDenied("provisioning is managed with the vendor client's CIK or the vendor token")
        return _Caller(p.client_rid, sp.vendor_by_client(conn, p.client_rid), p.via == "vendor_token")

    def _vendor(self, conn: Tx, p: Principal) -> Row:
        caller = self._caller(conn, p)
        if caller.vendor is None:
            raise PermissionDenied("the key's client is not a vendor: register it as a vendor first")
        return caller.vendor

    def _model(self, conn: Tx, vendor: Mapping[Any, Any], name: str) -> Row:
        row = sp.model(conn, vendor["id"], name) if isinstance(name, str) else None
        if row is None:
            raise NotFound(f"vendor {vendor['name']} has no model {name!r}")
        return row

    def _serial(self, conn: Tx, model: Mapping[Any, Any], sn: str) -> Row:
        row = sp.serial(conn, model["id"], sn) if isinstance(sn, str) else None
        if row is None:
            raise NotFound(f"model {model['name']} has no serial number {sn!r}")
        return row

    # --- vendors ----------------------------------------------------------------------------

    def register(self, p: Principal, name: str) -> Vendor:
        """Registers the key's client as a vendor under ``name``, with a new vendor token."""
        name = _text(name, "the vendor name", VENDOR_MAX)
        taken = f"the vendor name {name!r} is taken, or this client is a vendor already"
        with self.store.write(conflict=taken) as conn:
            caller = self._caller(conn, p)
            if caller.vendor is not None:
                raise Conflict(
                    f"this client is vendor {caller.vendor['name']} already: a client registers one vendor"
                )
            if sp.vendor_by_name(conn, name) is not None:
                raise Conflict(f"the vendor name {name!r} is taken")
            row = {
                "id": new_id(),
                "name": name,
                "client_rid": caller.client_rid,
                "token": secrets.token_hex(20),
                "created_at": now(),
            }
            sp.insert_vendor(conn, row)
        return _vendor_of(row)

    def vendor(self, p: Principal) -> Vendor:
        """The vendor the key manages."""
        with self.store.read() as conn:
            caller = self._caller(conn, p)
            if caller.vendor is None:
                raise NotFound("the key's client has registered no vendor")
            return _vendor_of(caller.vendor)

    def vendor_of_client(self, client_rid: str) -> Vendor | None:
        """The vendor a client registered (with its token), for callers that checked access to the
        client themselves (the native API)."""
        with self.store.read() as conn:
            row = sp.vendor_by_client(conn, client_rid)
            return None if row is None else _vendor_of(row)

    def vendor_token(self, p: Principal) -> str:
        """The vendor token, for the holder of the vendor client's CIK (not of the token)."""
        with self.store.read() as conn:
            caller = self._caller(conn, p)
            if caller.vendor is None:
                raise NotFound("the key's client has registered no vendor")
            if caller.by_token:
                raise PermissionDenied("the vendor token is shown to the vendor client's CIK only")
            return str(caller.vendor["token"])

    def unregister(self, p: Principal, name: str) -> None:
        """Deletes the vendor with its models, serial numbers and content. The clients made by
        enabling serial numbers stay in their owners' trees."""
        name = _text(name, "the vendor name", VENDOR_MAX)
        with self.store.write() as conn:
            vendor = self._vendor(conn, p)
            if vendor["name"] != name:
                raise PermissionDenied(f"this key manages vendor {vendor['name']}, not {name}")
            sp.delete_vendor(conn, vendor["id"])

    # --- models -----------------------------------------------------------------------------

    def _template(
        self, conn: Tx, vendor: Mapping[Any, Any], *, rid: str | None, code: str | None
    ) -> tuple[str, str | None]:
        """The template client's RID and the share code it was named by, if any. An ``rid`` that
        is a share code counts as the code (pyonep's model_update sends a code as ``rid``)."""
        if (rid is None) == (code is None):
            raise Invalid("a model takes a template client: rid=<RID> or code=<share code>")
        if rid is not None and st.share(conn, rid) is not None:
            rid, code = None, rid
        if code is not None:
            share = st.share(conn, code) if isinstance(code, str) and code else None
            if share is None:
                raise Invalid("no share has this code: make one with the share procedure")
            source = st.get(conn, share["rid"])
            if source is None or source["type"] != "client":
                raise Invalid("the share's resource is not a client: a model's template is a client")
            return str(source["rid"]), code
        rid = _rid(rid, "rid")
        source = st.get(conn, rid)
        if source is None or not self.telemetry.tree.reaches(conn, vendor["client_rid"], rid):
            raise PermissionDenied(f"resource {rid} is not in the vendor client's tree")
        if source["type"] != "client":
            raise Invalid(f"resource {rid} is a {source['type']}: a model's template is a client")
        if rid == vendor["client_rid"]:
            raise Invalid("the vendor's own client cannot be a template: its clones would go inside it")
        return rid, None

    def create_model(
        self,
        p: Principal,
        name: str,
        *,
        rid: str | None = None,
        code: str | None = None,
        options: Iterable[str] = (),
    ) -> None:
        name = _text(name, "the model name", NAME_MAX, path=True)
        chosen = _options(options)
        with self.store.write(conflict=f"a model {name!r} exists already") as conn:
            vendor = self._vendor(conn, p)
            if sp.model(conn, vendor["id"], name) is not None:
                raise Conflict(f"vendor {vendor['name']} has a model {name!r} already")
            template, share_code = self._template(conn, vendor, rid=rid, code=code)
            sp.insert_model(
                conn,
                {
                    "id": new_id(),
                    "vendor_id": vendor["id"],
                    "name": name,
                    "template_rid": template,
                    "share_code": share_code,
                    "options": chosen,
                    "created_at": now(),
                },
            )

    def models(self, p: Principal) -> list[str]:
        with self.store.read() as conn:
            vendor = self._vendor(conn, p)
            return sp.model_names(conn, vendor["id"])

    def model(self, p: Principal, name: str) -> Model:
        with self.store.read() as conn:
            vendor = self._vendor(conn, p)
            return _model_of(self._model(conn, vendor, name))

    def update_model(
        self,
        p: Principal,
        name: str,
        *,
        rid: str | None = None,
        code: str | None = None,
        options: Iterable[str] = (),
    ) -> None:
        """Replaces the options and, when ``rid`` or ``code`` is given, the template. Clients
        made already stay as they are."""
        chosen = _options(options)
        with self.store.write() as conn:
            vendor = self._vendor(conn, p)
            row = self._model(conn, vendor, name)
            values: dict[str, Any] = {"options": chosen}
            if rid is not None or code is not None:
                values["template_rid"], values["share_code"] = self._template(
                    conn, vendor, rid=rid, code=code
                )
            sp.update_model(conn, row["id"], values)

    def remove_model(self, p: Principal, name: str) -> None:
        """Deletes the model with its serial numbers and content; their clients stay."""
        with self.store.write() as conn:
            vendor = self._vendor(conn, p)
            sp.delete_model(conn, self._model(conn, vendor, name)["id"])

    # --- serial numbers ---------------------------------------------------------------------

    def add_serials(self, p: Principal, model: str, entries: Sequence[tuple[str, str | None]]) -> None:
        """Adds serial numbers with their extra text, all or none: none may exist already."""
        if not entries:
            raise Invalid("no serial number given: send sn=<sn>, sn[]=<sn>... or CSV lines <sn>,<extra>")
        if len(entries) > MAX_BATCH:
            raise TooLarge(f"one request adds at most {MAX_BATCH} serial numbers; {len(entries)} were sent")
        checked = [
            (_text(sn, "a serial number", NAME_MAX, path=True, comma=False), _extra(extra))
            for sn, extra in entries
        ]
        twice = [sn for sn, n in Counter(sn for sn, _ in checked).items() if n > 1]
        if twice:
            raise Conflict(f"serial numbers given twice: {_few(twice)}")
        with self.store.write(conflict=f"model {model} has one of these serial numbers already") as conn:
            vendor = self._vendor(conn, p)
            row = self._model(conn, vendor, model)
            existing = sp.existing_serials(conn, row["id"], [sn for sn, _ in checked])
            if existing:
                raise Conflict(f"model {model} has these serial numbers already: {_few(existing)}")
            at = now()
            sp.insert_serials(
                conn,
                [
                    {
                        "id": new_id(),
                        "model_id": row["id"],
                        "sn": sn,
                        "extra": extra,
                        "rid": None,
                        "owner_rid": None,
                        "enabled": False,
                        "created_at": at,
                    }
                    for sn, extra in checked
                ],
            )

    def remove_serials(self, p: Principal, model: str, sns: Sequence[str]) -> None:
        """Removes serial numbers, all or none: each must exist. Their clients stay."""
        if not sns:
            raise Invalid("no serial number given: send sn=<sn> or sn[]=<sn>...")
        if len(sns) > MAX_BATCH:
            raise TooLarge(f"one request removes at most {MAX_BATCH} serial numbers; {len(sns)} were sent")
        unique = list(dict.fromkeys(sns))
        with self.store.write() as conn:
            vendor = self._vendor(conn, p)
            row = self._model(conn, vendor, model)
            existing = set(sp.existing_serials(conn, row["id"], unique))
            missing = [sn for sn in unique if sn not in existing]
            if missing:
                raise NotFound(f"model {model} has no serial numbers {_few(missing)}; none was removed")
            sp.delete_serials(conn, row["id"], unique)

    def remove_serial(self, p: Principal, model: str, sn: str) -> None:
        self.remove_serials(p, model, [sn])

    def serials(self, p: Principal, model: str, page: PageRequest) -> Page[Serial]:
        """A page of serial numbers in the order they were added, from a cursor or an offset."""
        window = SERIALS.open(page)
        with self.store.read() as conn:
            vendor = self._vendor(conn, p)
            row = self._model(conn, vendor, model)
            rows = sp.serials_page(
                conn, row["id"], after=window.after_text(), offset=window.offset, limit=window.limit
            )
        return SERIALS.page(rows, window, _serial_of)

    def serial(self, p: Principal, model: str, sn: str) -> Serial:
        with self.store.read() as conn:
            vendor = self._vendor(conn, p)
            return _serial_of(self._serial(conn, self._model(conn, vendor, model), sn))

    def activation_log(self, p: Principal, model: str, sn: str) -> list[LogEntry]:
        """The serial number's activation attempts, oldest first (the newest LOG_KEEP)."""
        with self.store.read() as conn:
            vendor = self._vendor(conn, p)
            row = self._serial(conn, self._model(conn, vendor, model), sn)
            return [
                LogEntry(int(e["at"]), str(e["connection"]), str(e["entry"])) for e in sp.log(conn, row["id"])
            ]

    def enable(self, p: Principal, model: str, sn: str, owner: str) -> str:
        """Clones the model's template under ``owner`` (a client in the vendor client's tree),
        binds the clone to the serial number and enables it for activation; the clone's RID."""
        owner = _rid(owner, "owner")
        with self.store.write() as conn:
            vendor = self._vendor(conn, p)
            model_row = self._model(conn, vendor, model)
            serial = self._serial(conn, model_row, sn)
            if serial["rid"] is not None:
                raise Conflict(
                    f"serial number {sn} has client {serial['rid']} already: re-enable it for a new key, "
                    "or remove it first"
                )
            owner_row = st.get(conn, owner)
            if owner_row is None or not self.telemetry.tree.reaches(conn, vendor["client_rid"], owner):
                raise PermissionDenied(f"owner {owner} is not in the vendor client's tree")
            if owner_row["type"] != "client":
                raise Invalid(f"owner {owner} is a {owner_row['type']}: only a client owns clients")
            template = self._template_client(conn, model_row)
            if self.telemetry.tree.reaches(conn, template, owner):
                raise Conflict(
                    f"owner {owner} is inside the model's template client: pick an owner outside it"
                )
            options = set(model_row["options"])
            rid = self.telemetry.resources.clone_into(
                conn,
                None,
                owner_row,
                rid=template,
                aliases="noaliases" not in options,
                historical="nohistorical" not in options,
                status="notactivated",
            )
            bound = sp.bind_serial(conn, serial["id"], {"rid": rid, "owner_rid": owner, "enabled": True})
            if not bound:  # a concurrent enable won: this transaction (and its clone) rolls back
                raise Conflict(f"serial number {sn} was enabled by another request meanwhile")
            return rid

    def _template_client(self, conn: Tx, model: Mapping[Any, Any]) -> str:
        code = model["share_code"]
        if code is not None:
            share = st.share(conn, code)
            if share is None:
                raise Conflict(f"the share code of model {model['name']} was revoked: update the model")
            template = str(share["rid"])
        else:
            template = str(model["template_rid"])
        row = st.get(conn, template)
        if row is None or row["type"] != "client":
            raise Conflict(f"the template client of model {model['name']} no longer exists: update the model")
        return template

    def reenable(self, p: Principal, model: str, sn: str) -> None:
        """A new key for the serial number's client, to be activated again; the old key stops
        working."""
        with self.store.write() as conn:
            vendor = self._vendor(conn, p)
            model_row = self._model(conn, vendor, model)
            sp.lock_serials(conn, [self._serial(conn, model_row, sn)["id"]])
            serial = self._serial(conn, model_row, sn)
            if serial["rid"] is None:
                raise Conflict(f"serial number {sn} has no client yet: enable it with an owner")
            self.telemetry.clients.regenerate_key(conn, serial["rid"], status="notactivated")
            sp.update_serial(conn, serial["id"], {"enabled": True})

    def remap(self, p: Principal, model: str, sn: str, oldsn: str) -> None:
        """Moves the client of ``oldsn`` to ``sn`` (which has none) with a new key, to be
        activated by the device of ``sn``; ``oldsn`` is left unused."""
        if sn == oldsn:
            raise Invalid("oldsn is the serial number itself")
        with self.store.write() as conn:
            vendor = self._vendor(conn, p)
            model_row = self._model(conn, vendor, model)
            sp.lock_serials(conn, [self._serial(conn, model_row, x)["id"] for x in (sn, oldsn)])
            serial = self._serial(conn, model_row, sn)
            old = self._serial(conn, model_row, oldsn)
            if serial["rid"] is not None:
                raise Conflict(f"serial number {sn} has client {serial['rid']} already: remove it first")
            if old["rid"] is None:
                raise Conflict(f"serial number {oldsn} has no client to move")
            self.telemetry.clients.regenerate_key(conn, old["rid"], status="notactivated")
            if not sp.unbind_serial(conn, old["id"], old["rid"]):
                raise Conflict(f"the client of serial number {oldsn} was moved by another request meanwhile")
            moved = sp.bind_serial(
                conn,
                serial["id"],
                {"rid": old["rid"], "owner_rid": old["owner_rid"], "enabled": True},
            )
            if not moved:
                raise Conflict(f"serial number {sn} was enabled by another request meanwhile")

    def disable(self, p: Principal, model: str, sn: str) -> None:
        """Refuses activation until the next re-enable. A key handed out already keeps working."""
        with self.store.write() as conn:
            vendor = self._vendor(conn, p)
            serial = self._serial(conn, self._model(conn, vendor, model), sn)
            sp.update_serial(conn, serial["id"], {"enabled": False})

    def activate(self, vendor: str, model: str, sn: str, *, connection: str = "") -> str:
        """The key of the serial number's client, handed out once: the serial number must be
        enabled and not activated yet. Each attempt is logged with ``connection`` (who asked)."""
        for value, what in ((vendor, "vendor"), (model, "model"), (sn, "sn")):
            if not isinstance(value, str) or not value:
                raise Invalid(f"activation needs vendor, model and sn; {what} is missing")
        connection = connection[:CONNECTION_MAX]
        refusal: str | None = None
        with self.store.write() as conn:
            vendor_row = sp.vendor_by_name(conn, vendor)
            model_row = None if vendor_row is None else sp.model(conn, vendor_row["id"], model)
            serial = None if model_row is None else sp.serial(conn, model_row["id"], sn)
            if serial is not None and model_row is not None:  # read again once locked
                sp.lock_serials(conn, [serial["id"]])
                serial = sp.serial(conn, model_row["id"], sn)
            if serial is None:
                raise NotFound(f"no serial number {sn!r} of model {model!r} of vendor {vendor!r}")
            at = now()
            status = _status(serial)
            if status == "unused":
                refusal = "not enabled for activation"
            elif status == "disabled":
                refusal = "disabled: re-enable it first"
            elif status == "expired":
                refusal = "the client's key was deactivated: re-enable it first"
            elif status == "activated" or not st.activate_client(conn, serial["rid"], at):
                refusal = "activated already: re-enable it for a new key"
            if refusal is None:
                sp.add_log(conn, serial["id"], at, connection, "activated", keep=LOG_KEEP)
                return str(serial["client_cik"])
            sp.add_log(conn, serial["id"], at, connection, f"refused: {refusal}", keep=LOG_KEEP)
        raise Conflict(f"serial number {sn} cannot be activated: {refusal}")

    # --- content ----------------------------------------------------------------------------

    def _content(self, conn: Tx, model: Mapping[Any, Any], content_id: str) -> Row:
        row = sp.content(conn, model["id"], content_id) if isinstance(content_id, str) else None
        if row is None:
            raise NotFound(f"model {model['name']} has no content {content_id!r}")
        return row

    def create_content(
        self, p: Principal, model: str, content_id: str, *, meta: str = "", protected: bool = False
    ) -> None:
        content_id = _text(content_id, "the content id", NAME_MAX, path=True)
        if not isinstance(meta, str) or len(meta) > META_MAX:
            raise Invalid(f"meta is text of at most {META_MAX} characters")
        with self.store.write(conflict=f"model {model} has content {content_id!r} already") as conn:
            vendor = self._vendor(conn, p)
            row = self._model(conn, vendor, model)
            if sp.content(conn, row["id"], content_id) is not None:
                raise Conflict(f"model {model} has content {content_id!r} already")
            sp.insert_content(
                conn,
                {
                    "id": new_id(),
                    "model_id": row["id"],
                    "content_id": content_id,
                    "meta": meta,
                    "protected": bool(protected),
                    "content_type": None,
                    "size": 0,
                    "blob": None,
                    "updated_at": now(),
                },
            )

    def contents(self, p: Principal, model: str) -> list[str]:
        with self.store.read() as conn:
            vendor = self._vendor(conn, p)
            return sp.content_ids(conn, self._model(conn, vendor, model)["id"])

    def content(self, p: Principal, model: str, content_id: str) -> Content:
        with self.store.read() as conn:
            vendor = self._vendor(conn, p)
            return _content_of(self._content(conn, self._model(conn, vendor, model), content_id))

    def check_upload(self, p: Principal, model: str, content_id: str) -> None:
        """Raises what ``store_content`` would, before the bytes are read."""
        self.content(p, model, content_id)

    def store_content(
        self, p: Principal, model: str, content_id: str, *, blob: str, size: int, content_type: str | None
    ) -> None:
        """Makes the bytes in the blob store (already written) the content's data."""
        kind = (content_type or "").strip() or DEFAULT_CONTENT_TYPE
        kind = _text(kind, "the content type", CONTENT_TYPE_MAX)
        if not self.blobs.exists(blob):
            raise NotFound(f"blob {blob} is not in the blob store")
        with self.store.write() as conn:
            vendor = self._vendor(conn, p)
            row = self._content(conn, self._model(conn, vendor, model), content_id)
            sp.update_content(
                conn, row["id"], {"content_type": kind, "size": size, "blob": blob, "updated_at": now()}
            )

    def remove_content(self, p: Principal, model: str, content_id: str) -> None:
        """Deletes the entry. (Its bytes stay in the blob store, which other entries may share.)"""
        with self.store.write() as conn:
            vendor = self._vendor(conn, p)
            sp.delete_content(conn, self._content(conn, self._model(conn, vendor, model), content_id)["id"])

    def _downloader(self, conn: Tx, p: Principal, vendor: str, model: str) -> tuple[Row, Row | None]:
        """The model and, for a device, its serial number (None for the vendor's own keys)."""
        caller = self._caller(conn, p)
        vendor_row = sp.vendor_by_name(conn, vendor) if isinstance(vendor, str) else None
        model_row = None if vendor_row is None else sp.model(conn, vendor_row["id"], model)
        if vendor_row is None or model_row is None:
            raise PermissionDenied(f"vendor {vendor!r} has no model {model!r}")
        if caller.client_rid == vendor_row["client_rid"]:  # the vendor's CIK or its token
            return model_row, None
        if caller.by_token:  # another vendor's token is no device's key
            raise Unauthenticated("no client has this key")
        serial = sp.serial_of_client(conn, model_row["id"], caller.client_rid)
        if serial is None:
            raise PermissionDenied(f"this key belongs to no device of model {model} of vendor {vendor}")
        return model_row, serial

    def device_contents(self, p: Principal, vendor: str, model: str) -> list[str]:
        """The content ids the key may download: all for the vendor, unprotected ones for a
        device, and protected ones too while its serial number is enabled."""
        with self.store.read() as conn:
            model_row, serial = self._downloader(conn, p, vendor, model)
            public_only = serial is not None and not serial["enabled"]
            return sp.content_ids(conn, model_row["id"], public_only=public_only)

    def device_content(self, p: Principal, vendor: str, model: str, content_id: str) -> Content:
        """The content, if the key may download it."""
        with self.store.read() as conn:
            model_row, serial = self._downloader(conn, p, vendor, model)
            row = self._content(conn, model_row, content_id)
            if row["protected"] and serial is not None and not serial["enabled"]:
                raise PermissionDenied(
                    f"content {content_id} is protected: only devices whose serial number is enabled "
                    "download it"
                )
            return _content_of(row)

    def open_content(self, content: Content) -> BinaryIO:
        """The content's bytes, opened for reading (the caller closes them)."""
        if content.blob is None:
            raise NotFound(f"no data was uploaded for content {content.content_id} yet")
        return self.blobs.open(content.blob)
