"""Telemetry: the One Platform resource tree (clients owning clients and dataports) and the points
of dataports.

Every organization has a root client, made on first use; a machine may own a device client under
it. Resources are named by 40-hex RIDs; each client has a 40-hex key (a CIK) that authenticates
as that client, with full control of its sub-tree. A caller authenticated by a key is a
``Principal`` of kind ``client``; it reaches a resource when its client is the resource or one of
the resource's ancestors. Aliases name resources under the client that made them.

Points carry a timestamp in Unix seconds and a value of the dataport's format. Each dataport keeps
the points its retention allows (a count and an age, either unlimited), enforced on write.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from fleetport.core import access
from fleetport.core.errors import Conflict, Invalid, NotFound, PermissionDenied, Unauthenticated
from fleetport.core.permissions import Principal
from fleetport.store import Store
from fleetport.store import telemetry as st

ResourceType = Literal["client", "dataport"]
RESOURCE_TYPES: tuple[str, ...] = ("client", "dataport")
LISTING_TYPES: tuple[str, ...] = ("client", "dataport", "datarule", "dispatch", "token")
FORMATS: tuple[str, ...] = ("float", "integer", "string", "binary")
Value = float | int | str

MAX_DEPTH = 64  # how deep a resource tree may grow
MAX_READ = 100_000  # points one read returns at most
MAX_RECORD = 10_000  # points one record call carries at most
NAME_MAX = 200
META_MAX = 64 * 1024
ALIAS_MAX = 255
VALUE_MAX = 64 * 1024  # characters of a string value
INT64 = 2**63


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
    format: str | None = None  # dataports: one of FORMATS
    retention_count: int | None = None  # None: unlimited
    retention_seconds: int | None = None  # None: unlimited
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
    description: dict[str, Any] = field(default_factory=dict)  # merged into the stored one


@dataclass(frozen=True)
class Resource:
    rid: str
    type: str
    parent_rid: str | None
    organization_id: str
    machine_id: str | None
    name: str
    meta: str
    public: bool
    tags: list[str]
    description: dict[str, Any]
    format: str | None
    retention_count: int | None
    retention_seconds: int | None
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
            name=row["name"],
            meta=row["meta"],
            public=bool(row["public"]),
            tags=list(row["tags"] or []),
            description=dict(row["description"] or {}),
            format=row["format"],
            retention_count=row["retention_count"],
            retention_seconds=row["retention_seconds"],
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


@dataclass(frozen=True)
class ResourceInfo:
    resource: Resource
    key: str | None  # the CIK of a client: only for its direct owner
    aliases: dict[str, list[str]] | None  # a client's aliases by RID: for the client and its owner
    counts: dict[str, int]  # a client's children by type
    storage: Storage | None  # dataports


@dataclass(frozen=True)
class RecordFailure:
    timestamp: Any  # as given
    reason: str


def new_rid() -> str:
    return secrets.token_hex(20)


def now() -> int:
    return int(time.time())


def _is_rid(value: object) -> bool:
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


def coerce_value(fmt: str, value: object) -> Value:
    """A value in the form a dataport of format ``fmt`` stores; Invalid when it does not fit."""
    if isinstance(value, bool):
        raise Invalid(f"a {fmt} dataport does not take a boolean")
    if fmt == "float":
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise Invalid(f"{value!r} is not a number") from None
        else:
            raise Invalid("a float dataport takes numbers")
        if not math.isfinite(number):
            raise Invalid("a float dataport takes finite numbers")
        return number
    if fmt == "integer":
        if isinstance(value, int):
            integer = value
        elif isinstance(value, float) and value.is_integer():
            integer = int(value)
        elif isinstance(value, str):
            try:
                integer = int(value.strip())
            except ValueError:
                raise Invalid(f"{value!r} is not an integer") from None
        else:
            raise Invalid("an integer dataport takes integers")
        if not -INT64 <= integer < INT64:
            raise Invalid("an integer dataport takes 64-bit integers")
        return integer
    if isinstance(value, int | float):
        value = repr(value) if isinstance(value, float) else str(value)
    if not isinstance(value, str):
        raise Invalid(f"a {fmt} dataport takes strings")
    if len(value) > VALUE_MAX:
        raise Invalid(f"a value is longer than {VALUE_MAX} characters")
    return value


def _point_row(rid: str, fmt: str, timestamp: int, value: Value) -> dict[str, Any]:
    return {
        "rid": rid,
        "timestamp": timestamp,
        "value_float": value if fmt == "float" else None,
        "value_int": value if fmt == "integer" else None,
        "value_text": value if fmt in ("string", "binary") else None,
    }


def _timestamp(value: object, at: int) -> int:
    """A point's timestamp: negative means that many seconds before ``at``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("a timestamp is an integer number of Unix seconds")
    ts = at + value if value < 0 else value
    if ts < 0 or ts >= INT64:
        raise Invalid("a timestamp is out of range")
    return ts


