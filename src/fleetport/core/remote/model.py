"""What remote access hands out: deployments, their access rules, instances, firewall rules,
reservations and CI projects, as plain typed objects."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from fleetport.core.errors import Invalid
from fleetport.core.models import Row, as_utc, is_online
from fleetport.core.pages import Listing, Page, PageRequest

T = TypeVar("T")
R = TypeVar("R")

ADDONS = ("cam", "drive", "mistyproxy", "vnc", "cmdsh")
CAP_INSTANTIATE, CAP_NO_INSTANTIATE = "CAP_INSTANTIATE", "CAP_NO_INSTANTIATE"
CAPABILITIES = (CAP_INSTANTIATE, CAP_NO_INSTANTIATE)
INIT, READY, INIT_FAIL = "INIT", "READY", "INIT_FAIL"
TERMINATING, TERMINATED = "TERMINATING", "TERMINATED"
ACTIVE = (INIT, READY, TERMINATING)  # an instance holding its deployment and its port
FIREWALL_ACTIONS = ("ACCEPT", "DROP", "REJECT")
DEFAULT_TYPE = "generic"


@dataclass
class Tally(Generic[T]):
    """A page of a listing paged by position, with how many items the whole listing holds."""

    page: Page[T]
    total: int
    offset: int  # where the page starts (past the end: moved back to the last page when asked)


@dataclass
class Deployment:
    id: str
    machine_id: str
    organization_id: str
    type: str
    region: str
    addons: list[str]
    addons_config: dict[str, Any]
    locked_out: bool
    instance_count: int
    queuelen: int
    created_at: datetime
    online: bool = False  # an agent of one of the machine's parts is connected

    @classmethod
    def from_row(cls, r: Row, queuelen: int = 0) -> Deployment:
        return cls(
            r["id"],
            r["machine_id"],
            r["organization_id"],
            r["type"],
            r["region"],
            list(r["addons"]),
            dict(r["addons_config"]),
            bool(r["locked_out"]),
            int(r["instance_count"]),
            queuelen,
            as_utc(r["created_at"]),
            is_online(r.get("online_until")),
        )


@dataclass
class AccessRule:
    id: str
    deployment_id: str
    capability: str
    user_id: str | None  # None: everyone
    user_email: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, r: Row) -> AccessRule:
        return cls(
            r["id"], r["deployment_id"], r["capability"], r["user_id"], r["email"], as_utc(r["created_at"])
        )


@dataclass
class FirewallRule:
    source: str | None  # a CIDR; None: any address
    action: str  # ACCEPT | DROP | REJECT


@dataclass
class Instance:
    id: str
    deployment_id: str
    type: str
    region: str
    launched_by: str
    status: str
    public_key: str
    expire_seconds: int
    started_at: datetime
    ready_at: datetime | None
    terminated_at: datetime | None
    port: int | None
    hostkey: str | None
    event_url: str | None
    failure: str
    firewall: list[FirewallRule] | None  # None: no chain yet, every address accepted
    addons: dict[str, str]
    host: str = ""  # the address the forwarding port is reached at

    @classmethod
    def from_row(cls, r: Row, host: str = "") -> Instance:
        firewall = r["firewall"]
        return cls(
            r["id"],
            r["deployment_id"],
            r["type"],
            r["region"],
            r["launched_by"],
            r["status"],
            r["public_key"],
            int(r["expire_seconds"]),
            as_utc(r["started_at"]),
            as_utc(r["ready_at"]),
            as_utc(r["terminated_at"]),
            r["port"],
            r["hostkey"],
            r["event_url"],
            r["failure"],
            None if firewall is None else [FirewallRule(x["source"], x["action"]) for x in firewall],
            dict(r["addons"]),
            host,
        )


@dataclass
class Reservation:
    id: str
    deployment_id: str
    type: str
    requested_by: str
    created_at: datetime

    @classmethod
    def from_row(cls, r: Row) -> Reservation:
        return cls(r["id"], r["deployment_id"], r["type"], r["requested_by"], as_utc(r["created_at"]))


@dataclass
class Launch:
    """What a launch request gave: an instance, or a reservation when the deployment was busy and
    the caller asked to wait. ``private_key`` is the key made for the caller when they sent no
    public key: handed out here once, never stored."""

    instance: Instance | None = None
    reservation: Reservation | None = None
    private_key: str | None = field(default=None, repr=False)


@dataclass
class CiProject:
    id: str
    repo_url: str
    created_at: datetime

    @classmethod
    def from_row(cls, r: Row) -> CiProject:
        return cls(r["id"], r["repo_url"], as_utc(r["created_at"]))


def positioned(
    listing: Listing,
    request: PageRequest,
    fetch: Callable[[int, int], tuple[Sequence[R], int]],
    build: Callable[[R], T],
    *,
    clamp: bool = False,
) -> Tally[T]:
    """A page of a listing paged by position (its cursor carries the position of the last item
    given): ``fetch(limit, start)`` gives rows from ``start`` and how many there are in all. With
    ``clamp``, a start past the end gives the last page instead of an empty one."""
    window = listing.open(request)
    start = window.offset
    if window.after is not None:
        position = window.after[0]
        assert isinstance(position, int)
        if position < 0:
            raise Invalid(f"cursor (page token) is not one this server issued for {listing.name}")
        start = position + 1
    rows, total = fetch(window.limit + 1, start)
    if clamp and not rows and total > 0 and start >= total:
        start = (total - 1) // window.limit * window.limit
        rows, total = fetch(window.limit + 1, start)
    kept = list(rows[: window.limit])
    cursor = listing.encode((start + len(kept) - 1,)) if len(rows) > window.limit else None
    return Tally(Page([build(r) for r in kept], cursor), total, start)
