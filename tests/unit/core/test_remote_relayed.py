"""Relayed add-ons (mistyproxy, vnc) in core: ports of the remote range held from activation to
deactivation or the end of the instance, the robot-local target from the deployment's add-on
config, confirmation and failure reported by the machine's own agent, on-demand listening, the
firewall verdict of add-on ports, and hostile configs (SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest

from fleetport.core.credentials import BearerToken
from fleetport.core.errors import Busy, FailedPrecondition, Invalid, NotFound, Unavailable
from fleetport.core.fleet import Fleet
from fleetport.core.permissions import SYSTEM, Principal
from fleetport.core.remote import Relay
from fleetport.core.remote.model import Instance, relay_target
from fleetport.core.remote.workspaces import done
from fleetport.store import remote as rq
from tests.unit.core.remote_cast import RemoteCast, remote_cast

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1i1yWbOVoEXdF4DfbyaFFEY2Oy4mJuP8Md2cUzaAOa me@host"


class Host:
    """The robot's side as core sees it: always connected, recording what it is asked."""

    def __init__(self) -> None:
        self.relays: dict[str, Relay | None] = {}
        self.asked: list[str] = []

    def launch(self, instance: Instance, machine_id: str) -> None:
        return None

    def destroy(self, instance: Instance, machine_id: str) -> None:
        return None

    def connected(self, machine_id: str) -> bool:
        return True

    def addon_start(self, instance_id: str, machine_id: str, addon: str, relay: Relay | None) -> None:
        self.relays[addon] = relay
        self.asked.append(f"start {addon}")

    def addon_stop(self, instance_id: str, machine_id: str, addon: str) -> Future[None]:
        self.asked.append(f"stop {addon}")
        return done()

    def relay_open(self, instance_id: str, machine_id: str, addon: str) -> Future[None]:
        self.asked.append(f"open {addon}")
        return done()

    def relay_close(self, instance_id: str, machine_id: str, addon: str) -> Future[None]:
        self.asked.append(f"close {addon}")
        return done()


@pytest.fixture
def cast(fleet: Fleet, admin: Principal) -> RemoteCast:
    made = remote_cast(fleet, admin, ("cam", "mistyproxy", "vnc"))
    config = {"mistyproxy": {"ip": "192.168.7.20", "port": 8080}}
    fleet.remote.deployments.update(made.owner, made.deployment.id, addons_config=config)
    return made


def agent_of(fleet: Fleet, cast: RemoteCast) -> Principal:
    part = fleet.machines.parts(cast.owner, cast.machine.id)[0]
    secret = fleet.machines.create_secret(cast.owner, part.id).secret
    return fleet.identity.authenticate(BearerToken(secret))


def held_ports(fleet: Fleet) -> set[int]:
    first, last = fleet.remote.addons.settings.port_range
    with fleet.store.read() as conn:
        return rq.ports_in_use(conn, first, last)


def launched(fleet: Fleet, p: Principal, cast: RemoteCast) -> Instance:
    instance = fleet.remote.instances.launch(p, cast.deployment.id, public_key=PUBLIC_KEY).instance
    assert instance is not None and instance.port is not None
    return instance


def test_mistyproxy_holds_two_ports_until_deactivated(fleet: Fleet, cast: RemoteCast) -> None:
    host = Host()
    fleet.remote.attach_host(host)
    addons, agent = fleet.remote.addons, agent_of(fleet, cast)
    instance = launched(fleet, cast.ruled_in, cast)
    assert addons.activate(cast.ruled_in, instance.id, "mistyproxy") == "starting"
    relay = host.relays["mistyproxy"]
    assert relay is not None and relay.target == "192.168.7.20:8080" and relay.at_once
    ports = relay.ports
    assert set(ports) == {"http", "https"} and len({*ports.values(), instance.port}) == 3
    assert held_ports(fleet) == {*ports.values(), instance.port}
    shown = addons.status(cast.ruled_in, instance.id, "mistyproxy")
    assert shown is not None and shown.status == "starting" and shown.ports == {}
    with pytest.raises(Busy, match="add-on `mistyproxy` already applied"):
        addons.activate(cast.ruled_in, instance.id, "mistyproxy")
    assert host.asked == ["start mistyproxy"]
    with pytest.raises(NotFound):  # only the machine's own agent confirms
        addons.addon_active(cast.other, instance.id, "mistyproxy")
    assert addons.addon_active(agent, instance.id, "mistyproxy") == "active"
    shown = addons.status(cast.ruled_in, instance.id, "mistyproxy")
    assert shown is not None and shown.status == "active" and shown.ports == ports
    assert shown.host == fleet.remote.instances.settings.public_host
    with pytest.raises(NotFound, match="instance not found"):
        addons.status(cast.operator, instance.id, "mistyproxy")  # another's instance
    with pytest.raises(Invalid, match="only vnc"):
        addons.start(cast.ruled_in, instance.id, "mistyproxy")
    addons.deactivate(cast.ruled_in, instance.id, "mistyproxy").result(0)
    assert host.asked[-1] == "stop mistyproxy" and held_ports(fleet) == {instance.port}
    assert addons.status(cast.ruled_in, instance.id, "mistyproxy") is None
    assert addons.activate(cast.ruled_in, instance.id, "mistyproxy") == "starting"  # new ports
    again = host.relays["mistyproxy"]
    assert again is not None and len(held_ports(fleet)) == 3


