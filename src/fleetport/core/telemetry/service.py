"""Telemetry: the One Platform resource tree (clients owning clients, dataports, datarules and
dispatches) and the points of its series.

Every organization has a root client, made on first use; a machine may own a device client under
it. Resources are named by 40-hex RIDs; each client has a 40-hex key (a CIK) that authenticates
as that client, with full control of its sub-tree. A caller authenticated by a key is a
``Principal`` of kind ``client``; it reaches a resource when its client is the resource or one of
the resource's ancestors, and reads (only) resources shared with it by a share code it activated.
A token from ``grant`` acts as one client, limited to some procedures on some sub-trees. Aliases
name resources under the client that made them.

Points carry a timestamp in Unix seconds and a value of the resource's format. A dataport keeps
the points its retention allows (a count and an age, either unlimited), enforced on write and by
``sweep``. A new point flows to the resources subscribed to its resource: a dataport stores it
(after its preprocess steps), a datarule evaluates its rule and stores the outcome, a dispatch
sends it over HTTP. New points are published on the bus (topic ``points:<rid>``) after commit.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from fleetport.bus import Bus
from fleetport.core import access
from fleetport.core.errors import (
    Conflict,
    CoreError,
    Invalid,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from fleetport.core.permissions import Principal
from fleetport.core.telemetry import values as tv
from fleetport.core.telemetry.dispatch import Dispatcher, Sending
from fleetport.store import Store
from fleetport.store import series as series_store
from fleetport.store import telemetry as st

log = logging.getLogger(__name__)

ResourceType = Literal["client", "dataport", "datarule", "dispatch"]
RESOURCE_TYPES: tuple[str, ...] = ("client", "dataport", "datarule", "dispatch")
SERIES_TYPES: tuple[str, ...] = ("dataport", "datarule", "dispatch")
LISTING_TYPES: tuple[str, ...] = (*RESOURCE_TYPES, "token")
CONSUMABLES: tuple[str, ...] = ("share", "email", "http", "sms", "xmpp")
DISPATCH_METHODS: tuple[str, ...] = ("http_get", "http_post", "http_put")
UNSENT_METHODS: tuple[str, ...] = ("email", "sms", "xmpp")
FORMATS = tv.FORMATS
Value = tv.Value

# What a shared resource allows the client that activated its share code: reading only.
SHARED_ACTIONS = frozenset({"read", "info", "wait", "lookup", "listing", "usage"})
TOKEN_PERMISSIONS = frozenset(
    {
        "activate",
        "create",
        "deactivate",
        "drop",
        "flush",
        "grant",
        "info",
        "listing",
        "lookup",
        "map",
        "move",
        "read",
        "record",
        "recordbatch",
        "revoke",
        "share",
        "tag",
        "unmap",
        "update",
        "usage",
        "wait",
        "write",
        "writegroup",
    }
)

MAX_DEPTH = 64  # how deep a resource tree may grow
MAX_READ = 100_000  # points one read returns at most
MAX_RECORD = 10_000  # points one record call carries at most
MAX_FLOW = 16  # how many subscriptions a point may flow through
MAX_TOKEN_TTL = 10 * 365 * 24 * 3600
NAME_MAX = 200
META_MAX = 64 * 1024
ALIAS_MAX = 255
TAG_MAX = 255


class Expired(Unauthenticated):
    """A token past its time to live, or a deactivated key."""

    code = "expired"


class Unsupported(CoreError):
    """Something this server does not do (Lua scripts, email dispatches)."""

    code = "unsupported"


class ShareInvalid(Invalid):
    """A share or client code that is unknown, already used, or not for this caller."""


@dataclass(frozen=True)
class Alias:
    """A resource named by an alias its calling client made; ``Alias("")`` is the calling client."""

    name: str


Ref = str | Alias  # a 40-hex RID or an alias


@dataclass
class NewResource:
    type: ResourceType
    name: str = ""
    meta: str = ""
    public: bool = False
    format: str | None = None  # series resources: one of FORMATS
    retention_count: int | None = None  # None: unlimited
    retention_seconds: int | None = None  # None: unlimited
    preprocess: list[list[Any]] = field(default_factory=list)
    subscribe: Ref | None = None  # the resource whose points flow in
    rule: Any = None  # datarules: the rule object
    method: str | None = None  # dispatches
    recipient: str = ""
    message: str = ""
    subject: str = ""
    description: dict[str, Any] = field(default_factory=dict)  # kept as given, shown by info


@dataclass
class ResourceChanges:
    """An update: None leaves a field as it is."""

    name: str | None = None
    meta: str | None = None
    public: bool | None = None
    format: str | None = None  # may only repeat the current format
    retention_count: int | None = None
    retention_seconds: int | None = None
    unlimited_count: bool = False
    unlimited_seconds: bool = False
    preprocess: list[list[Any]] | None = None
    subscribe: Ref | None = None
    unsubscribe: bool = False
    rule: Any = None
    description: dict[str, Any] = field(default_factory=dict)  # merged into the stored one


@dataclass(frozen=True)
class Resource:
    rid: str
    type: str
    parent_rid: str | None
    organization_id: str
    machine_id: str | None
    status: str
    name: str
    meta: str
    public: bool
    tags: list[str]
    description: dict[str, Any]
    format: str | None
    retention_count: int | None
    retention_seconds: int | None
    subscribe_rid: str | None
    created_at: int
    modified_at: int

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Resource:
        return cls(
            rid=row["rid"],
            type=row["type"],
            parent_rid=row["parent_rid"],
            organization_id=row["organization_id"],
            machine_id=row["machine_id"],
            status=row["status"],
            name=row["name"],
            meta=row["meta"],
            public=bool(row["public"]),
            tags=list(row["tags"] or []),
            description=dict(row["description"] or {}),
            format=row["format"],
            retention_count=row["retention_count"],
            retention_seconds=row["retention_seconds"],
            subscribe_rid=row["subscribe_rid"],
            created_at=int(row["created_at"]),
            modified_at=int(row["modified_at"]),
        )


@dataclass(frozen=True)
class ClientKey:
    rid: str
    cik: str | None  # None when the caller may not see it


@dataclass(frozen=True)
class Storage:
    count: int
    first: int | None
    last: int | None
    size: int


@dataclass(frozen=True)
class Share:
    code: str
    rid: str
    meta: str
    activator: str | None


@dataclass(frozen=True)
class ResourceInfo:
    resource: Resource
    key: str | None  # the CIK of a client: only for its direct owner
    aliases: dict[str, list[str]] | None  # a client's aliases by RID: for the client and its owner
    counts: dict[str, int]  # a client's children by type, and consumables used
    usage: dict[str, int]  # the same over the client's whole sub-tree
    storage: Storage | None  # series resources
    shares: list[Share] | None  # for the owner and the resource itself
    subscribers: list[str]  # the resources its points flow to


@dataclass(frozen=True)
class RecordFailure:
    timestamp: Any  # as given
    reason: str


@dataclass
class _Effects:
    """What a write leaves to do once it has committed."""

    published: dict[str, tuple[int, Value]] = field(default_factory=dict)  # rid -> newest point
    sendings: list[Sending] = field(default_factory=list)


def new_rid() -> str:
    return secrets.token_hex(20)


def series_of(rid: str) -> int:
    return int(rid[:15], 16)


def now() -> int:
    return int(time.time())


def topic(rid: str) -> str:
    """The bus topic a resource's new points are published on: ``(timestamp, value)``."""
    return f"points:{rid}"


