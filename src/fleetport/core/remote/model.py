"""What remote access hands out: deployments, their access rules, instances, firewall rules,
reservations and CI projects, as plain typed objects."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from fleetport.core.errors import Invalid
from fleetport.core.models import Row, as_utc, is_online
from fleetport.core.pages import Listing, Page, PageRequest

T = TypeVar("T")
R = TypeVar("R")

ADDONS = ("cam", "drive", "mistyproxy", "vnc")
# Add-ons rerobots knows that this server does not offer, with what to say instead.
NOT_OFFERED = {
    "cmdsh": "the cmdsh add-on is not offered by this server: a shell is reached over SSH"
    " (the add-ons are cam, drive, mistyproxy and vnc)",
}
# Add-ons relayed to a robot-local TCP server through ports of the remote port range: the kinds of
# port each holds (an ``https`` port terminates TLS with the server's certificate), and the port of
# its robot-local target when the deployment's add-on config names only an address.
RELAYED: dict[str, tuple[str, ...]] = {"mistyproxy": ("http", "https"), "vnc": ("vnc",)}
TARGET_PORTS = {"mistyproxy": 80, "vnc": 5900}
ON_DEMAND = ("vnc",)  # relayed add-ons whose port listens only between start and stop
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
            {name: addon_status(state) for name, state in dict(r["addons"]).items()},
            host,
        )


def addon_status(state: object) -> str:
    """An add-on's status from its stored state: ``starting``, ``active`` or ``failed`` (stored as
    the status alone, or as an object with ``status`` and, for relayed add-ons, ``listening``)."""
    return str(state.get("status", "")) if isinstance(state, dict) else str(state)


@dataclass
class AddonStatus:
    """An add-on active (or starting) on an instance; the ports of a relayed add-on (by kind, at
    ``host``), and whether they listen (a VNC port listens between start and stop)."""

    addon: str
    status: str
    host: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    listening: bool = False


_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


def relay_target(addon: str, config: object) -> str | None:
    """The robot-local ``host:port`` a relayed add-on's config names: ``{"ip": <address or host
    name>, "port": <1-65535>}`` (hardshare sets ``{"ip": ...}``; the port defaults to the add-on's
    usual one); None when it names no address. Raises ``Invalid`` for a config of another shape."""
    if config is None or config == {}:
        return None
    if not isinstance(config, dict):
        raise Invalid(f'the {addon} add-on config is an object like {{"ip": "192.168.1.20", "port": 80}}')
    unknown = sorted(set(config) - {"ip", "port"})
    if unknown:
        raise Invalid(f"the {addon} add-on config has ip and port only, not {str(unknown[0])[:40]!r}")
    host, port = config.get("ip"), config.get("port", TARGET_PORTS[addon])
    if type(port) is not int or not 0 < port < 65536:
        raise Invalid(f"the {addon} add-on config's port is a TCP port, 1 to 65535")
    if host is None:
        return None
    if not isinstance(host, str):
        raise Invalid(f"the {addon} add-on config's ip is an IP address or a host name")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _HOST.fullmatch(host):
            raise Invalid(f"the {addon} add-on config's ip is an IP address or a host name") from None
        return f"{host}:{port}"
    return f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"


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


JOB_QUEUED, JOB_RUNNING = "queued", "running"
JOB_PASSED, JOB_FAILED, JOB_ERROR = "passed", "failed", "error"
JOB_ENDED = (JOB_PASSED, JOB_FAILED, JOB_ERROR)


@dataclass
class CiJob:
    """A job of a CI project. ``log`` is None in listings (read one job for it)."""

    id: str
    project_id: str
    repo_url: str
    branch: str
    ref: str
    workspace_type: str | None
    status: str  # queued running passed failed error
    exit_code: int | None
    reason: str
    log: str | None
    log_size: int
    log_truncated: bool
    deployment_id: str | None
    instance_id: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None

    @classmethod
    def from_row(cls, r: Row) -> CiJob:
        return cls(
            r["id"],
            r["project_id"],
            r["repo_url"],
            r["branch"],
            r["ref"],
            r["workspace_type"],
            r["status"],
            r["exit_code"],
            r["reason"],
            r.get("log"),
            int(r["log_size"]),
            bool(r["log_truncated"]),
            r["deployment_id"],
            r["instance_id"],
            as_utc(r["created_at"]),
            as_utc(r["started_at"]),
            as_utc(r["ended_at"]),
        )


@dataclass(frozen=True)
class CiRun:
    """What the robot's agent is asked to run for a job, once its instance is READY: clone
    ``repo_url`` at ``branch`` (and ``ref``) into the instance's workspace and run the script of
    its job file, within ``time_limit_seconds``, sending at most ``log_bytes`` of log."""

    job_id: str
    instance_id: str
    repo_url: str
    branch: str
    ref: str
    workspace_type: str  # the deployment's
    time_limit_seconds: int
    log_bytes: int


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
