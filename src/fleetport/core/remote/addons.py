"""Add-ons of an instance (cam, drive, mistyproxy, vnc, cmdsh), and what needs the robot's agent.

Activating an add-on the deployment supports records the request: its status is ``starting``
until the robot's agent reports it ``active`` (``addon_active``); the connected agent is asked
to start it, and told when it is deactivated. The camera (``snapshot``) and drive (``drive``)
add-ons reach the robot through the agent; while it is not connected such requests are refused as
``Unavailable``, never answered with made-up data. VNC is not relayed yet. VPN access is not
offered."""

from __future__ import annotations

from concurrent.futures import Future

import orjson

from fleetport.core import validate
from fleetport.core.errors import Conflict, FailedPrecondition, Invalid, NotFound, Unavailable
from fleetport.core.models import Row
from fleetport.core.permissions import Principal
from fleetport.core.remote import policy
from fleetport.core.remote.model import ADDONS, INIT, READY
from fleetport.core.remote.workspaces import WorkspaceHost
from fleetport.store import Store, Tx
from fleetport.store import remote as rq

STARTING, ACTIVE = "starting", "active"
SNAPSHOT_SECONDS = 10.0  # how long a camera snapshot is waited for
DRIVE_COMMAND_BYTES = 4096  # a drive command's JSON, at most
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
            machine_id = row["machine_id"]
        if status == STARTING and self.host.connected(machine_id):
            self.host.addon_start(row["id"], machine_id, addon)
        return status

    def addon_active(self, p: Principal, instance_id: str, addon: str) -> str:
        """The robot's agent (a part of the instance's machine) started the add-on: ``active``."""
        _known(addon)
        with self.store.write() as conn:
            row = rq.lock_instance(conn, policy.instance_id(instance_id))
            if row is None or not _reporter(conn, p, row):
                raise NotFound(policy.NO_INSTANCE)
            addons = dict(row["addons"])
            if addon not in addons:
                raise FailedPrecondition(f"the {addon} add-on is not active on instance {row['id']}")
            if row["status"] not in (INIT, READY):
                raise Conflict(f"instance {row['id']} is {row['status']}: add-ons apply to active instances")
            addons[addon] = ACTIVE
            rq.update_instance(conn, row["id"], {"addons": addons})
            return ACTIVE

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
            machine_id = row["machine_id"]
        if self.host.connected(machine_id):
            self.host.addon_stop(row["id"], machine_id, addon)

    def snapshot(self, p: Principal, instance_id: str, camera: str) -> Future[bytes]:
        """An image of the robot's camera ``camera`` through the active cam add-on: a future of
        its JPEG bytes (``Unavailable`` when the agent is away, fails, or is too slow)."""
        camera = validate.bounded_text(str(camera), "camera", 100)
        row, machine_id = self._reachable(p, instance_id, "cam", "a camera snapshot")
        return self.host.snapshot(row["id"], machine_id, camera, SNAPSHOT_SECONDS)

    def drive(self, p: Principal, instance_id: str, command: object) -> None:
        """Passes a drive command (a JSON object) to the robot through the active drive add-on."""
        if not isinstance(command, dict):
            raise Invalid('a drive command is a JSON object, e.g. {"linearv": 0, "angularv": 0}')
        try:
            size = len(orjson.dumps(command))
        except TypeError:
            raise Invalid("a drive command holds JSON values only") from None
        if size > DRIVE_COMMAND_BYTES:
            raise Invalid(f"a drive command is at most {DRIVE_COMMAND_BYTES} bytes of JSON")
        row, machine_id = self._reachable(p, instance_id, "drive", "a drive command")
        self.host.drive(row["id"], machine_id, command)

    def _reachable(self, p: Principal, instance_id: str, addon: str, what: str) -> tuple[Row, str]:
        with self.store.read() as conn:
            row = policy.instance(conn, p, instance_id)
            status = dict(row["addons"]).get(addon)
            if status is None:
                raise NotFound(f"the {addon} add-on is not active on instance {row['id']}")
            machine_id = str(row["machine_id"])
        if not self.host.connected(machine_id):
            raise Unavailable(NOT_CONNECTED.format(what=what))
        if status != ACTIVE:
            raise Unavailable(f"the {addon} add-on of instance {row['id']} is still starting on the robot")
        return row, machine_id

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


def _reporter(conn: Tx, p: Principal, row: Row) -> bool:
    """Whether ``p`` may report on the instance: a part of its machine, or an admin."""
    if p.is_admin:
        return True
    if p.kind != "part" or not p.part_id:
        return False
    return bool(rq.part_machine(conn, p.part_id) == row["machine_id"])


def _usable(conn: Tx, p: Principal, instance_id: str) -> Row:
    row = policy.instance(conn, p, instance_id, lock=True)
    if row["status"] not in (INIT, READY):
        raise Conflict(f"instance {row['id']} is {row['status']}: add-ons apply to active instances only")
    return row
