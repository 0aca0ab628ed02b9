"""Add-ons of an instance (cam, drive, mistyproxy, vnc, cmdsh), and what needs the robot's agent.

Activating an add-on the deployment supports records the request: its status is ``starting``
until the robot's agent reports it ``active``. Using one (a camera snapshot, a drive command,
starting VNC) needs the agent; until it is connected such requests are refused as ``Unavailable``,
never answered with made-up data. VPN access is not offered."""

from __future__ import annotations

from fleetport.core.errors import Conflict, FailedPrecondition, Invalid, NotFound, Unavailable
from fleetport.core.models import Row
from fleetport.core.permissions import Principal
from fleetport.core.remote import policy
from fleetport.core.remote.model import ADDONS, INIT, READY
from fleetport.core.remote.workspaces import WorkspaceHost
from fleetport.store import Store, Tx
from fleetport.store import remote as rq

STARTING, ACTIVE = "starting", "active"
NOT_CONNECTED = "the robot's agent is not connected: {what} needs it; try again once the robot is online"


class Addons:
    def __init__(self, store: Store, host: WorkspaceHost) -> None:
        self.store = store
        self.host = host

    def activate(self, p: Principal, instance_id: str, addon: str) -> str:
        """Asks for the add-on on the instance; its status (``starting`` until the agent has it
        running). Activating an add-on twice is harmless."""
        _known(addon)
        with self.store.write() as conn:
            row = _usable(conn, p, instance_id)
            deployment = rq.deployment(conn, row["deployment_id"])
            offered = list(deployment["addons"]) if deployment else []
            if addon not in offered:
                raise FailedPrecondition(
                    f"the deployment of instance {row['id']} does not offer the {addon} add-on"
                    f" (it offers: {', '.join(offered) or 'none'})"
                )
            addons = dict(row["addons"])
            status = str(addons.setdefault(addon, STARTING))
            rq.update_instance(conn, row["id"], {"addons": addons})
            return status

    def status(self, p: Principal, instance_id: str, addon: str) -> str | None:
        """The add-on's status on the instance: ``starting``, ``active``, or None when inactive."""
        _known(addon)
        with self.store.read() as conn:
            row = policy.instance(conn, p, instance_id)
            status = dict(row["addons"]).get(addon)
            return None if status is None else str(status)

    def deactivate(self, p: Principal, instance_id: str, addon: str) -> None:
        _known(addon)
        with self.store.write() as conn:
            row = policy.instance(conn, p, instance_id, lock=True)
            addons = dict(row["addons"])
            if addons.pop(addon, None) is None:
                raise NotFound(f"the {addon} add-on is not active on instance {row['id']}")
            rq.update_instance(conn, row["id"], {"addons": addons})

    def use(self, p: Principal, instance_id: str, addon: str, what: str) -> None:
        """Checks that ``what`` (a snapshot, a drive command...) can reach the robot's agent
        through the active add-on; ``Unavailable`` while the agent is not connected."""
        _known(addon)
        with self.store.read() as conn:
            row = policy.instance(conn, p, instance_id)
            if addon not in dict(row["addons"]):
                raise NotFound(f"the {addon} add-on is not active on instance {row['id']}")
            machine_id = row["machine_id"]
        if not self.host.connected(machine_id):
            raise Unavailable(NOT_CONNECTED.format(what=what))
        raise Unavailable(f"{what} is not relayed to robots by this server yet")

    def vpn_client(self, p: Principal, instance_id: str) -> None:
        """VPN clients of an instance: not offered (the instance is checked first)."""
        with self.store.read() as conn:
            policy.instance(conn, p, instance_id)
        raise FailedPrecondition("VPN access is not offered by this server: instances are reached over SSH")


def _known(addon: str) -> None:
    if addon not in ADDONS:
        raise Invalid(f"unknown add-on {str(addon)[:40]!r}: the add-ons are {', '.join(ADDONS)}")


def _usable(conn: Tx, p: Principal, instance_id: str) -> Row:
    row = policy.instance(conn, p, instance_id, lock=True)
    if row["status"] not in (INIT, READY):
        raise Conflict(f"instance {row['id']} is {row['status']}: add-ons apply to active instances only")
    return row