def test_add_on_ports_get_the_firewall_verdict_while_active(fleet: Fleet, cast: RemoteCast) -> None:
    fleet.remote.attach_host(Host())
    instances, addons, agent = fleet.remote.instances, fleet.remote.addons, agent_of(fleet, cast)
    instance = launched(fleet, cast.owner, cast)
    addons.activate(cast.owner, instance.id, "mistyproxy")
    assert instances.verdict(SYSTEM, instance.id, "127.0.0.1", "mistyproxy") == "DROP"  # starting
    addons.addon_active(agent, instance.id, "mistyproxy")
    assert instances.verdict(SYSTEM, instance.id, "127.0.0.1", "mistyproxy") == "ACCEPT"
    assert instances.verdict(SYSTEM, instance.id, "127.0.0.1", "vnc") == "DROP"  # not active
    instances.add_firewall_rule(cast.owner, instance.id, "REJECT", "127.0.0.1/32")
    assert instances.verdict(SYSTEM, instance.id, "127.0.0.1", "mistyproxy") == "REJECT"
    assert instances.verdict(SYSTEM, instance.id, "127.0.0.2", "mistyproxy") == "DROP"
    addons.deactivate(cast.owner, instance.id, "mistyproxy").result(0)
    instances.flush_firewall(cast.owner, instance.id)
    instances.add_firewall_rule(cast.owner, instance.id, "ACCEPT")
    assert instances.verdict(SYSTEM, instance.id, "127.0.0.1", "mistyproxy") == "DROP"  # closing
    assert instances.verdict(SYSTEM, instance.id, "127.0.0.1") == "ACCEPT"  # the SSH port


