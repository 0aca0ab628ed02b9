"""The model of the telemetry resource tree: its resources, references, errors and limits, and the
small helpers the services share."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fleetport.bus import Codec, wire
from fleetport.core.errors import CoreError, Invalid, Unauthenticated
from fleetport.core.permissions import Principal
from fleetport.core.telemetry import values as tv
from fleetport.core.telemetry.dispatch import Sending

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
WAIT_DEFAULT_MS = 30_000  # how long a wait lasts unless it says
WAIT_MAX_MS = 300_000  # a wait lasts five minutes at most
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
class Effects:
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


def _decode_point(data: object) -> tuple[int, Value]:
    if not isinstance(data, list) or len(data) != 2:
        raise wire.Undecodable("a point is [timestamp, value]")
    ts, value = data
    if isinstance(ts, bool) or not isinstance(ts, int):
        raise wire.Undecodable("a point's timestamp is an integer")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise wire.Undecodable("a point's value is a number or a string")
    return ts, value


# A new point between processes: ``[timestamp, value]`` (values are finite numbers, 64-bit integers
# or strings, which JSON carries as they are).
POINT_CODEC = Codec("points", lambda point: [point[0], point[1]], _decode_point)


def is_rid(value: object) -> bool:
    return isinstance(value, str) and len(value) == 40 and all(ch in "0123456789abcdef" for ch in value)


def check_text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise Invalid(f"{what} must be a string")
    if len(value) > limit:
        raise Invalid(f"{what} is longer than {limit} characters")
    return value


def check_retention(value: int | None, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Invalid(f"retention {what} must be a non-negative integer or unlimited")
    return value


def int_or_none(value: object, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"{what} must be an integer timestamp")
    return value


def ref_of(value: Any) -> Ref:
    if isinstance(value, dict):
        alias = value.get("alias")
        if not isinstance(alias, str):
            raise Invalid('a resource is a RID or {"alias": name}')
        return Alias(alias)
    return str(value)


def client_principal(
    rid: str, *, display: str | None = None, permissions: dict[str, frozenset[str]] | None = None
) -> Principal:
    """A caller acting as client ``rid``; ``permissions`` limit it as a token's do."""
    return Principal(
        kind="client",
        id=rid,
        display=display or f"client {rid}",
        client_rid=rid,
        token_permissions=permissions,
    )


def resource_row(
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


def client_row(rid: str, organization_id: str, parent_rid: str | None, at: int) -> dict[str, Any]:
    return {**resource_row(rid, "client", organization_id, parent_rid, at), "cik": secrets.token_hex(20)}