class Telemetry:
    def __init__(self, store: Store) -> None:
        self.store = store

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
            scope = p.scope(conn, "update_robot")
            may_see = scope.covers_robot(machine["id"], machine["location_id"], machine["organization_id"])
            return ClientKey(row["rid"], row["cik"] if may_see else None)

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
        if not _is_rid(cik):
            raise Unauthenticated("the key is not 40 hexadecimal characters")
        with self.store.read() as conn:
            row = st.by_cik(conn, cik)
            if row is None:
                raise Unauthenticated("no client has this key")
            acting: str = row["rid"]
            if client_id is not None or resource_id is not None:
                target = client_id if client_id is not None else resource_id
                if not _is_rid(target) or not self._reaches(conn, acting, str(target)):
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
        return Principal(kind="client", id=acting, display=f"client {acting}", client_rid=acting)

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

    def _resolve(self, conn: Connection, p: Principal, ref: Ref) -> tuple[str, RowMapping]:
        """The caller's client and the resource named, which the caller must reach."""
        client = self._caller(p)
        if isinstance(ref, Alias):
            if ref.name == "":
                rid = client
            else:
                target = st.alias_target(conn, client, ref.name)
                if target is None:
                    raise NotFound(f"no alias {ref.name!r} under the calling client")
                rid = target
        else:
            if not _is_rid(ref):
                raise Invalid("a resource is a 40-hex RID or an alias")
            rid = ref
        row = st.get(conn, rid)
        if row is None or not self._reaches(conn, client, rid):
            raise PermissionDenied(f"resource {rid} is not in the calling client's tree")
        return client, row

    def _dataport(self, conn: Connection, p: Principal, ref: Ref) -> RowMapping:
        _, row = self._resolve(conn, p, ref)
        if row["type"] != "dataport":
            raise Invalid(f"resource {row['rid']} is a {row['type']}, not a dataport")
        return row

    # --- the tree --------------------------------------------------------------------------

    def create(self, p: Principal, spec: NewResource) -> str:
        """Creates a client or dataport owned by the calling client; its RID."""
        if spec.type not in RESOURCE_TYPES:
            raise Invalid(f"type must be one of {', '.join(RESOURCE_TYPES)}")
        name = _text(spec.name, "name", NAME_MAX)
        meta = _text(spec.meta, "meta", META_MAX)
        if not isinstance(spec.public, bool):
            raise Invalid("public must be true or false")
        values: dict[str, Any] = {"name": name, "meta": meta, "public": spec.public}
        if spec.type == "dataport":
            if spec.format not in FORMATS:
                raise Invalid(f"format must be one of {', '.join(FORMATS)}")
            values["format"] = spec.format
            values["retention_count"] = _retention(spec.retention_count, "count")
            values["retention_seconds"] = _retention(spec.retention_seconds, "duration")
        with self.store.write() as conn:
            client = self._caller(p)
            owner = st.get(conn, client)
            if owner is None:
                raise PermissionDenied("the calling client no longer exists")
            rid, at = new_rid(), now()
            if spec.type == "client":
                row = _client_row(rid, owner["organization_id"], client, at)
            else:
                row = _resource_row(rid, "dataport", owner["organization_id"], client, at)
            st.insert_resource(conn, {**row, **values, "description": dict(spec.description)})
        return rid

    def info(self, p: Principal, ref: Ref) -> ResourceInfo:
        with self.store.read() as conn:
            client, row = self._resolve(conn, p, ref)
            resource = Resource.from_row(row)
            owner_or_self = client in (resource.rid, resource.parent_rid)
            is_client = resource.type == "client"
            return ResourceInfo(
                resource=resource,
                key=row["cik"] if is_client and client == resource.parent_rid else None,
                aliases=st.aliases_under(conn, resource.rid) if is_client and owner_or_self else None,
                counts=st.count_children(conn, resource.rid) if is_client else {},
                storage=Storage(*st.storage(conn, resource.rid)) if resource.type == "dataport" else None,
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
        """The RIDs of the client's children of each type. The flags select children that are
        owned, public, aliased by the client or activated by it (shares, of which this server
        has none); several flags take the union, none means owned. ``tagged`` keeps children
        carrying every given tag."""
        for kind in types:
            if kind not in LISTING_TYPES:
                raise Invalid(f"{kind!r} is not a resource type: use {', '.join(LISTING_TYPES)}")
        with self.store.read() as conn:
            _, row = self._resolve(conn, p, ref)
            if row["type"] != "client":
                raise Invalid("listing needs a client")
            if not (owned or public or aliased or activated):
                owned = True
            kids = st.children(conn, row["rid"], [k for k in types if k in RESOURCE_TYPES])
            alias_set = st.aliased_rids(conn, row["rid"]) if aliased else set()
            public_set = (
                {k["rid"] for k in st.children(conn, row["rid"], RESOURCE_TYPES, public_only=True)}
                if public
                else set()
            )
            out: dict[str, list[str]] = {kind: [] for kind in types}
            for kid in kids:
                keep = owned or kid["rid"] in alias_set or kid["rid"] in public_set
                if keep and all(tag in (kid["tags"] or []) for tag in tagged):
                    out[kid["type"]].append(kid["rid"])
            return out

    def lookup_alias(self, p: Principal, alias: str, *, under: Ref | None = None) -> str:
        """The RID an alias names, among the aliases of ``under`` (the calling client by default);
        ``""`` names that client itself."""
        alias = _text(alias, "alias", ALIAS_MAX)
        with self.store.read() as conn:
            owner = self._owner(conn, p, under)
            if alias == "":
                return owner
            target = st.alias_target(conn, owner, alias)
            if target is None:
                raise NotFound(f"no alias {alias!r} under client {owner}")
            return target

    def _owner(self, conn: Connection, p: Principal, under: Ref | None) -> str:
        """The client whose aliases a call works on: ``under`` or the calling client."""
        if under is None:
            return self._caller(p)
        _, row = self._resolve(conn, p, under)
        if row["type"] != "client":
            raise Invalid(f"resource {row['rid']} is a {row['type']}, not a client")
        return str(row["rid"])

    def lookup_owner(self, p: Principal, ref: Ref) -> str:
        with self.store.read() as conn:
            client, row = self._resolve(conn, p, ref)
            if row["parent_rid"] is None or row["rid"] == client:
                raise PermissionDenied("the owner of the calling client is outside its tree")
            return str(row["parent_rid"])

    def map_alias(self, p: Principal, ref: Ref, alias: str) -> None:
        alias = _text(alias, "alias", ALIAS_MAX)
        if not alias:
            raise Invalid("an alias may not be empty")
        try:
            with self.store.write() as conn:
                client, row = self._resolve(conn, p, ref)
                if st.alias_target(conn, client, alias) is not None:
                    raise Conflict(f"alias {alias!r} is already mapped")
                st.add_alias(conn, client, alias, row["rid"])
        except IntegrityError:
            raise Conflict(f"alias {alias!r} is already mapped") from None

    def unmap_alias(self, p: Principal, alias: str, *, under: Ref | None = None) -> None:
        alias = _text(alias, "alias", ALIAS_MAX)
        with self.store.write() as conn:
            owner = self._owner(conn, p, under)
            if st.remove_alias(conn, owner, alias) == 0:
                raise NotFound(f"no alias {alias!r} under client {owner}")

    def drop(self, p: Principal, ref: Ref) -> None:
        """Deletes a resource the caller owns, with its whole sub-tree and points."""
        with self.store.write() as conn:
            client, row = self._resolve(conn, p, ref)
            if row["rid"] == client:
                raise PermissionDenied("a client may not drop itself")
            st.delete_resource(conn, row["rid"])

    def update(self, p: Principal, ref: Ref, changes: ResourceChanges) -> None:
        with self.store.write() as conn:
            client, row = self._resolve(conn, p, ref)
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
                raise Invalid("the format of a dataport cannot change")
            if row["type"] == "dataport":
                if changes.unlimited_count:
                    values["retention_count"] = None
                elif changes.retention_count is not None:
                    values["retention_count"] = _retention(changes.retention_count, "count")
                if changes.unlimited_seconds:
                    values["retention_seconds"] = None
                elif changes.retention_seconds is not None:
                    values["retention_seconds"] = _retention(changes.retention_seconds, "duration")
            values["description"] = {**(row["description"] or {}), **changes.description}
            values["modified_at"] = now()
            st.update_resource(conn, row["rid"], values)
            if row["type"] == "dataport":
                self._enforce_retention(conn, {**row, **values}, now())

    # --- points ----------------------------------------------------------------------------

    def write(self, p: Principal, ref: Ref, value: object) -> None:
        """Stores one point at the current time."""
        at = now()
        with self.store.write() as conn:
            row = self._dataport(conn, p, ref)
            stored = coerce_value(row["format"], value)
            st.insert_points(conn, [_point_row(row["rid"], row["format"], at, stored)])
            self._enforce_retention(conn, row, at)

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
        failures: list[RecordFailure] = []
        with self.store.write() as conn:
            row = self._dataport(conn, p, ref)
            rid, fmt = row["rid"], row["format"]
            rows: list[dict[str, Any]] = []
            for point in points:
                if not isinstance(point, Sequence) or isinstance(point, str) or len(point) != 2:
                    if all_or_none:
                        raise Invalid("each point is a [timestamp, value] pair")
                    failures.append(RecordFailure(point, "invalid"))
                    continue
                try:
                    rows.append(_point_row(rid, fmt, _timestamp(point[0], at), coerce_value(fmt, point[1])))
                except Invalid:
                    if all_or_none:
                        raise
                    failures.append(RecordFailure(point[0], "invalid"))
            st.insert_points(conn, rows)
            if rows:
                self._enforce_retention(conn, row, at)
        return failures

    def read(
        self,
        p: Principal,
        ref: Ref,
        *,
        start: int = 0,
        end: int | None = None,
        descending: bool = True,
        limit: int = 1,
    ) -> list[tuple[int, Value]]:
        """Points with ``start <= timestamp <= end`` (end: now by default), newest first unless
        not ``descending``, at most ``limit``."""
        for what, number in (("starttime", start), ("endtime", end), ("limit", limit)):
            if number is not None and (isinstance(number, bool) or not isinstance(number, int) or number < 0):
                raise Invalid(f"{what} must be a non-negative integer")
        if limit > MAX_READ:
            raise Invalid(f"limit is at most {MAX_READ}")
        with self.store.read() as conn:
            row = self._dataport(conn, p, ref)
            found = st.read_points(
                conn,
                row["rid"],
                start=start,
                end=now() if end is None else end,
                descending=descending,
                limit=limit,
            )
        fmt = row["format"]
        out: list[tuple[int, Value]] = []
        for ts, vf, vi, vt in found:
            value: Value | None = vf if fmt == "float" else vi if fmt == "integer" else vt
            out.append((ts, value if value is not None else ""))
        return out

    def flush(
        self, p: Principal, ref: Ref, *, newer_than: int | None = None, older_than: int | None = None
    ) -> int:
        """Deletes points with ``newer_than < timestamp < older_than``; None leaves a side open."""
        for what, number in (("newerthan", newer_than), ("olderthan", older_than)):
            if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
                raise Invalid(f"{what} must be an integer timestamp")
        with self.store.write() as conn:
            row = self._dataport(conn, p, ref)
            return st.flush_points(conn, row["rid"], newer_than=newer_than, older_than=older_than)

    def _enforce_retention(self, conn: Connection, row: Mapping[Any, Any], at: int) -> None:
        keep, seconds = row["retention_count"], row["retention_seconds"]
        if keep is None and seconds is None:
            return
        st.trim_points(conn, row["rid"], keep=keep, older_than=None if seconds is None else at - seconds)


def _resource_row(
    rid: str, kind: str, organization_id: str, parent_rid: str | None, at: int
) -> dict[str, Any]:
    return {
        "rid": rid,
        "type": kind,
        "organization_id": organization_id,
        "parent_rid": parent_rid,
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