def test_vnc_fails_clearly_then_starts_and_stops_on_demand(fleet: Fleet, cast: RemoteCast) -> None:
    host = Host()
    fleet.remote.attach_host(host)
    addons, agent = fleet.remote.addons, agent_of(fleet, cast)
    instance = launched(fleet, cast.ruled_in, cast)
    assert fleet.remote.instance_ready(agent, instance.id, PUBLIC_KEY).status == "READY"
    assert addons.activate(cast.ruled_in, instance.id, "vnc") == "starting"
    relay = host.relays["vnc"]
    assert relay is not None and relay.target is None and not relay.at_once and set(relay.ports) == {"vnc"}
    assert addons.activate(cast.ruled_in, instance.id, "vnc") == "starting"  # twice: harmless
    assert host.asked == ["start vnc"]  # and asked for once, with its ports
    with pytest.raises(Unavailable, match="still starting"):
        addons.start(cast.ruled_in, instance.id, "vnc")
    with pytest.raises(NotFound):
        addons.addon_failed(cast.ruled_in, instance.id, "vnc", "no")  # only its agent reports
    addons.addon_failed(agent, instance.id, "vnc", "no vnc target: give --vnc-target")
    with pytest.raises(NotFound, match="did not start: no vnc target: give --vnc-target"):
        addons.status(cast.ruled_in, instance.id, "vnc")
    with pytest.raises(NotFound, match="did not start"):
        addons.start(cast.ruled_in, instance.id, "vnc")
    assert held_ports(fleet) == {instance.port}
    with pytest.raises(FailedPrecondition):  # a failed add-on is not confirmed later
        addons.addon_active(agent, instance.id, "vnc")
    assert addons.activate(cast.ruled_in, instance.id, "vnc") == "starting"  # tried again
    addons.addon_active(agent, instance.id, "vnc")
    with pytest.raises(FailedPrecondition):  # an active add-on does not fail afterwards
        addons.addon_failed(agent, instance.id, "vnc", "late")
    shown = addons.status(cast.ruled_in, instance.id, "vnc")
    port = host.relays["vnc"].ports["vnc"]  # type: ignore[union-attr]
    assert shown is not None and shown.ports == {"vnc": port} and not shown.listening
    addons.start(cast.ruled_in, instance.id, "vnc").result(0)
    assert host.asked[-1] == "open vnc"
    addons.addon_listening(SYSTEM, instance.id, "vnc", True)  # what the hub records once it listens
    shown = addons.status(cast.ruled_in, instance.id, "vnc")
    assert shown is not None and shown.listening
    addons.stop(cast.ruled_in, instance.id, "vnc").result(0)
    assert host.asked[-1] == "close vnc"
    with pytest.raises(NotFound):
        addons.addon_listening(cast.ruled_in, instance.id, "vnc", False)  # the hub's report only
    with pytest.raises(NotFound, match="instance not found"):
        addons.start(cast.other, instance.id, "vnc")
    with pytest.raises(NotFound, match="instance not found"):
        addons.status(cast.ruled_in, "not-an-id\x00", "vnc")
    reason = "the robot's agent disconnected; its workspace is gone"
    fleet.remote.instance_lost(SYSTEM, instance.id, reason)
    with pytest.raises(NotFound, match=r"TERMINATED .*agent disconnected.*add-ons ended"):
        addons.status(cast.ruled_in, instance.id, "vnc")
    assert held_ports(fleet) == set()
    assert fleet.remote.instances.get(cast.ruled_in, instance.id).addons == {}


def test_add_on_ports_run_out_without_anything_half_made(fleet: Fleet, cast: RemoteCast) -> None:
    fleet.remote.attach_host(Host())
    small = fleet.remote.addons.settings.model_copy(update={"ports": "24090-24092"})
    fleet.remote.addons.settings = fleet.remote.instances.settings = small
    addons = fleet.remote.addons
    instance = launched(fleet, cast.owner, cast)
    addons.activate(cast.owner, instance.id, "mistyproxy")  # the last two ports
    with pytest.raises(FailedPrecondition, match="no port for the vnc add-on is free"):
        addons.activate(cast.owner, instance.id, "vnc")
    assert addons.status(cast.owner, instance.id, "vnc") is None
    assert held_ports(fleet) == {24090, 24091, 24092}


@pytest.mark.parametrize(
    "config",
    [
        {"ip": "a b"},
        {"ip": "192.168.1.2\x00"},
        {"ip": "\ud800"},
        {"ip": "x" * 300},
        {"ip": 5},
        {"ip": "10.0.0.1", "port": 0},
        {"ip": "10.0.0.1", "port": 2**70},
        {"ip": "10.0.0.1", "port": -80},
        {"ip": "10.0.0.1", "port": "80"},
        {"ip": "10.0.0.1", "path": "/"},
        "10.0.0.1",
    ],
)
def test_hostile_relay_configs_are_refused(fleet: Fleet, cast: RemoteCast, config: Any) -> None:
    with pytest.raises(Invalid):
        fleet.remote.deployments.update(cast.owner, cast.deployment.id, addons_config={"mistyproxy": config})
    assert (
        fleet.remote.deployments.get(cast.owner, cast.deployment.id).addons_config["mistyproxy"]["port"]
        == 8080
    )


def test_relay_targets_read_from_add_on_config() -> None:
    assert relay_target("mistyproxy", {"ip": "192.168.1.9"}) == "192.168.1.9:80"
    assert relay_target("vnc", {"ip": "::1"}) == "[::1]:5900"
    assert relay_target("vnc", {"ip": "misty-1.local", "port": 5901}) == "misty-1.local:5901"
    assert relay_target("mistyproxy", {}) is None and relay_target("mistyproxy", None) is None
    assert relay_target("vnc", {"port": 5901}) is None