def is_rid(value: object) -> bool:
    return isinstance(value, str) and len(value) == 40 and all(ch in "0123456789abcdef" for ch in value)


def _text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{what} must be a string")
    if len(value) > limit:
        raise Invalid(f"{what} is longer than {limit} characters")
    return value


def _retention(value: int | None, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Invalid(f"retention {what} must be a non-negative integer or unlimited")
    return value


def _int_or_none(value: object, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{what} must be an integer timestamp")
    return value


def _float_columns(points: Sequence[object]) -> tuple[list[int], list[float], list[int]]:
    """The fast path of float ingest: timestamps and values of the well-formed points, and the
    indexes of the others (checked again by the general path)."""
    stamps: list[int] = []
    values: list[float] = []
    add_ts, add_value = stamps.append, values.append
    others: list[int] = []
    limit = tv.INT64
    for index, point in enumerate(points):
        if type(point) is list and len(point) == 2:
            ts, value = point
            if type(ts) is int and 0 <= ts < limit:
                kind = type(value)
                if kind is float:
                    if value - value == 0.0:  # finite
                        add_ts(ts)
                        add_value(value)
                        continue
                elif kind is int and -limit <= value < limit:
                    add_ts(ts)
                    add_value(float(value))
                    continue
        others.append(index)
    return stamps, values, others


class Telemetry:
    def __init__(self, store: Store, bus: Bus | None = None, dispatcher: Dispatcher | None = None) -> None:
        self.store = store
        self.bus = bus
        self.dispatcher = dispatcher if dispatcher is not None else Dispatcher()

    # --- entry points from the rest of the fleet --------------------------------------------

    def root_client(self, p: Principal, organization_id: str) -> ClientKey:
        """The organization's root client, made on first use. Its key only for holders of
        update_organization."""
        with self.store.write() as conn:
            org = access.organization(conn, p, "read_organization", organization_id)
            row = self._root(conn, org["id"])
            may_see = p.scope(conn, "update_organization").covers_organization(org["id"])
            return ClientKey(row["rid"], row["cik"] if may_see else None)

    def device_client(self, p: Principal, machine_id: str) -> ClientKey:
        """The machine's device client (a child of its organization's root client), made on
        first use. Its key only for holders of update_robot."""
        with self.store.write() as conn:
            machine = access.machine(conn, p, "read_robot", machine_id)
            row = self._device(conn, machine)
            scope = p.scope(conn, "update_robot")
            may_see = scope.covers_robot(machine["id"], machine["location_id"], machine["organization_id"])
            return ClientKey(row["rid"], row["cik"] if may_see else None)

    def as_device(self, p: Principal, machine_id: str, *, write: bool) -> Principal:
        """The machine's device client as a caller, for a principal allowed to read (or, with
        ``write``, to control) the machine: how the native API reaches a machine's dataports."""
        permission = "update_robot" if write else "read_robot"
        with self.store.read() as conn:  # the device client exists, mostly: no write lock
            machine = access.machine(conn, p, permission, machine_id)
            row = st.of_machine(conn, machine["id"])
        if row is None:
            with self.store.write() as conn:
                row = self._device(conn, access.machine(conn, p, permission, machine_id))
        rid = str(row["rid"])
        actions = None if write else {rid: frozenset(SHARED_ACTIONS)}
        return Principal(
            kind="client",
            id=rid,
            display=f"{p.display} as client {rid}",
            client_rid=rid,
            token_permissions=actions,
        )

    def _device(self, conn: Connection, machine: Mapping[Any, Any]) -> RowMapping:
        row = st.of_machine(conn, machine["id"])
        if row is None:
            root = self._root(conn, machine["organization_id"])
            rid, at = new_rid(), now()
            st.insert_resource(
                conn,
                {
                    **_client_row(rid, root["organization_id"], root["rid"], at),
                    "machine_id": machine["id"],
                    "name": machine["name"][:NAME_MAX],
                },
            )
            row = st.get(conn, rid)
            assert row is not None
        return row

    def _root(self, conn: Connection, organization_id: str) -> RowMapping:
        row = st.root_of(conn, organization_id)
        if row is None:
            rid = new_rid()
            st.insert_resource(
                conn, {**_client_row(rid, organization_id, None, now()), "root_of": organization_id}
            )
            row = st.get(conn, rid)
            assert row is not None
        return row

    def authenticate(
        self, cik: str, *, client_id: str | None = None, resource_id: str | None = None
    ) -> Principal:
        """The client a key authenticates. With ``client_id`` the caller acts as that descendant
        client; with ``resource_id`` as the owner of that descendant resource."""
        if not is_rid(cik):
            raise Unauthenticated("the key is not 40 hexadecimal characters")
        with self.store.read() as conn:
            row = st.by_cik(conn, cik)
            if row is None:
                raise Unauthenticated("no client has this key")
            if row["status"] == "expired":
                raise Expired("this key was deactivated")
            if row["status"] == "notactivated":  # a provisioned device's key, until it is activated
                raise Unauthenticated("this key has not been activated")
            acting: str = row["rid"]
            if client_id is not None or resource_id is not None:
                target = client_id if client_id is not None else resource_id
                if not is_rid(target) or not self._reaches(conn, acting, str(target)):
                    raise Unauthenticated("the key's client is no ancestor of that resource")
                resource = st.get(conn, str(target))
                assert resource is not None
                if client_id is not None:
                    if resource["type"] != "client":
                        raise Unauthenticated("client_id names no client")
                    acting = resource["rid"]
                else:
                    if resource["parent_rid"] is None:
                        raise Unauthenticated("a root client has no owner")
                    acting = resource["parent_rid"]
        return _client_principal(acting)

    def authenticate_token(self, token: str) -> Principal:
        """The client a token from ``grant`` acts as, with the token's permissions."""
        if not is_rid(token):
            raise Unauthenticated("a token is 40 hexadecimal characters")
        with self.store.read() as conn:
            row = st.token(conn, token)
            if row is None:
                raise Unauthenticated("no such token")
            if row["expires_at"] is not None and row["expires_at"] <= now():
                raise Expired("the token's time to live has passed")
            client = str(row["client_rid"])
        permissions = {rid: frozenset(names) for rid, names in dict(row["permissions"]).items()}
        return Principal(
            kind="client",
            id=client,
            display=f"token for client {client}",
            client_rid=client,
            token_permissions=permissions,
        )

    # --- resolving and checking ------------------------------------------------------------

    def _caller(self, p: Principal) -> str:
        if p.kind != "client" or not p.client_rid:
            raise PermissionDenied("the telemetry resource tree is reached through a client key")
        return p.client_rid

    def _reaches(self, conn: Connection, client: str, rid: str) -> bool:
        """Whether ``client`` is ``rid`` or one of its ancestors."""
        current: str | None = rid
        for _ in range(MAX_DEPTH + 1):
            if current is None:
                return False
            if current == client:
                return True
            current = st.parent_of(conn, current)
        return False

    def _ancestors(self, conn: Connection, rid: str) -> list[str]:
        """``rid`` and its ancestors, nearest first."""
        out: list[str] = []
        current: str | None = rid
        while current is not None and len(out) <= MAX_DEPTH:
            out.append(current)
            current = st.parent_of(conn, current)
        return out

    def _permit(self, conn: Connection, p: Principal, action: str, rid: str) -> None:
        """A token allows ``action`` on ``rid`` when one of its grants covers ``rid``'s sub-tree."""
        if p.token_permissions is None:
            return
        line = set(self._ancestors(conn, rid))
        for granted, actions in p.token_permissions.items():
            if action in actions and granted in line:
                return
        raise PermissionDenied(f"this token does not allow {action} on {rid}")

    def _target(self, conn: Connection, client: str, ref: Ref) -> str:
        if isinstance(ref, Alias):
            if ref.name == "":
                return client
            target = st.alias_target(conn, client, ref.name)
            if target is None:
                raise NotFound(f"no alias {ref.name!r} under the calling client")
            return target
        if not is_rid(ref):
            raise Invalid("a resource is a 40-hex RID or an alias")
        return ref

    def _resolve(self, conn: Connection, p: Principal, ref: Ref, action: str) -> tuple[str, RowMapping]:
        """The caller's client and the resource named, which the caller must reach (or, to read,
        have activated a share of)."""
        client = self._caller(p)
        rid = self._target(conn, client, ref)
        row = st.get(conn, rid)
        if row is None:
            raise PermissionDenied(f"resource {rid} is not in the calling client's tree")
        reachable = self._reaches(conn, client, rid) or (
            action in SHARED_ACTIONS and self._shared_with(conn, client, rid)
        )
        if not reachable:
            raise PermissionDenied(f"resource {rid} is not in the calling client's tree")
        self._permit(conn, p, action, rid)
        return client, row

    def _shared_with(self, conn: Connection, client: str, rid: str) -> bool:
        return st.shared_with(conn, client, self._ancestors(conn, rid))

    def _series(self, conn: Connection, p: Principal, ref: Ref, action: str) -> RowMapping:
        _, row = self._resolve(conn, p, ref, action)
        if row["type"] not in SERIES_TYPES:
            raise Invalid(f"resource {row['rid']} is a {row['type']}, which holds no points")
        return row

    def _own(self, conn: Connection, p: Principal, action: str) -> tuple[str, RowMapping]:
        """The calling client, for procedures that act on it implicitly."""
        client = self._caller(p)
        row = st.get(conn, client)
        if row is None:
            raise PermissionDenied("the calling client no longer exists")
        self._permit(conn, p, action, client)
        return client, row

    def resolve(self, p: Principal, ref: Ref, action: str = "lookup") -> str:
        """The RID a reference names, if the caller reaches it."""
        with self.store.read() as conn:
            _, row = self._resolve(conn, p, ref, action)
            return str(row["rid"])

    # --- the tree --------------------------------------------------------------------------

    def create(
        self, p: Principal, spec: NewResource, *, under: Ref | None = None, alias: str | None = None
    ) -> str:
        """Creates a resource owned by the calling client (or by ``under``, a client in its tree);
        its RID. With ``alias`` the owner also names it, in the same transaction (Conflict when
        the alias is taken)."""
        if spec.type not in RESOURCE_TYPES:
            raise Invalid(f"type must be one of {', '.join(RESOURCE_TYPES)}")
        values: dict[str, Any] = {
            "name": _text(spec.name, "name", NAME_MAX),
            "meta": _text(spec.meta, "meta", META_MAX),
        }
        if not isinstance(spec.public, bool):
            raise Invalid("public must be true or false")
        values["public"] = spec.public
        description = dict(spec.description)
        if spec.type in SERIES_TYPES:
            fmt = spec.format
            if fmt is None and spec.type != "dataport":
                fmt = "integer" if spec.type == "datarule" else "string"
            if fmt not in FORMATS:
                raise Invalid(f"format must be one of {', '.join(FORMATS)}")
            values["format"] = fmt
            values["retention_count"] = _retention(spec.retention_count, "count")
            values["retention_seconds"] = _retention(spec.retention_seconds, "duration")
            description["preprocess"] = tv.check_preprocess(spec.preprocess)
        if spec.type == "datarule":
            try:
                tv.parse_rule(spec.rule)
            except tv.ScriptRule as exc:
                raise Unsupported(str(exc)) from None
            description["rule"] = spec.rule
        if spec.type == "dispatch":
            if spec.method in UNSENT_METHODS:
                raise Unsupported(
                    f"dispatch method {spec.method} is not supported: "
                    f"use one of {', '.join(DISPATCH_METHODS)}"
                )
            if spec.method not in DISPATCH_METHODS:
                raise Invalid(f"method must be one of {', '.join(DISPATCH_METHODS)}")
            if not isinstance(spec.recipient, str) or not spec.recipient.startswith(("http://", "https://")):
                raise Invalid("an http dispatch's recipient is an http:// or https:// URL")
            for what in ("message", "subject"):
                _text(getattr(spec, what), what, META_MAX)
            description.update(
                method=spec.method, recipient=spec.recipient, message=spec.message, subject=spec.subject
            )
        effects = _Effects()
        with self.store.write() as conn:
            if under is None:
                owner, owner_row = self._own(conn, p, "create")
            else:
                _, owner_row = self._resolve(conn, p, under, "create")
                owner = str(owner_row["rid"])
            if owner_row["type"] != "client":
                raise Invalid(f"resource {owner} is a {owner_row['type']}: only clients own resources")
            if spec.subscribe is not None:
                _, source = self._resolve(conn, p, spec.subscribe, "read")
                values["subscribe_rid"] = source["rid"]
            rid, at = self._insert(conn, spec.type, owner_row, {**values, "description": description})
            if alias is not None:
                alias = _text(alias, "alias", ALIAS_MAX)
                if not alias:
                    raise Invalid("an alias may not be empty")
                if st.alias_target(conn, owner, alias) is not None:
                    raise Conflict(f"alias {alias!r} is already mapped")
                st.add_alias(conn, owner, alias, rid)
            if spec.type == "datarule":
                self._arm(conn, rid, tv.parse_rule(spec.rule), at)
        self._after(effects)
        return rid

    def _insert(
        self, conn: Connection, kind: str, owner: Mapping[Any, Any], values: Mapping[Any, Any]
    ) -> tuple[str, int]:
        """Inserts a resource under ``owner`` with a fresh RID (and series, and key)."""
        at = now()
        for _ in range(8):
            rid = new_rid()
            if kind == "client":
                row = _client_row(rid, owner["organization_id"], owner["rid"], at)
            else:
                row = {**_resource_row(rid, kind, owner["organization_id"], owner["rid"], at)}
                row["series"] = series_of(rid)
                if st.series_taken(conn, row["series"]):
                    continue
            st.insert_resource(conn, {**row, **values})
            return rid, at
        raise Conflict("could not find a free resource id")  # pragma: no cover - 2**60 space

    def _arm(self, conn: Connection, rid: str, rule: tv.Rule, at: int) -> None:
        """A timeout rule starts its clock when it is made."""
        if rule.kind == "timeout":
            assert rule.timeout is not None
            st.update_resource(conn, rid, {"deadline": at + rule.timeout, "state": {}})

    def info(self, p: Principal, ref: Ref) -> ResourceInfo:
        with self.store.read() as conn:
            client, row = self._resolve(conn, p, ref, "info")
            resource = Resource.from_row(row)
            owner_or_self = client in (resource.rid, resource.parent_rid)
            is_client = resource.type == "client"
            counts: dict[str, int] = {}
            usage: dict[str, int] = {}
            if is_client:
                counts = st.count_children(conn, resource.rid)
                counts.update(st.consumed(conn, [resource.rid]))
                subtree = st.subtree(conn, resource.rid)
                for _, kind in subtree[1:]:
                    usage[kind] = usage.get(kind, 0) + 1
                usage.update(st.consumed(conn, [rid for rid, _ in subtree]))
            storage = None
            if row["series"] is not None:
                count, first, last, size = series_store.storage(conn, row["series"])
                storage = Storage(count, first, last, size)
            shares = None
            if owner_or_self:
                shares = [
                    Share(s["code"], s["rid"], s["meta"], s["activator_rid"])
                    for s in st.shares_of(conn, resource.rid)
                ]
            return ResourceInfo(
                resource=resource,
                key=row["cik"] if is_client and client == resource.parent_rid else None,
                aliases=st.aliases_under(conn, resource.rid) if is_client and owner_or_self else None,
                counts=counts,
                usage=usage,
                storage=storage,
                shares=shares,
                subscribers=st.subscribers_of(conn, resource.rid),
            )

    def listing(
        self,
        p: Principal,
        ref: Ref,
        types: Sequence[str],
        *,
        owned: bool = False,
        public: bool = False,
        aliased: bool = False,
        activated: bool = False,
        tagged: Sequence[str] = (),
    ) -> dict[str, list[str]]:
        """The RIDs of the client's resources of each type. The flags select children that are
        owned, public, aliased by the client, or shared with it by a share it activated; several
        flags take the union, none means owned. ``tagged`` keeps resources carrying every given
        tag. The type ``token`` lists the client's unexpired tokens."""
        for kind in types:
            if kind not in LISTING_TYPES:
                raise Invalid(f"{kind!r} is not a resource type: use {', '.join(LISTING_TYPES)}")
        with self.store.read() as conn:
            _, row = self._resolve(conn, p, ref, "listing")
            if row["type"] != "client":
                raise Invalid("listing needs a client")
            client = str(row["rid"])
            if not (owned or public or aliased or activated):
                owned = True
            wanted = [k for k in types if k in RESOURCE_TYPES]
            kids = st.children(conn, client, wanted) if owned or public else []
            found: dict[str, dict[str, list[str]]] = {}  # type -> rid -> tags
            out: dict[str, list[str]] = {kind: [] for kind in types}
            picked: list[tuple[str, str, list[str]]] = []
            for kid in kids:
                if owned or kid["public"]:
                    picked.append((kid["rid"], kid["type"], list(kid["tags"] or [])))
            if aliased:
                picked.extend(
                    (r["rid"], r["type"], list(r["tags"] or [])) for r in st.aliased(conn, client, wanted)
                )
            if activated:
                picked.extend(
                    (r["rid"], r["type"], list(r["tags"] or [])) for r in st.activated(conn, client, wanted)
                )
            for rid, kind, tags in picked:
                if all(tag in tags for tag in tagged) and rid not in found.setdefault(kind, {}):
                    found[kind][rid] = tags
                    out[kind].append(rid)
            if "token" in types:
                out["token"] = st.tokens_of(conn, client, now())
            return out

    def lookup_alias(self, p: Principal, alias: str, *, under: Ref | None = None) -> str:
        """The RID an alias names, among the aliases of ``under`` (the calling client by default);
        ``""`` names that client itself."""
        alias = _text(alias, "alias", ALIAS_MAX)
        with self.store.read() as conn:
            owner = self._owner(conn, p, under, "lookup")
            if alias == "":
                return owner
            target = st.alias_target(conn, owner, alias)
            if target is None:
                raise NotFound(f"no alias {alias!r} under client {owner}")
            return target

    def lookup_shared(self, p: Principal, code: str) -> str:
        """The RID a share code shares."""
        with self.store.read() as conn:
            self._own(conn, p, "lookup")
            share = st.share(conn, code) if isinstance(code, str) else None
            if share is None:
                raise NotFound("no share has this code")
            return str(share["rid"])

    def _owner(self, conn: Connection, p: Principal, under: Ref | None, action: str) -> str:
        """The client whose aliases a call works on: ``under`` or the calling client."""
        if under is None:
            client, _ = self._own(conn, p, action)
            return client
        _, row = self._resolve(conn, p, under, action)
        if row["type"] != "client":
            raise Invalid(f"resource {row['rid']} is a {row['type']}, not a client")
        return str(row["rid"])

    def lookup_owner(self, p: Principal, ref: Ref) -> str:
        with self.store.read() as conn:
            client, row = self._resolve(conn, p, ref, "lookup")
            if row["parent_rid"] is None or row["rid"] == client:
                raise PermissionDenied("the owner of the calling client is outside its tree")
            return str(row["parent_rid"])

    def map_alias(self, p: Principal, ref: Ref, alias: str, *, under: Ref | None = None) -> None:
        alias = _text(alias, "alias", ALIAS_MAX)
        if not alias:
            raise Invalid("an alias may not be empty")
        try:
            with self.store.write() as conn:
                owner = self._owner(conn, p, under, "map")
                _, row = self._resolve(conn, p, ref, "map")
                if st.alias_target(conn, owner, alias) is not None:
                    raise Conflict(f"alias {alias!r} is already mapped")
                st.add_alias(conn, owner, alias, row["rid"])
        except IntegrityError:
            raise Conflict(f"alias {alias!r} is already mapped") from None

    def unmap_alias(self, p: Principal, alias: str, *, under: Ref | None = None) -> None:
        alias = _text(alias, "alias", ALIAS_MAX)
        with self.store.write() as conn:
            owner = self._owner(conn, p, under, "unmap")
            if st.remove_alias(conn, owner, alias) == 0:
                raise NotFound(f"no alias {alias!r} under client {owner}")

    def drop(self, p: Principal, ref: Ref) -> None:
        """Deletes a resource the caller owns, with its whole sub-tree and points."""
        with self.store.write() as conn:
            client, row = self._resolve(conn, p, ref, "drop")
            if row["rid"] == client:
                raise PermissionDenied("a client may not drop itself")
            if row["parent_rid"] is None:
                raise PermissionDenied("a root client cannot be dropped")
            st.delete_resource(conn, row["rid"])

    def move(self, p: Principal, ref: Ref, destination: Ref, *, aliases: bool = True) -> None:
        """Gives a resource a new owner client in the caller's tree. With ``aliases`` the old owner's
        aliases of it move along; otherwise they are removed."""
        with self.store.write() as conn:
            client, row = self._resolve(conn, p, ref, "move")
            _, dest = self._resolve(conn, p, destination, "move")
            rid, old_owner = str(row["rid"]), row["parent_rid"]
            if rid == client:
                raise PermissionDenied("a resource may not move itself")
            if dest["type"] != "client":
                raise Invalid("resources move to a client")
            if self._reaches(conn, rid, str(dest["rid"])):
                raise Invalid("a resource cannot move under itself")
            if dest["rid"] == old_owner:
                return
            st.update_resource(conn, rid, {"parent_rid": dest["rid"], "modified_at": now()})
            if old_owner is not None:
                st.move_aliases(conn, rid, str(old_owner), str(dest["rid"]), keep=aliases)

    def update(self, p: Principal, ref: Ref, changes: ResourceChanges) -> None:
        with self.store.write() as conn:
            client, row = self._resolve(conn, p, ref, "update")
            if row["rid"] == client:
                raise PermissionDenied("a resource may not update itself")
            values: dict[str, Any] = {}
            if changes.name is not None:
                values["name"] = _text(changes.name, "name", NAME_MAX)
            if changes.meta is not None:
                values["meta"] = _text(changes.meta, "meta", META_MAX)
            if changes.public is not None:
                if not isinstance(changes.public, bool):
                    raise Invalid("public must be true or false")
                values["public"] = changes.public
            if changes.format is not None and changes.format != row["format"]:
                raise Invalid("the format of a resource cannot change")
            description = {**(row["description"] or {}), **changes.description}
            if row["type"] in SERIES_TYPES:
                if changes.unlimited_count:
                    values["retention_count"] = None
                elif changes.retention_count is not None:
                    values["retention_count"] = _retention(changes.retention_count, "count")
                if changes.unlimited_seconds:
                    values["retention_seconds"] = None
                elif changes.retention_seconds is not None:
                    values["retention_seconds"] = _retention(changes.retention_seconds, "duration")
                if changes.preprocess is not None:
                    description["preprocess"] = tv.check_preprocess(changes.preprocess)
                if changes.unsubscribe:
                    values["subscribe_rid"] = None
                elif changes.subscribe is not None:
                    _, source = self._resolve(conn, p, changes.subscribe, "read")
                    if source["rid"] == row["rid"]:
                        raise Invalid("a resource cannot subscribe to itself")
                    values["subscribe_rid"] = source["rid"]
            if row["type"] == "datarule" and changes.rule is not None:
                try:
                    rule = tv.parse_rule(changes.rule)
                except tv.ScriptRule as exc:
                    raise Unsupported(str(exc)) from None
                description["rule"] = changes.rule
                values["state"] = None
                values["deadline"] = None
            values["description"] = description
            values["modified_at"] = now()
            st.update_resource(conn, row["rid"], values)
            if row["type"] == "datarule" and changes.rule is not None:
                self._arm(conn, row["rid"], rule, now())
            if row["type"] in SERIES_TYPES:
                self._enforce_retention(conn, {**row, **values}, now())

    def tag(self, p: Principal, ref: Ref, action: str, name: str) -> None:
        """Adds or removes a tag on a resource in the caller's tree."""
        name = _text(name, "tag", TAG_MAX)
        if not name:
            raise Invalid("a tag may not be empty")
        if action not in ("add", "remove"):
            raise Invalid("tag action is add or remove")
        with self.store.write() as conn:
            _, row = self._resolve(conn, p, ref, "tag")
            tags = list(row["tags"] or [])
            if action == "add" and name not in tags:
                tags.append(name)
            elif action == "remove":
                if name not in tags:
                    raise NotFound(f"resource {row['rid']} has no tag {name!r}")
                tags.remove(name)
            st.update_resource(conn, row["rid"], {"tags": tags, "modified_at": now()})

    def clone(
        self,
        p: Principal,
        *,
        rid: str | None = None,
        code: str | None = None,
        aliases: bool = True,
        historical: bool = True,
    ) -> str:
        """Copies a client and its sub-tree (resources, aliases unless not ``aliases``, points
        unless not ``historical``) under the calling client; the copy's RID. The original is named
        by RID (in the caller's tree) or by a share code."""
        with self.store.write() as conn:
            _, owner_row = self._own(conn, p, "create")
            return self.clone_into(
                conn, p, owner_row, rid=rid, code=code, aliases=aliases, historical=historical
            )

    def clone_into(
        self,
        conn: Connection,
        p: Principal | None,
        owner: Mapping[Any, Any],
        *,
        rid: str | None = None,
        code: str | None = None,
        aliases: bool = True,
        historical: bool = True,
        status: str = "activated",
    ) -> str:
        """``clone`` inside a transaction; ``p`` None skips the caller's access check (the
        provisioning service checked it). The new client gets ``status``."""
        if (rid is None) == (code is None):
            raise Invalid("clone takes an rid or a share code")
        if code is not None:
            share = st.share(conn, code) if isinstance(code, str) else None
            if share is None:
                raise NotFound("no share has this code")
            source = st.get(conn, share["rid"])
        else:
            if p is not None:
                _, source = self._resolve(conn, p, str(rid), "read")
            else:
                source = st.get(conn, str(rid))
        if source is None or source["type"] != "client":
            raise Invalid("only a client can be cloned")
        if self._reaches(conn, source["rid"], owner["rid"]):
            raise Invalid("a client cannot be cloned under itself")
        nodes = st.subtree(conn, source["rid"])  # parents before children
        mapping: dict[str, str] = {}
        for old_rid, _kind in nodes:
            old = st.get(conn, old_rid)
            assert old is not None
            parent = owner if old_rid == source["rid"] else {"rid": mapping[old["parent_rid"]]}
            copy = {
                k: old[k]
                for k in (
                    "name",
                    "meta",
                    "public",
                    "tags",
                    "description",
                    "format",
                    "retention_count",
                    "retention_seconds",
                    "state",
                    "deadline",
                )
            }
            copy["subscribe_rid"] = old["subscribe_rid"]
            new, _ = self._insert(
                conn, old["type"], {"rid": parent["rid"], "organization_id": owner["organization_id"]}, copy
            )
            if old["type"] == "client":
                st.update_resource(conn, new, {"status": status if old_rid == source["rid"] else "activated"})
            mapping[old_rid] = new
            if historical and old["series"] is not None:
                series_store.copy(conn, old["series"], series_of(new))
        for old_rid, new_rid_ in mapping.items():
            row = st.get(conn, new_rid_)
            assert row is not None
            if row["subscribe_rid"] in mapping:
                st.update_resource(conn, new_rid_, {"subscribe_rid": mapping[row["subscribe_rid"]]})
            if aliases:
                for target, names in st.aliases_under(conn, old_rid).items():
                    if target in mapping:
                        for name in names:
                            st.add_alias(conn, new_rid_, name, mapping[target])
        return mapping[source["rid"]]

    # --- codes: shares and keys ------------------------------------------------------------

    def share(self, p: Principal, ref: Ref, *, meta: str | None = None, code: str | None = None) -> str:
        """A share code for a resource in the caller's tree; with ``code``, updates that share's meta."""
        meta_text = _text(meta if meta is not None else "", "meta", META_MAX)
        with self.store.write() as conn:
            client, row = self._resolve(conn, p, ref, "share")
            if code is not None:
                existing = st.share(conn, code) if isinstance(code, str) else None
                if existing is None or existing["rid"] != row["rid"]:
                    raise NotFound("no share of this resource has this code")
                if meta is not None:
                    st.update_share(conn, code, {"meta": meta_text})
                return code
            new_code = secrets.token_hex(20)
            st.insert_share(
                conn,
                {
                    "code": new_code,
                    "rid": row["rid"],
                    "owner_rid": client,
                    "meta": meta_text,
                    "created_at": now(),
                },
            )
            st.use(conn, client, "share", now())
            return new_code

    def activate(self, p: Principal, codetype: str, code: str, *, under: Ref | None = None) -> None:
        """``client``: activates a key of a client the caller owns (made not activated by
        provisioning); ``share``: the caller (or ``under``) may read the shared resource from now on."""
        with self.store.write() as conn:
            client = self._owner(conn, p, under, "activate")
            if codetype == "client":
                row = st.by_cik(conn, code) if is_rid(code) else None
                if row is None or row["status"] != "notactivated":
                    raise ShareInvalid("no client awaits activation with this key")
                if row["parent_rid"] != client:
                    raise Unauthenticated("the calling client does not own this client")
                st.update_resource(conn, row["rid"], {"status": "activated", "modified_at": now()})
            elif codetype == "share":
                share = st.share(conn, code) if isinstance(code, str) else None
                if share is None or share["activator_rid"] is not None:
                    raise ShareInvalid("no share awaits activation with this code")
                if share["owner_rid"] == client:
                    raise ShareInvalid("a share is activated by another client than its owner")
                st.update_share(conn, code, {"activator_rid": client, "activated_at": now()})
            else:
                raise Invalid("codetype is client or share")

    def deactivate(self, p: Principal, codetype: str, code: str, *, under: Ref | None = None) -> None:
        """``client``: the key stops working (the client expires); ``share``: the caller's
        activation of the share ends."""
        with self.store.write() as conn:
            client = self._owner(conn, p, under, "deactivate")
            if codetype == "client":
                row = st.by_cik(conn, code) if is_rid(code) else None
                if row is None:
                    raise ShareInvalid("no client has this key")
                if row["parent_rid"] is None or not self._reaches(conn, client, str(row["parent_rid"])):
                    raise Unauthenticated("the calling client does not own this client")
                st.update_resource(conn, row["rid"], {"status": "expired", "modified_at": now()})
            elif codetype == "share":
                share = st.share(conn, code) if isinstance(code, str) else None
                if share is None or share["activator_rid"] != client:
                    raise ShareInvalid("the calling client has not activated this share")
                st.update_share(conn, code, {"activator_rid": None, "activated_at": None})
            else:
                raise Invalid("codetype is client or share")

    def revoke(self, p: Principal, codetype: str, code: str) -> str | None:
        """``client``: gives the client of that key a new key (returned); ``share``: deletes the
        share."""
        with self.store.write() as conn:
            client, _ = self._own(conn, p, "revoke")
            if codetype == "client":
                row = st.by_cik(conn, code) if is_rid(code) else None
                if row is None:
                    raise ShareInvalid("no client has this key")
                if row["parent_rid"] is None or not self._reaches(conn, client, str(row["parent_rid"])):
                    raise Unauthenticated("the calling client does not own this client")
                new_key = secrets.token_hex(20)
                st.update_resource(conn, row["rid"], {"cik": new_key, "modified_at": now()})
                return new_key
            if codetype == "share":
                share = st.share(conn, code) if isinstance(code, str) else None
                if share is None:
                    raise ShareInvalid("no share has this code")
                if not self._reaches(conn, client, str(share["owner_rid"])):
                    raise Unauthenticated("the calling client did not make this share")
                st.delete_share(conn, code)
                return None
            raise Invalid("codetype is client or share")

    def regenerate_key(self, conn: Connection, rid: str, *, status: str) -> str:
        """A new key for a client, with a status (provisioning: ``notactivated`` until activated)."""
        key = secrets.token_hex(20)
        st.update_resource(conn, rid, {"cik": key, "status": status, "modified_at": now()})
        return key

    def grant(
        self, p: Principal, ref: Ref, permissions: Mapping[str, Sequence[str]], *, ttl: int | None = None
    ) -> str:
        """A token that acts as client ``ref`` (in the caller's tree) with ``permissions``: the
        procedures allowed on each sub-tree (by RID, or by alias of that client). ``ttl`` in seconds."""
        if not isinstance(permissions, Mapping) or not permissions:
            raise Invalid("permissions map resources to lists of procedures")
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 < ttl <= MAX_TOKEN_TTL
        ):
            raise Invalid(f"ttl is a number of seconds between 1 and {MAX_TOKEN_TTL}")
        with self.store.write() as conn:
            _, row = self._resolve(conn, p, ref, "grant")
            if row["type"] != "client":
                raise Invalid("a token acts as a client")
            client = str(row["rid"])
            granted: dict[str, list[str]] = {}
            for key, actions in permissions.items():
                target = (
                    key
                    if is_rid(key)
                    else st.alias_target(conn, client, key)
                    if isinstance(key, str)
                    else None
                )
                if target is None or not self._reaches(conn, client, target):
                    raise PermissionDenied(f"{key!r} is not in the token client's tree")
                if not isinstance(actions, list) or not all(a in TOKEN_PERMISSIONS for a in actions):
                    raise Invalid(
                        f"permissions are lists of procedures: {', '.join(sorted(TOKEN_PERMISSIONS))}"
                    )
                if p.token_permissions is not None:
                    for action in actions:
                        self._permit(conn, p, action, target)
                granted[target] = sorted(set(actions))
            token = secrets.token_hex(20)
            at = now()
            st.insert_token(
                conn,
                {
                    "token": token,
                    "client_rid": client,
                    "permissions": granted,
                    "expires_at": None if ttl is None else at + ttl,
                    "created_at": at,
                },
            )
            return token

    # --- usage -----------------------------------------------------------------------------

    def usage(self, p: Principal, ref: Ref, metric: str, start: int, end: int) -> int:
        """For an entity type, the entity-seconds its resources in the client's sub-tree existed
        within ``[start, end]``; for a consumable, the amount used in that window."""
        for what, number in (("starttime", start), ("endtime", end)):
            if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                raise Invalid(f"{what} must be a non-negative integer")
        if end < start:
            raise Invalid("endtime is before starttime")
        with self.store.read() as conn:
            _, row = self._resolve(conn, p, ref, "usage")
            if row["type"] != "client":
                raise Invalid("usage is measured on a client")
            subtree = st.subtree(conn, row["rid"])
            rids = [rid for rid, _ in subtree]
            if metric in RESOURCE_TYPES:
                at = now()
                total = 0
                for created in st.created_times(
                    conn, [r for r, kind in subtree if kind == metric and r != row["rid"]]
                ):
                    lo, hi = max(start, created), min(end, at)
                    total += max(0, hi - lo)
                return total
            if metric in CONSUMABLES:
                return st.consumed_between(conn, rids, metric, start, end)
            raise Invalid(f"metric is one of {', '.join((*RESOURCE_TYPES, *CONSUMABLES))}")

    # --- points ----------------------------------------------------------------------------

    def write(self, p: Principal, ref: Ref, value: object) -> None:
        """Stores one point at the current time."""
        at = now()
        effects = _Effects()
        with self.store.write() as conn:
            row = self._series(conn, p, ref, "write")
            self._require_dataport(row)
            self._ingest(conn, p, row, [[at, value]], at, effects, strict=True)
        self._after(effects)

    def writegroup(self, p: Principal, entries: Sequence[tuple[Ref, object]]) -> None:
        """Stores one point in each of several dataports, all with the same timestamp; all or none."""
        at = now()
        effects = _Effects()
        with self.store.write() as conn:
            rows = []
            for ref, _ in entries:
                row = self._series(conn, p, ref, "writegroup")
                self._require_dataport(row)
                rows.append(row)
            for row, (_, value) in zip(rows, entries, strict=True):
                self._ingest(conn, p, row, [[at, value]], at, effects, strict=True)
        self._after(effects)

    def record(
        self, p: Principal, ref: Ref, points: Sequence[object], *, all_or_none: bool = False
    ) -> list[RecordFailure]:
        """Stores historical points ``[timestamp, value]`` (a negative timestamp counts back from
        now) with one batch insert. Points that do not fit are left out and returned, unless
        ``all_or_none``: then the first one raises Invalid and nothing is stored."""
        if not isinstance(points, Sequence) or isinstance(points, str):
            raise Invalid("points are a list of [timestamp, value] pairs")
        if len(points) > MAX_RECORD:
            raise Invalid(
                f"one call records at most {MAX_RECORD} points, got {len(points)}: send it in parts"
            )
        at = now()
        effects = _Effects()
        with self.store.write() as conn:
            row = self._series(conn, p, ref, "recordbatch" if not all_or_none else "record")
            self._require_dataport(row)
            failures = self._ingest(conn, p, row, points, at, effects, strict=all_or_none)
        self._after(effects)
        return failures

    def _require_dataport(self, row: Mapping[Any, Any]) -> None:
        if row["type"] != "dataport":
            raise Invalid(f"resource {row['rid']} is a {row['type']}: only dataports are written to")

    def _ingest(
        self,
        conn: Connection,
        p: Principal | None,
        row: Mapping[Any, Any],
        points: Sequence[object],
        at: int,
        effects: _Effects,
        *,
        strict: bool,
        depth: int = 0,
    ) -> list[RecordFailure]:
        """Stores points in a series resource (after its preprocess steps) and lets them flow on to
        its subscribers. Returns the points left out (``strict``: raises on the first)."""
        series, fmt = int(row["series"]), str(row["format"])
        steps = (row["description"] or {}).get("preprocess") or []
        failures: list[RecordFailure] = []
        if fmt == "float" and not steps:
            stamps, values, others = _float_columns(points)
        else:
            stamps, values, others = [], [], list(range(len(points)))
        if others:
            checked: list[tuple[int, Value]] = list(zip(stamps, values, strict=True))
            for index in others:
                point = points[index]
                if not isinstance(point, Sequence) or isinstance(point, str) or len(point) != 2:
                    if strict:
                        raise Invalid("each point is a [timestamp, value] pair")
                    failures.append(RecordFailure(point, "invalid"))
                    continue
                try:
                    ts = tv.timestamp(point[0], at)
                    value = point[1]
                    if steps:
                        value = tv.apply_preprocess(steps, value, lambda o: self._operand(conn, row, o))
                    value = tv.coerce(fmt, value)
                except Invalid:
                    if strict:
                        raise
                    failures.append(RecordFailure(point[0], "invalid"))
                    continue
                checked.append((ts, value))
            if not checked:
                return failures
            stored = sorted(checked, key=lambda p: p[0]) if len(checked) > len(stamps) else checked
            series_store.append(conn, series, fmt, stored)
        elif stamps:
            series_store.append_columns(conn, series, fmt, stamps, values)
            stored = None
        else:
            return failures
        self._enforce_retention(conn, row, at)
        if stored is not None:
            effects.published[str(row["rid"])] = max(reversed(stored), key=lambda p: p[0])
        else:  # the newest point (the last to arrive among the newest), without a list of pairs
            newest = max(stamps)
            last = len(stamps) - 1 - stamps[::-1].index(newest)
            effects.published[str(row["rid"])] = (newest, values[last])
        subscribers = st.subscribed_to(conn, str(row["rid"])) if depth < MAX_FLOW else []
        if subscribers:
            incoming = stored if stored is not None else list(zip(stamps, values, strict=True))
            incoming = sorted(incoming, key=lambda p: p[0])
            for subscriber in subscribers:
                self._flow(conn, subscriber, incoming, at, effects, depth + 1)
        return failures

    def _operand(self, conn: Connection, row: Mapping[Any, Any], operand: Any) -> Any:
        """A preprocess operand: a constant, or the newest value of a resource in the owner's tree."""
        if not isinstance(operand, dict | str) or (isinstance(operand, str) and not is_rid(operand)):
            return operand
        owner = str(row["parent_rid"])
        rid = self._target(conn, owner, _ref_of(operand))
        source = st.get(conn, rid)
        if source is None or source["series"] is None:
            raise Invalid("a preprocess operand names no resource with points")
        found = series_store.newest_after(conn, source["series"], source["format"], -1)
        if found is None:
            raise Invalid("a preprocess operand's resource has no value yet")
        return found[1]

    def _flow(
        self,
        conn: Connection,
        subscriber: Mapping[Any, Any],
        incoming: Sequence[tuple[int, Value]],
        at: int,
        effects: _Effects,
        depth: int,
    ) -> None:
        """New points of a resource (in timestamp order) reach a resource subscribed to it."""
        kind = subscriber["type"]
        if kind == "dataport":
            self._ingest(
                conn,
                None,
                subscriber,
                [[ts, v] for ts, v in incoming],
                at,
                effects,
                strict=False,
                depth=depth,
            )
        elif kind == "datarule":
            self._evaluate(conn, subscriber, incoming, at, effects, depth)
        elif kind == "dispatch":
            self._dispatch(conn, subscriber, incoming, at, effects, depth)

    def _evaluate(
        self,
        conn: Connection,
        rule_row: Mapping[Any, Any],
        incoming: Sequence[tuple[int, Value]],
        at: int,
        effects: _Effects,
        depth: int,
    ) -> None:
        try:
            rule = tv.parse_rule((rule_row["description"] or {}).get("rule"))
        except (Invalid, tv.ScriptRule):
            return
        state, deadline = rule_row["state"], rule_row["deadline"]
        outputs: list[list[Any]] = []
        for ts, value in incoming:
            outcome = tv.evaluate(rule, state, ts, value)
            state, deadline = outcome.state, outcome.deadline
            outputs.extend([t, v] for t, v in outcome.outputs)
        st.update_resource(conn, rule_row["rid"], {"state": state, "deadline": deadline})
        if outputs:
            self._ingest(conn, None, rule_row, outputs, at, effects, strict=False, depth=depth)

    def _dispatch(
        self,
        conn: Connection,
        dispatch: Mapping[Any, Any],
        incoming: Sequence[tuple[int, Value]],
        at: int,
        effects: _Effects,
        depth: int,
    ) -> None:
        desc = dispatch["description"] or {}
        if (desc.get("locked") is True) or desc.get("method") not in DISPATCH_METHODS:
            return
        owner = str(dispatch["parent_rid"])
        for ts, value in incoming:
            body = str(desc.get("message") or "") or str(value)
            effects.sendings.append(
                Sending(
                    method=str(desc["method"]),
                    url=str(desc.get("recipient", "")),
                    body=body,
                    subject=str(desc.get("subject") or ""),
                    value=value,
                    timestamp=ts,
                )
            )
            st.use(conn, owner, "http", at)
        self._ingest(
            conn,
            None,
            dispatch,
            [[ts, str(value)] for ts, value in incoming],
            at,
            effects,
            strict=False,
            depth=depth,
        )

    def _after(self, effects: _Effects) -> None:
        """After commit: tell the waiters and send the dispatches."""
        if self.bus is not None:
            for rid, point in effects.published.items():
                if self.bus.subscribers(topic(rid)):
                    self.bus.publish(topic(rid), point)
        for sending in effects.sendings:
            self.dispatcher.send(sending)

    def fire_due(self, at: int | None = None) -> int:
        """Fires the datarules whose deadline passed (timeout and interval rules); how many."""
        at = now() if at is None else at
        effects = _Effects()
        fired = 0
        with self.store.write() as conn:
            for row in st.due_rules(conn, at):
                try:
                    rule = tv.parse_rule((row["description"] or {}).get("rule"))
                except (Invalid, tv.ScriptRule):
                    st.update_resource(conn, row["rid"], {"deadline": None})
                    continue
                outcome = tv.due(rule, row["state"], int(row["deadline"]))
                st.update_resource(conn, row["rid"], {"state": outcome.state, "deadline": outcome.deadline})
                if outcome.outputs:
                    self._ingest(
                        conn, None, row, [[t, v] for t, v in outcome.outputs], at, effects, strict=False
                    )
                fired += 1
        self._after(effects)
        return fired

    def read(
        self,
        p: Principal,
        ref: Ref,
        *,
        start: int = 0,
        end: int | None = None,
        descending: bool = True,
        limit: int = 1,
        selection: str = "all",
    ) -> list[tuple[int, Value]]:
        """Points with ``start <= timestamp <= end`` (end: now by default), newest first unless
        not ``descending``, at most ``limit``. ``selection`` ``givenwindow`` splits the window into
        ``limit`` equal slices and takes the newest point of each; ``autowindow`` takes ``limit``
        points spread evenly over those in the window."""
        for what, number in (("starttime", start), ("endtime", end), ("limit", limit)):
            if number is not None and (isinstance(number, bool) or not isinstance(number, int) or number < 0):
                raise Invalid(f"{what} must be a non-negative integer")
        if limit > MAX_READ:
            raise Invalid(f"limit is at most {MAX_READ}")
        if selection not in ("all", "givenwindow", "autowindow"):
            raise Invalid("selection is all, givenwindow or autowindow")
        end_ts = min(now() if end is None else end, tv.INT64 - 1)
        start = min(start, tv.INT64 - 1)
        with self.store.read() as conn:
            row = self._series(conn, p, ref, "read")
            series, fmt = int(row["series"]), str(row["format"])
            if limit == 0 or end_ts < start:
                return []
            if selection == "all":
                return series_store.read(
                    conn, series, fmt, start=start, end=end_ts, descending=descending, limit=limit
                )
            points = series_store.read(
                conn, series, fmt, start=start, end=end_ts, descending=False, limit=None
            )
        if selection == "givenwindow":
            picked = _windows(points, start, end_ts, limit)
        else:
            picked = _spread(points, limit)
        return picked[::-1] if descending else picked

    def wait_start(self, p: Principal, ref: Ref, since: int | None) -> tuple[str, tuple[int, Value] | None]:
        """The RID a ``wait`` watches and, when a point after ``since`` exists already, the newest
        one. Subscribe to ``topic(rid)`` before calling this, so that no point slips between."""
        if since is not None and (isinstance(since, bool) or not isinstance(since, int)):
            raise Invalid("since is a timestamp or null")
        with self.store.read() as conn:
            row = self._series(conn, p, ref, "wait")
            if since is None:
                return str(row["rid"]), None
            found = series_store.newest_after(conn, int(row["series"]), str(row["format"]), since)
        return str(row["rid"]), found

    def flush(
        self, p: Principal, ref: Ref, *, newer_than: int | None = None, older_than: int | None = None
    ) -> int:
        """Deletes points with ``newer_than < timestamp < older_than``; None leaves a side open."""
        newer_than = _int_or_none(newer_than, "newerthan")
        older_than = _int_or_none(older_than, "olderthan")
        with self.store.write() as conn:
            row = self._series(conn, p, ref, "flush")
            return series_store.delete_between(
                conn, row["series"], row["format"], newer_than=newer_than, older_than=older_than
            )

    def _enforce_retention(self, conn: Connection, row: Mapping[Any, Any], at: int) -> None:
        keep, seconds = row["retention_count"], row["retention_seconds"]
        if (keep is None and seconds is None) or row.get("series") is None:
            return
        series_store.trim(
            conn,
            row["series"],
            row["format"],
            keep=keep,
            older_than=None if seconds is None else at - seconds,
        )

    def sweep(self, at: int | None = None) -> int:
        """Retention for every series (points age out without new writes too); how many points
        were deleted."""
        at = now() if at is None else at
        deleted = 0
        with self.store.write() as conn:
            for row in st.with_retention(conn):
                keep, seconds = row["retention_count"], row["retention_seconds"]
                deleted += series_store.trim(
                    conn,
                    row["series"],
                    row["format"],
                    keep=keep,
                    older_than=None if seconds is None else at - seconds,
                )
            st.forget_usage(conn, at - 366 * 24 * 3600)
        return deleted


def _windows(
    points: Sequence[tuple[int, Value]], start: int, end: int, slices: int
) -> list[tuple[int, Value]]:
    """The newest point of each of ``slices`` equal slices of ``[start, end]`` that has one (points
    in time order)."""
    width = -(-(end - start + 1) // slices)  # seconds per slice, rounded up
    newest: dict[int, tuple[int, Value]] = {}
    for point in points:
        newest[(point[0] - start) // width] = point  # a later point of the slice replaces it
    return [newest[k] for k in sorted(newest)]


def _spread(points: Sequence[tuple[int, Value]], limit: int) -> list[tuple[int, Value]]:
    """``limit`` points spread evenly (by rank) over ``points``; all of them if no more."""
    total = len(points)
    if total <= limit:
        return list(points)
    return [points[(i * total) // limit] for i in range(limit)]


def _ref_of(value: Any) -> Ref:
    if isinstance(value, dict):
        alias = value.get("alias")
        if not isinstance(alias, str):
            raise Invalid('a resource is a RID or {"alias": name}')
        return Alias(alias)
    return str(value)


def _client_principal(rid: str) -> Principal:
    return Principal(kind="client", id=rid, display=f"client {rid}", client_rid=rid)


def _resource_row(
    rid: str, kind: str, organization_id: str, parent_rid: str | None, at: int
) -> dict[str, Any]:
    return {
        "rid": rid,
        "type": kind,
        "organization_id": organization_id,
        "parent_rid": parent_rid,
        "status": "activated",
        "name": "",
        "meta": "",
        "public": False,
        "tags": [],
        "description": {},
        "created_at": at,
        "modified_at": at,
    }


def _client_row(rid: str, organization_id: str, parent_rid: str | None, at: int) -> dict[str, Any]:
    return {**_resource_row(rid, "client", organization_id, parent_rid, at), "cik": secrets.token_hex(20)}
