"""Plain typed objects returned by core services."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, overload

Row = Mapping[Any, Any]  # a stored row (SQLAlchemy RowMapping) or a dict of the same columns


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive; everything stored is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class User:
    id: str
    email: str
    name: str
    is_admin: bool
    created_at: datetime

    @classmethod
    def from_row(cls, r: Row) -> User:
        return cls(r["id"], r["email"], r["name"], bool(r["is_admin"]), as_utc(r["created_at"]))


@dataclass
class Session:
    token: str
    expires_at: datetime
    user: User


@dataclass
class Authorization:
    id: str
    subject_type: str
    subject_id: str
    role: str
    resource_type: str
    resource_id: str
    organization_id: str
    created_at: datetime

    @classmethod
    def from_row(cls, r: Row) -> Authorization:
        return cls(
            r["id"],
            r["subject_type"],
            r["subject_id"],
            r["role"],
            r["resource_type"],
            r["resource_id"],
            r["organization_id"],
            as_utc(r["created_at"]),
        )


@dataclass
class GrantSpec:
    """An authorization to give: role on a resource. ``organization_id``, when the caller names one,
    must be the organization the authorization is given in."""

    role: str
    resource_type: str
    resource_id: str
    organization_id: str | None = None


@dataclass
class ApiKey:
    id: str
    name: str
    organization_id: str | None
    is_admin: bool
    created_at: datetime
    authorizations: list[Authorization] = field(default_factory=list)
    secret: str | None = None  # only when just created or rotated

    @classmethod
    def from_row(cls, r: Row, authorizations: list[Authorization]) -> ApiKey:
        return cls(
            r["id"],
            r["name"],
            r["organization_id"],
            bool(r["is_admin"]),
            as_utc(r["created_at"]),
            authorizations,
        )


@dataclass
class Organization:
    id: str
    name: str
    public_namespace: str | None
    region: str
    cid: str
    metadata: dict[str, Any]
    created_at: datetime

    @classmethod
    def from_row(cls, r: Row) -> Organization:
        return cls(
            r["id"],
            r["name"],
            r["public_namespace"],
            r["region"],
            r["cid"],
            r["metadata"] or {},
            as_utc(r["created_at"]),
        )


@dataclass
class Member:
    user: User
    authorizations: list[Authorization]


@dataclass(frozen=True)
class Roster:
    """An organization's members, each with their authorizations in it, and its pending invites."""

    members: list[Member]
    invites: list[Invite]


@dataclass
class Invite:
    id: str
    organization_id: str
    email: str
    authorizations: list[GrantSpec]
    sent_count: int
    last_sent_at: datetime
    created_at: datetime

    @classmethod
    def from_row(cls, r: Row) -> Invite:
        return cls(
            r["id"],
            r["organization_id"],
            r["email"],
            [GrantSpec(**a) for a in r["authorizations"]],
            r["sent_count"],
            as_utc(r["last_sent_at"]),
            as_utc(r["created_at"]),
        )


@dataclass
class Location:
    id: str
    organization_id: str
    parent_id: str | None
    name: str
    metadata: dict[str, Any]
    created_at: datetime
    shared_with: list[str] = field(default_factory=list)

    @classmethod
    def from_row(cls, r: Row) -> Location:
        return cls(
            r["id"],
            r["organization_id"],
            r["parent_id"],
            r["name"],
            r["metadata"] or {},
            as_utc(r["created_at"]),
        )


@dataclass
class Secret:
    id: str
    secret: str
    created_at: datetime

    @classmethod
    def from_row(cls, r: Row) -> Secret:
        return cls(r["id"], r["secret"], as_utc(r["created_at"]))


@dataclass
class Machine:
    id: str
    organization_id: str
    location_id: str
    name: str
    metadata: dict[str, Any]
    created_at: datetime
    # whether an agent of one of its parts is connected, and when a part was last heard from
    online: bool = False
    last_seen: datetime | None = None

    @classmethod
    def from_row(cls, r: Row) -> Machine:
        return cls(
            r["id"],
            r["organization_id"],
            r["location_id"],
            r["name"],
            r["metadata"] or {},
            as_utc(r["created_at"]),
        )


@dataclass(frozen=True)
class MachineSummary:
    """A machine with what its parts tell about it: when any of them last fetched its config and
    which one is main."""

    machine: Machine
    last_access: datetime | None
    main_part_id: str | None


@dataclass(frozen=True)
class LocationSummary:
    """A location with the number of machines in it and its secrets (empty for callers who may not
    manage them)."""

    location: Location
    robot_count: int
    secrets: list[Secret] = field(default_factory=list)


@dataclass
class Part:
    id: str
    machine_id: str
    name: str
    main_part: bool
    restart_required: bool
    config: dict[str, Any]
    config_updated_at: datetime | None
    fqdn: str
    local_fqdn: str
    dns_name: str
    last_access: datetime | None
    metadata: dict[str, Any]
    created_at: datetime
    online: bool = False  # its agent is connected (heartbeats keep it so)

    @classmethod
    def from_row(cls, r: Row) -> Part:
        return cls(
            r["id"],
            r["machine_id"],
            r["name"],
            bool(r["main_part"]),
            bool(r["restart_required"]),
            r["config"] or {},
            as_utc(r["config_updated_at"]),
            r["fqdn"],
            r["local_fqdn"],
            r["dns_name"],
            as_utc(r["last_access"]),
            r["metadata"] or {},
            as_utc(r["created_at"]),
            is_online(r.get("agent_online_until")),
        )


def is_online(online_until: datetime | None) -> bool:
    """Whether an agent whose presence lasts until ``online_until`` is online now."""
    return online_until is not None and as_utc(online_until) > utcnow()


@dataclass
class ConfigRevision:
    """One entry of a part's config history: the config as it was before an edit."""

    id: str
    part_id: str
    previous_config: dict[str, Any]
    edited_by: str
    edited_at: datetime

    @classmethod
    def from_row(cls, r: Row) -> ConfigRevision:
        return cls(
            r["id"],
            r["part_id"],
            r["previous_config"],
            r["edited_by"],
            as_utc(r["edited_at"]),
        )


class PartDetails(NamedTuple):
    """A part with its machine and its secrets (empty for callers who may not manage them)."""

    part: Part
    machine: Machine
    secrets: list[Secret]


class PartHistory(NamedTuple):
    """A part with its machine and the revisions of its config, newest first."""

    part: Part
    machine: Machine
    revisions: list[ConfigRevision]


class ResourcePermissions(NamedTuple):
    """Permissions on one resource: those asked about, or those of them the caller holds."""

    resource_type: str
    resource_id: str
    permissions: list[str]
