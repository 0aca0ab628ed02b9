"""Add-ons of an instance (cam, drive, mistyproxy, vnc), and what needs the robot's agent.

Activating an add-on the deployment supports records the request: its status is ``starting``
until the robot's agent reports it ``active`` (``addon_active``), or reports that it cannot run it
(``addon_failed``: the add-on is then inactive, and asking for its status says why). The camera
(``snapshot``) and drive (``drive``) add-ons reach the robot through the agent; while it is not
connected such requests are refused as ``Unavailable``, never answered with made-up data.

The relayed add-ons (``mistyproxy``, ``vnc``) reach a TCP server on the robot's side (the address
in the deployment's add-on config, or the agent's own option) through ports of the remote port
range, held from activation until deactivation or the end of the instance: mistyproxy an ``http``
and an ``https`` port, listening once the agent confirmed it; vnc one port, listening between
``start`` and ``stop``. Each connection gets the instance's firewall verdict. Activating
mistyproxy twice is refused (``Busy``: deactivate it first, which gives new URLs next time), as
rerobots does. VPN access is not offered."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import orjson

from fleetport.core import validate
from fleetport.core.errors import Busy, Conflict, FailedPrecondition, Invalid, NotFound, Taken, Unavailable
from fleetport.core.models import Row
from fleetport.core.permissions import Principal
from fleetport.core.remote import lifecycle, policy
from fleetport.core.remote.model import (
    ADDONS,
    INIT,
    NOT_OFFERED,
    ON_DEMAND,
    READY,
    RELAYED,
    AddonStatus,
    addon_status,
    relay_target,
)
from fleetport.core.remote.workspaces import Relay, WorkspaceHost, done
from fleetport.settings import RemoteSettings
from fleetport.store import Store, Tx
from fleetport.store import remote as rq

STARTING, ACTIVE, FAILED = "starting", "active", "failed"
ONCE = ("mistyproxy",)  # activated twice: refused (its URLs are made once per activation)
SNAPSHOT_SECONDS = 10.0  # how long a camera snapshot is waited for
DRIVE_COMMAND_BYTES = 4096  # a drive command's JSON, at most
NOT_CONNECTED = "the robot's agent is not connected: {what} needs it; try again once the robot is online"
PORT_TAKEN = "a port was taken by a concurrent request; try again"


class Addons:
    def __init__(self, store: Store, settings: RemoteSettings, host: WorkspaceHost) -> None:
        self.store = store
        self.settings = settings
        self.host = host

    def activate(self, p: Principal, instance_id: str, addon: str) -> str:
        """Asks for the add-on on the instance; its status (``starting`` until the agent has it
        running). Activating cam, drive or vnc twice is harmless; mistyproxy twice is ``Busy``."""
        _known(addon)
        for attempt in range(5):  # a port taken by a concurrent launch or activation: choose again
            try:
                status, relay, row, fresh = self._activate(p, instance_id, addon)
                break
            except Taken:
                if attempt == 4:
                    raise
        resend = fresh or addon not in RELAYED  # (a relayed add-on is asked for once per activation)
        if status == STARTING and resend and self.host.connected(row["machine_id"]):
            self.host.addon_start(row["id"], row["machine_id"], addon, relay)
        return status

    def _activate(self, p: Principal, instance_id: str, addon: str) -> tuple[str, Relay | None, Row, bool]:
        with self.store.write(conflict=PORT_TAKEN) as conn:
            row = _usable(conn, p, instance_id)
            deployment = rq.deployment(conn, row["deployment_id"])
            offered = list(deployment["addons"]) if deployment else []
            if deployment is None or addon not in offered:
                raise FailedPrecondition(
                    f"the deployment of instance {row['id']} does not offer the {addon} add-on"
                    f" (it offers: {', '.join(offered) or 'none'})"
                )
            addons = dict(row["addons"])
            current = addon_status(addons[addon]) if addon in addons else None
            if current in (STARTING, ACTIVE):
                if addon in ONCE:
                    raise Busy(
                        f"add-on `{addon}` already applied to instance {row['id']}: deactivate it first"
                    )
                return str(current), None, row, False
            relay = None
            if addon in RELAYED:
                try:
                    target = relay_target(addon, dict(deployment["addons_config"]).get(addon))
                except Invalid as exc:
                    raise FailedPrecondition(f"the deployment cannot relay it: {exc.message}") from None
                ports = lifecycle.take_ports(conn, self.settings, row["id"], addon, RELAYED[addon])
                relay = Relay(target, ports, at_once=addon not in ON_DEMAND)
            addons[addon] = {"status": STARTING}
            rq.update_instance(conn, row["id"], {"addons": addons})
            return STARTING, relay, row, True

    def addon_active(self, p: Principal, instance_id: str, addon: str) -> str:
        """The robot's agent (a part of the instance's machine) started the add-on: ``active``."""
        _known(addon)
        with self.store.write() as conn:
            row, addons, state = self._reported(conn, p, instance_id, addon)
            if row["status"] not in (INIT, READY):
                raise Conflict(f"instance {row['id']} is {row['status']}: add-ons apply to active instances")
            addons[addon] = {**state, "status": ACTIVE}
            rq.update_instance(conn, row["id"], {"addons": addons})
            return ACTIVE

    def addon_failed(self, p: Principal, instance_id: str, addon: str, reason: str) -> None:
        """The robot's agent (or the server relaying it) could not start the add-on: it is inactive
        again, its ports are given back, and its status says why until it is activated again."""
        _known(addon)
        reason = validate.bounded_text(reason, "reason", 1000) or "the robot's agent could not start it"
        with self.store.write() as conn:
            row, addons, state = self._reported(conn, p, instance_id, addon)
            if state["status"] != STARTING:
                raise FailedPrecondition(f"the {addon} add-on of instance {row['id']} is {state['status']}")
            addons[addon] = {"status": FAILED, "error": reason}
            rq.update_instance(conn, row["id"], {"addons": addons})
            rq.delete_ports(conn, row["id"], addon)

    def addon_listening(self, p: Principal, instance_id: str, addon: str, listening: bool) -> None:
        """The server opened (or closed) the port of a relayed add-on that listens on demand."""
        _known(addon)
        with self.store.write() as conn:
            row, addons, state = self._reported(conn, p, instance_id, addon)
            if state["status"] != ACTIVE:
                raise FailedPrecondition(f"the {addon} add-on of instance {row['id']} is {state['status']}")
            addons[addon] = {**state, "listening": bool(listening)}
            rq.update_instance(conn, row["id"], {"addons": addons})

    def _reported(
        self, conn: Tx, p: Principal, instance_id: str, addon: str
    ) -> tuple[Row, dict[str, Any], dict[str, Any]]:
        """The instance (locked), its add-ons and the add-on's state, if ``p`` reports on it."""
        row = rq.lock_instance(conn, policy.instance_id(instance_id))
        if row is None or not _reporter(conn, p, row):
            raise NotFound(policy.NO_INSTANCE)
        addons = dict(row["addons"])
        state = _state(addons.get(addon))
        if state is None or state["status"] == FAILED:
            raise FailedPrecondition(f"the {addon} add-on is not active on instance {row['id']}")
        return row, addons, state

    def status(self, p: Principal, instance_id: str, addon: str) -> AddonStatus | None:
        """The add-on on the instance (``starting`` or ``active``, with a relayed add-on's ports
        once active), or None when it is inactive; ``NotFound`` saying why when it failed to start
        or the instance has ended."""
        _known(addon)
        with self.store.read() as conn:
            row = policy.instance(conn, p, instance_id)
            _running(row)
            state = _state(dict(row["addons"]).get(addon))
            if state is None:
                return None
            if state["status"] == FAILED:
                raise NotFound(
                    f"the {addon} add-on of instance {row['id']} did not start: {state.get('error')}"
                )
            ports = (
                rq.ports_of(conn, row["id"], addon) if addon in RELAYED and state["status"] == ACTIVE else {}
            )
        listening = bool(state.get("listening")) if addon in ON_DEMAND else bool(ports)
        return AddonStatus(addon, str(state["status"]), self.settings.public_host, ports, listening)

    def deactivate(self, p: Principal, instance_id: str, addon: str) -> Future[None]:
        """Ends the add-on: its ports are given back; the future completes once the server closed
        them (and their connections)."""
        _known(addon)
        with self.store.write() as conn:
            row = policy.instance(conn, p, instance_id, lock=True)
            addons = dict(row["addons"])
            if addons.pop(addon, None) is None:
                raise NotFound(f"the {addon} add-on is not active on instance {row['id']}")
            rq.update_instance(conn, row["id"], {"addons": addons})
            rq.delete_ports(conn, row["id"], addon)
            machine_id = row["machine_id"]
        if addon in RELAYED or self.host.connected(machine_id):
            return self.host.addon_stop(row["id"], machine_id, addon)
        return done()

    def start(self, p: Principal, instance_id: str, addon: str) -> Future[None]:
        """Opens the port of an active add-on that listens on demand (vnc): the future completes
        once it listens (``Unavailable`` if it cannot)."""
        row, machine_id = self._on_demand(p, instance_id, addon, "start", f"starting {addon}")
        return self.host.relay_open(row["id"], machine_id, addon)

    def stop(self, p: Principal, instance_id: str, addon: str) -> Future[None]:
        """Closes that port and its connections; the add-on stays active (start opens it again)."""
        row, machine_id = self._on_demand(p, instance_id, addon, "stop", f"stopping {addon}")
        return self.host.relay_close(row["id"], machine_id, addon)

    def _on_demand(self, p: Principal, instance_id: str, addon: str, verb: str, what: str) -> tuple[Row, str]:
        _known(addon)
        if addon not in ON_DEMAND:
            raise Invalid(
                f"the {addon} add-on has no {verb}: only {', '.join(ON_DEMAND)} is started on demand"
            )
        return self._reachable(p, instance_id, addon, what)

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
            state = _state(dict(row["addons"]).get(addon))
            if state is None:
                raise NotFound(f"the {addon} add-on is not active on instance {row['id']}")
            if state["status"] == FAILED:
                raise NotFound(
                    f"the {addon} add-on of instance {row['id']} did not start: {state.get('error')}"
                )
            status = state["status"]
            machine_id = str(row["machine_id"])
        if not self.host.connected(machine_id):
            raise Unavailable(NOT_CONNECTED.format(what=what))
        if status != ACTIVE:
            raise Unavailable(f"the {addon} add-on of instance {row['id']} is still starting on the robot")
        return row, machine_id

    def vpn_client(self, p: Principal, instance_id: str) -> None:
        """VPN clients of an instance: not offered (the instance is checked first)."""
        with self.store.read() as conn:
            policy.instance(conn, p, instance_id)
        raise FailedPrecondition("VPN access is not offered by this server: instances are reached over SSH")


def _known(addon: str) -> None:
    if addon not in ADDONS:
        unknown = f"unknown add-on {str(addon)[:40]!r}: the add-ons are {', '.join(ADDONS)}"
        raise Invalid(NOT_OFFERED.get(addon, unknown))


def _state(value: object) -> dict[str, Any] | None:
    """An add-on's stored state as an object (``status``; ``error`` once failed; ``listening`` for
    a port that listens on demand); None when it is absent."""
    if value is None:
        return None
    return dict(value) if isinstance(value, dict) else {"status": str(value)}


def _running(row: Row) -> None:
    if row["status"] not in (INIT, READY):
        failure = f" ({row['failure']})" if row["failure"] else ""
        raise NotFound(f"instance {row['id']} is {row['status']}{failure}: its add-ons ended with it")


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
