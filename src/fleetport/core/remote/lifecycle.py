"""How an instance starts and ends inside a write transaction that holds its deployment's lock:
its forwarding port taken from the configured range (and its relayed add-ons' ports, by
``take_ports``), its deployment held while it is active, both
given back when it ends, and the oldest reservation of a freed deployment started in its place.
A CI job running on an instance that ends is ended with it (``error``, saying why).

A reservation starts only while whoever made it may still launch on the deployment; one whose
holder lost that right (an access rule removed, a role taken away, the API key deleted) is dropped
when its turn comes, and the next one is looked at.

What must happen once the transaction commits (asking the robot's agent to set the workspace up,
POSTing a reservation's event URL) is returned as ``Started`` and ``Dropped``, for the caller to do
then."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from fleetport.core.errors import FailedPrecondition
from fleetport.core.identity import principal_of
from fleetport.core.ids import new_id
from fleetport.core.models import Row
from fleetport.core.remote import policy
from fleetport.core.remote.model import INIT, JOB_ERROR, TERMINATED, CiRun, Instance
from fleetport.settings import RemoteSettings
from fleetport.store import Tx
from fleetport.store import ci as ci_store
from fleetport.store import remote as rq

NO_HOLDER = "whoever made it no longer exists"
NEVER_HANDED_OUT = 22  # the SSH port: clients look host keys up by [host]:port only for other ports


@dataclass
class Started:
    """An instance started in a transaction: what to do once it commits."""

    instance: Instance
    machine_id: str
    reservation_id: str | None = None


@dataclass
class Dropped:
    """A reservation dropped when its turn came: its holder may no longer launch there."""

    reservation_id: str
    deployment_id: str
    event_url: str | None
    reason: str


Effect = Started | Dropped  # what a commit leaves to do


def free_port(conn: Tx, settings: RemoteSettings) -> int:
    """A forwarding port no active instance holds (chosen at random, so that concurrent launches
    on different deployments rarely meet; the unique constraint refuses the one that does)."""
    return free_ports(conn, settings, 1, "forwarding port")[0]


def free_ports(conn: Tx, settings: RemoteSettings, count: int, what: str) -> list[int]:
    """``count`` distinct ports of the range no active instance holds, for ``what``."""
    first, last = settings.port_range
    used = rq.ports_in_use(conn, first, last) | {NEVER_HANDED_OUT}
    size = last - first + 1 - (first <= NEVER_HANDED_OUT <= last)
    free = size - len(used - {NEVER_HANDED_OUT})
    if free < count:
        held = f"all {size} ports" if free == 0 else f"{size - free} of the {size} ports ({count} needed)"
        raise FailedPrecondition(
            f"no {what} is free: {held} of FLEETPORT_REMOTE__PORTS ({settings.ports}) are held by "
            "active instances and their add-ons; try again when one ends"
        )
    chosen: list[int] = []
    while len(chosen) < count:  # enough of the range are free
        port = random.randint(first, last)
        if port not in used:
            used.add(port)
            chosen.append(port)
    return chosen


def take_ports(
    conn: Tx, settings: RemoteSettings, instance_id: str, addon: str, kinds: Sequence[str]
) -> dict[str, int]:
    """Ports for a relayed add-on of the instance, one per kind, held until it is deactivated or
    the instance ends (a port taken meanwhile by another transaction raises ``Taken``)."""
    ports = dict(
        zip(kinds, free_ports(conn, settings, len(kinds), f"port for the {addon} add-on"), strict=True)
    )
    rq.insert_ports(conn, instance_id, addon, ports)
    return ports


def start(
    conn: Tx,
    settings: RemoteSettings,
    deployment: Row,
    *,
    launched_by: str,
    user_id: str | None,
    public_key: str,
    expire_seconds: int,
    event_url: str | None,
    now: datetime,
    reservation_id: str | None = None,
) -> Started:
    """Starts an instance on the deployment (locked, with no active instance): status INIT."""
    row = {
        "id": new_id(),
        "deployment_id": deployment["id"],
        "launched_by": launched_by,
        "user_id": user_id,
        "status": INIT,
        "public_key": public_key,
        "expire_seconds": expire_seconds,
        "started_at": now,
        "expires_at": now + timedelta(seconds=expire_seconds),
        "ready_at": None,
        "terminating_at": None,
        "terminated_at": None,
        "hostkey": None,
        "port": free_port(conn, settings),
        "active_deployment": deployment["id"],
        "event_url": event_url,
        "failure": "",
        "firewall": None,
        "addons": {},
    }
    rq.insert_instance(conn, row)
    rq.insert_ports(conn, row["id"], None, {"ssh": row["port"]})
    rq.count_launch(conn, deployment["id"])
    shown = {**row, "type": deployment["type"], "region": deployment["region"]}
    return Started(Instance.from_row(shown, settings.public_host), deployment["machine_id"], reservation_id)


def end(conn: Tx, row: Row, status: str, now: datetime, failure: str = "") -> None:
    """Ends the instance (INIT_FAIL or TERMINATED): its ports and deployment are given back, and
    its add-ons end with it."""
    values: dict[str, object] = {"status": status, "port": None, "active_deployment": None, "addons": {}}
    if status == TERMINATED:
        values["terminated_at"] = now
    if failure:
        values["failure"] = failure
    rq.update_instance(conn, row["id"], values)
    rq.delete_ports(conn, row["id"])
    reason = f"its instance ended ({status}) before the job finished" + (f": {failure}" if failure else "")
    ci_store.end_running(
        conn, row["id"], {"status": JOB_ERROR, "reason": reason[:1000], "ended_at": now}, reason
    )


def job_run(conn: Tx, settings: RemoteSettings, row: Row) -> CiRun | None:
    """What the agent is to run on the instance (a row with its deployment's type), when a
    running CI job holds it."""
    job = ci_store.job_of_instance(conn, row["id"])
    if job is None or job["status"] != ci_store.RUNNING:
        return None
    return CiRun(
        job["id"],
        row["id"],
        job["repo_url"],
        job["branch"],
        job["ref"],
        row["type"],
        settings.ci_time_limit_seconds,
        settings.ci_log_bytes,
    )


def fulfil(conn: Tx, settings: RemoteSettings, deployment_id: str, now: datetime) -> list[Effect]:
    """Starts the oldest reservation of the deployment (locked) if it is free, dropping those
    before it whose holder may no longer launch there; nothing is started when there is none, or
    no forwarding port is free (it waits for the next sweep then)."""
    deployment = rq.lock_deployment(conn, deployment_id)
    if deployment is None or rq.active_instance(conn, deployment_id) is not None:
        return []
    effects: list[Effect] = []
    while (waiting := rq.oldest_reservation(conn, deployment_id)) is not None:
        user_id = waiting["user_id"]
        holder = principal_of(conn, user_id or waiting["requested_by"])
        refused = NO_HOLDER if holder is None else policy.may_launch(conn, holder, deployment)
        if refused is not None:
            rq.delete_reservation(conn, waiting["id"])
            effects.append(Dropped(waiting["id"], deployment_id, waiting["event_url"], refused))
            continue
        try:
            started = start(
                conn,
                settings,
                deployment,
                launched_by=waiting["requested_by"],
                user_id=waiting["user_id"],
                public_key=waiting["public_key"],
                expire_seconds=int(waiting["expire_seconds"]),
                event_url=waiting["event_url"],
                now=now,
                reservation_id=waiting["id"],
            )
        except FailedPrecondition:
            break
        rq.delete_reservation(conn, waiting["id"])
        effects.append(started)
        break
    return effects
