"""Remote access in core: who may launch, instances from INIT to their end, reservations started
when a deployment frees, the sweep duty, firewall rules, add-ons, forwarding ports, listings and
hostile input (SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest

from fleetport.core.credentials import BearerToken
from fleetport.core.errors import (
    Busy,
    FailedPrecondition,
    Invalid,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from fleetport.core.fleet import Fleet
from fleetport.core.ids import hash_secret
from fleetport.core.pages import PageRequest
from fleetport.core.permissions import Principal
from fleetport.core.remote import Relay
from fleetport.core.remote.model import Instance
from fleetport.core.remote.workspaces import done
from fleetport.core.telemetry.dispatch import Sending
from fleetport.settings import RemoteSettings
from tests.unit.core.remote_cast import RemoteCast, remote_cast, user

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1i1yWbOVoEXdF4DfbyaFFEY2Oy4mJuP8Md2cUzaAOa me@host"


class Sent:
    def __init__(self) -> None:
        self.sendings: list[Sending] = []

    def send(self, sending: Sending) -> None:
        self.sendings.append(sending)


@pytest.fixture
def cast(fleet: Fleet, admin: Principal) -> RemoteCast:
    return remote_cast(fleet, admin)


def remote_settings(fleet: Fleet, **changes: Any) -> None:
    fleet.remote.instances.settings = fleet.remote.instances.settings.model_copy(update=changes)


def launch(fleet: Fleet, p: Principal, target: str, **kwargs: Any) -> Instance:
    started = fleet.remote.instances.launch(p, target, public_key=PUBLIC_KEY, **kwargs)
    assert started.instance is not None
    return started.instance


def test_who_may_launch_follows_roles_rules_and_lockout(fleet: Fleet, cast: RemoteCast) -> None:
    instances, wd = fleet.remote.instances, cast.deployment.id
    for allowed in (cast.owner, cast.operator, cast.ruled_in):
        instance = launch(fleet, allowed, wd)
        assert instance.status == "INIT" and instance.launched_by == allowed.id
        instances.terminate(allowed, instance.id)
    with pytest.raises(PermissionDenied, match="CAP_NO_INSTANTIATE"):
        launch(fleet, cast.ruled_out, wd)
    with pytest.raises(NotFound, match="no workspace deployment found with given ID"):
        launch(fleet, cast.other, wd)
    fleet.remote.deployments.update(cast.owner, wd, locked_out=True)
    with pytest.raises(PermissionDenied, match="locked out"):
        launch(fleet, cast.operator, wd)
    instances.terminate(cast.owner, launch(fleet, cast.owner, wd).id)  # owners still may
    with pytest.raises(PermissionDenied):
        fleet.remote.deployments.update(cast.operator, wd, locked_out=False)
    with pytest.raises(PermissionDenied):
        fleet.remote.deployments.add_rule(cast.ruled_in, wd, "CAP_INSTANTIATE")


def test_a_launch_without_a_key_hands_out_an_rsa_key_once(fleet: Fleet, cast: RemoteCast) -> None:
    started = fleet.remote.instances.launch(cast.owner, cast.deployment.id)
    assert started.private_key is not None
    assert started.private_key.startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert started.instance is not None and started.instance.public_key.startswith("ssh-rsa ")
    first, last = fleet.settings.remote.port_range
    assert started.instance.port is not None and first <= started.instance.port <= last
    assert started.instance.port != 22
    assert started.instance.firewall is None  # no chain yet: every address accepted
    again = fleet.remote.instances.get(cast.owner, started.instance.id)
    assert again.public_key == started.instance.public_key and again.type == "fixed_misty2"


def test_a_busy_deployment_refuses_or_reserves_and_frees_to_the_oldest(
    fleet: Fleet, cast: RemoteCast
) -> None:
    sent = Sent()
    fleet.remote.instances.dispatcher = sent  # type: ignore[assignment]
    instances, wd = fleet.remote.instances, cast.deployment.id
    first = launch(fleet, cast.owner, wd)
    with pytest.raises(Busy, match=r"^All matching workspace deployments are busy"):
        launch(fleet, cast.operator, wd)
    waiting = instances.launch(cast.operator, wd, reserve=True, event_url="http://127.0.0.1:9/e")
    later = instances.launch(cast.ruled_in, "fixed_misty2", reserve=True, public_key=PUBLIC_KEY)
    assert waiting.reservation is not None and waiting.instance is None and waiting.private_key
    assert later.reservation is not None
    assert fleet.remote.deployments.get(cast.owner, wd).queuelen == 2
    assert [r.id for r in fleet.remote.reservations.list(cast.operator)] == [waiting.reservation.id]
    ended = instances.terminate(cast.owner, first.id)
    assert ended.status == "TERMINATED" and ended.port is None and ended.terminated_at is not None
    with pytest.raises(FailedPrecondition, match="ended already"):
        instances.terminate(cast.owner, first.id)
    (started,) = instances.list(cast.operator, PageRequest()).page.items
    assert started.status == "INIT" and started.launched_by == cast.operator.id
    assert fleet.remote.reservations.list(cast.operator) == []
    (sending,) = sent.sendings
    assert sending.url == "http://127.0.0.1:9/e" and started.id in sending.body
    assert waiting.reservation.id in sending.body and sending.content_type == "application/json"
    fleet.remote.reservations.cancel(cast.ruled_in, later.reservation.id)
    with pytest.raises(NotFound):
        fleet.remote.reservations.cancel(cast.ruled_in, later.reservation.id)


def test_the_sweep_fails_unanswered_launches_and_ends_expired_instances(
    fleet: Fleet, admin: Principal, cast: RemoteCast
) -> None:
    instances = fleet.remote.instances
    remote_settings(fleet, launch_timeout_seconds=0.001)
    failed = launch(fleet, cast.owner, cast.deployment.id)
    assert instances.sweep() == 1
    shown = instances.get(cast.owner, failed.id)
    assert shown.status == "INIT_FAIL" and shown.port is None and "did not answer" in shown.failure
    remote_settings(fleet, launch_timeout_seconds=60.0)
    ready = launch(fleet, cast.owner, cast.deployment.id, expire_seconds=1)
    part = fleet.machines.parts(cast.owner, cast.machine.id)[0]
    secret = fleet.machines.create_secret(cast.owner, part.id).secret
    agent = fleet.identity.authenticate(BearerToken(secret))
    fleet.agents.connect(agent)  # online: the sweep leaves what it holds alone
    with pytest.raises(NotFound):  # another machine's part is told nothing
        instances.instance_ready(cast.other, ready.id, PUBLIC_KEY)
    shown = instances.instance_ready(agent, ready.id, "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY=")
    assert shown.status == "READY" and shown.hostkey and shown.host == "127.0.0.1"
    assert instances.sweep() == 0
    with fleet.store.write() as conn:  # its time is up
        from fleetport.store import remote as rq

        rq.update_instance(conn, ready.id, {"expires_at": shown.started_at})
    assert instances.sweep() == 1
    shown = instances.get(cast.owner, ready.id)
    assert shown.status == "TERMINATED" and shown.failure == "it expired: its duration (expire_d) was 1 s"


def test_firewall_rules_and_addons(fleet: Fleet, cast: RemoteCast) -> None:
    instances, addons = fleet.remote.instances, fleet.remote.addons
    instance = launch(fleet, cast.ruled_in, cast.deployment.id)
    assert instances.firewall(cast.ruled_in, instance.id) is None
    rules = instances.add_firewall_rule(cast.ruled_in, instance.id, "DROP", "192.0.2.7/24")
    assert [(r.source, r.action) for r in rules] == [("192.0.2.0/24", "DROP")]
    instances.add_firewall_rule(cast.owner, instance.id, "ACCEPT")
    assert [r.source for r in instances.firewall(cast.ruled_in, instance.id) or []] == ["192.0.2.0/24", None]
    instances.flush_firewall(cast.ruled_in, instance.id)
    assert instances.firewall(cast.ruled_in, instance.id) == []
    for action, source in (("ALLOW", None), ("DROP", "nowhere"), ("DROP", "1.2.3.4\x00"), ("DROP", "\ud800")):
        with pytest.raises(Invalid):
            instances.add_firewall_rule(cast.ruled_in, instance.id, action, source)
    with pytest.raises(NotFound, match="instance not found"):
        instances.firewall(cast.operator, instance.id)  # another's instance does not exist for them
    with pytest.raises(FailedPrecondition, match="does not offer the vnc add-on"):
        addons.activate(cast.ruled_in, instance.id, "vnc")
    assert addons.status(cast.ruled_in, instance.id, "cam") is None
    assert addons.activate(cast.ruled_in, instance.id, "cam") == "starting"
    assert addons.activate(cast.ruled_in, instance.id, "cam") == "starting"
    shown = addons.status(cast.ruled_in, instance.id, "cam")
    assert shown is not None and shown.status == "starting" and shown.ports == {}
    with pytest.raises(Unavailable, match="agent is not connected"):
        addons.snapshot(cast.ruled_in, instance.id, "0")
    with pytest.raises(NotFound):
        addons.drive(cast.ruled_in, instance.id, {"linearv": 0})
    addons.deactivate(cast.ruled_in, instance.id, "cam").result(0)
    with pytest.raises(NotFound):
        addons.deactivate(cast.ruled_in, instance.id, "cam")
    with pytest.raises(Invalid, match="unknown add-on 'teleport'"):
        addons.activate(cast.ruled_in, instance.id, "teleport")
    with pytest.raises(Invalid, match="cmdsh add-on is not offered by this server"):
        addons.activate(cast.ruled_in, instance.id, "cmdsh")
    with pytest.raises(Invalid, match="cmdsh add-on is not offered by this server"):
        fleet.remote.deployments.update(cast.owner, cast.deployment.id, addons=["cam", "cmdsh"])
    with pytest.raises(FailedPrecondition, match="VPN"):
        addons.vpn_client(cast.ruled_in, instance.id)


def test_ports_run_out_with_a_clear_error(fleet: Fleet, admin: Principal, cast: RemoteCast) -> None:
    remote_settings(fleet, ports="20000-20000")
    lab = fleet.locations.create(cast.owner, cast.org.id, "yard")
    second = fleet.machines.create(cast.owner, lab.id, "rover")
    other = fleet.remote.deployments.create(cast.owner, second.id, "rover")
    assert launch(fleet, cast.owner, cast.deployment.id).port == 20000
    with pytest.raises(FailedPrecondition, match=r"no forwarding port is free: all 1 ports .*20000-20000"):
        launch(fleet, cast.owner, other.id)
    assert fleet.remote.deployments.get(cast.owner, other.id).instance_count == 0


def test_search_types_paging_and_visibility(fleet: Fleet, admin: Principal, cast: RemoteCast) -> None:
    deployments = fleet.remote.deployments
    lab = fleet.locations.create(cast.owner, cast.org.id, "yard")
    for n in range(5):
        machine = fleet.machines.create(cast.owner, lab.id, f"kobuki{n}")
        deployments.create(cast.owner, machine.id, "basic_kobuki", "us:ny")
    assert deployments.types(cast.owner) == ["basic_kobuki", "fixed_misty2"]
    assert deployments.types(cast.ruled_in) == ["fixed_misty2"]  # through its rule only
    assert deployments.types(cast.other) == []
    everything = deployments.search(cast.owner, PageRequest())
    assert everything.total == 6 and everything.page.next_cursor is None
    first = deployments.search(cast.owner, PageRequest(limit=4, offset=0))
    assert len(first.page.items) == 4 and first.page.next_cursor
    rest = deployments.search(cast.owner, PageRequest(limit=4, cursor=first.page.next_cursor))
    assert [d.id for d in first.page.items + rest.page.items] == [d.id for d in everything.page.items]
    clamped = deployments.search(cast.owner, PageRequest(limit=4, offset=40), clamp=True)
    assert clamped.offset == 4 and len(clamped.page.items) == 2
    assert deployments.search(cast.owner, PageRequest(), not_types=["basic_kobuki"]).total == 1
    assert deployments.search(cast.owner, PageRequest(), types=["basic_kobuki"], text="NY").total == 5
    assert deployments.search(cast.owner, PageRequest(), text="100%_").total == 0
    launch(fleet, cast.owner, cast.deployment.id)
    fleet.remote.instances.launch(cast.operator, cast.deployment.id, reserve=True, public_key=PUBLIC_KEY)
    assert deployments.search(cast.owner, PageRequest(), maxlen=0).total == 5
    for hostile in (
        {"types": ["a,b"]},
        {"text": "\x00"},
        {"text": "x" * 201},
        {"maxlen": -1},
        {"maxlen": 2**64},
    ):
        with pytest.raises(Invalid):
            deployments.search(cast.owner, PageRequest(), **hostile)


def test_rules_and_deployment_changes(fleet: Fleet, cast: RemoteCast) -> None:
    deployments, wd = fleet.remote.deployments, cast.deployment.id
    rules = deployments.rules(cast.owner, wd)
    assert {(r.capability, r.user_email) for r in rules} == {
        ("CAP_INSTANTIATE", "rita@example.com"),
        ("CAP_NO_INSTANTIATE", "rex@example.com"),
    }
    assert [r.user_email for r in deployments.rules(cast.owner, user="rita@example.com")] == [
        "rita@example.com"
    ]
    everyone = deployments.add_rule(cast.owner, wd, "CAP_INSTANTIATE")
    assert everyone.user_id is None
    deployments.delete_rule(cast.owner, wd, everyone.id)
    with pytest.raises(NotFound):
        deployments.delete_rule(cast.owner, wd, everyone.id)
    with pytest.raises(Invalid):
        deployments.add_rule(cast.owner, wd, "CAP_EVERYTHING")
    with pytest.raises(NotFound):
        deployments.add_rule(cast.owner, wd, "CAP_INSTANTIATE", "nobody@example.com")
    with pytest.raises(PermissionDenied):
        deployments.rules(cast.operator, wd)
    changed = deployments.update(
        cast.owner, wd, addons=["vnc", "cam"], addons_config={"vnc": {}}, region="eu"
    )
    assert changed.addons == ["cam", "vnc"] and changed.region == "eu"
    for hostile in (
        {"addons": ["cam", 3]},
        {"type": "a b"},
        {"region": "\ud800"},
        {"addons_config": {"x": 1}},
    ):
        with pytest.raises(Invalid):
            deployments.update(cast.owner, wd, **hostile)
    with pytest.raises(FailedPrecondition, match="has a deployment already"):
        deployments.create(cast.owner, cast.machine.id)
    instance = launch(fleet, cast.owner, wd)
    with pytest.raises(FailedPrecondition, match="terminate it first"):
        deployments.delete(cast.owner, wd)
    fleet.remote.instances.terminate(cast.owner, instance.id)
    deployments.delete(cast.owner, wd)
    with pytest.raises(NotFound):
        deployments.get(cast.owner, wd)


def test_hostile_launches(fleet: Fleet, cast: RemoteCast) -> None:
    instances, wd = fleet.remote.instances, cast.deployment.id
    for target in ("", "\x00", "no-such-type", "00000000-0000-0000-0000-000000000000", "x" * 5000):
        with pytest.raises(NotFound):
            instances.launch(cast.owner, target, public_key=PUBLIC_KEY)
    for hostile in (
        {"public_key": "not a key"},
        {"public_key": "ssh-rsa AAAA\x00"},
        {"public_key": 7},
        {"expire_seconds": 2**70},
        {"expire_seconds": 0},
        {"expire_seconds": True},
        {"event_url": "ftp://x"},
        {"vpn": True},
        {"reserve": "yes"},
    ):
        with pytest.raises(Invalid):
            instances.launch(cast.owner, wd, **{"public_key": PUBLIC_KEY, **hostile})
    for iid in ("", "\ud800", "nope", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(NotFound, match="instance not found"):
            instances.get(cast.owner, iid)


def test_revoke_and_purge(fleet: Fleet, admin: Principal) -> None:
    fleet.identity.create_user(admin, "pat@example.com", "pat", "password1")
    tokens = [fleet.identity.login("pat@example.com", "password1").token for _ in range(3)]
    pat = fleet.identity.authenticate(BearerToken(tokens[0]))
    eve = user(fleet, admin, "eve")
    with pytest.raises(NotFound):
        fleet.identity.revoke(eve, hash_secret(tokens[1]))
    fleet.identity.revoke(pat, hash_secret(tokens[1]))
    with pytest.raises(Unauthenticated):
        fleet.identity.authenticate(BearerToken(tokens[1]))
    for hostile in ("", "zz" * 32, "a" * 63, "\x00" * 64):
        with pytest.raises(Invalid):
            fleet.identity.revoke(pat, hostile)
    assert fleet.identity.purge(pat) == 2
    for token in (tokens[0], tokens[2]):
        with pytest.raises(Unauthenticated):
            fleet.identity.authenticate(BearerToken(token))


def test_remote_settings_refuse_bad_port_ranges() -> None:
    for bad in ("22-22", "30000-20000", "0-10", "1-70000", "a-b", "20000"):
        with pytest.raises(ValueError):
            RemoteSettings(ports=bad)
    assert RemoteSettings(ports="22-23").port_range == (22, 23)


def test_a_lost_agent_ends_its_instances_with_the_reason(
    fleet: Fleet, admin: Principal, cast: RemoteCast
) -> None:
    from fleetport.core.permissions import SYSTEM

    instances = fleet.remote.instances
    starting = launch(fleet, cast.owner, cast.deployment.id)
    with pytest.raises(NotFound):  # only the machine's parts (or the system) report
        instances.instance_lost(cast.other, starting.id, "gone")
    shown = instances.instance_lost(SYSTEM, starting.id, "the robot's agent disconnected")
    assert (
        shown.status == "INIT_FAIL"
        and shown.port is None
        and shown.failure == "the robot's agent disconnected"
    )
    ready = launch(fleet, cast.owner, cast.deployment.id)
    instances.instance_ready(SYSTEM, ready.id, PUBLIC_KEY)
    shown = instances.instance_lost(SYSTEM, ready.id, "")
    assert (
        shown.status == "TERMINATED"
        and shown.terminated_at
        and shown.failure == "the robot's agent went away"
    )
    with pytest.raises(FailedPrecondition, match="ended already"):
        instances.instance_lost(SYSTEM, ready.id, "again")
    with pytest.raises(Invalid):
        instances.instance_lost(SYSTEM, ready.id, "\x00")
    assert launch(fleet, cast.owner, cast.deployment.id).status == "INIT"  # the deployment is free


def test_the_firewall_verdict_follows_the_first_matching_rule(fleet: Fleet, cast: RemoteCast) -> None:
    from fleetport.core.remote.instances import firewall_verdict
    from fleetport.core.remote.model import FirewallRule

    assert firewall_verdict(None, "203.0.113.9") == "ACCEPT"  # no chain yet
    assert firewall_verdict([], "203.0.113.9") == "DROP"  # a flushed chain
    rules = [FirewallRule("127.0.0.1/32", "REJECT"), FirewallRule("127.0.0.0/8", "ACCEPT")]
    assert firewall_verdict(rules, "127.0.0.1") == "REJECT"
    assert firewall_verdict(rules, "::ffff:127.0.0.2") == "ACCEPT"
    assert firewall_verdict(rules, "192.0.2.1") == "DROP"
    assert firewall_verdict([FirewallRule(None, "REJECT")], "::1") == "REJECT"
    assert firewall_verdict(rules, "not an address") == "DROP"
    instance = launch(fleet, cast.owner, cast.deployment.id)
    fleet.remote.instances.add_firewall_rule(cast.owner, instance.id, "DROP", "127.0.0.1/32")
    assert fleet.remote.instances.verdict(cast.owner, instance.id, "127.0.0.1") == "DROP"
    assert fleet.remote.instances.verdict(cast.owner, instance.id, "127.0.0.2") == "DROP"
    fleet.remote.instances.add_firewall_rule(cast.owner, instance.id, "ACCEPT")
    assert fleet.remote.instances.verdict(cast.owner, instance.id, "127.0.0.2") == "ACCEPT"


def test_an_attached_host_is_asked(fleet: Fleet, cast: RemoteCast) -> None:
    asked: list[str] = []

    class Host:
        def launch(self, instance: Instance, machine_id: str) -> None:
            asked.append(f"launch {instance.id} {machine_id}")

        def destroy(self, instance: Instance, machine_id: str) -> None:
            asked.append(f"destroy {instance.id}")

        def connected(self, machine_id: str) -> bool:
            return True

    fleet.remote.attach_host(Host())
    instance = launch(fleet, cast.owner, cast.deployment.id)
    assert asked == [f"launch {instance.id} {cast.machine.id}"]
    assert fleet.remote.instances.terminate(cast.owner, instance.id).status == "TERMINATING"
    assert asked[-1] == f"destroy {instance.id}"


def test_addons_are_started_confirmed_and_used_through_the_host(fleet: Fleet, cast: RemoteCast) -> None:
    asked: list[str] = []

    class Host:
        def launch(self, instance: Instance, machine_id: str) -> None:
            return None

        def destroy(self, instance: Instance, machine_id: str) -> None:
            return None

        def connected(self, machine_id: str) -> bool:
            return True

        def addon_start(self, instance_id: str, machine_id: str, addon: str, relay: Relay | None) -> None:
            asked.append(f"start {addon}")

        def addon_stop(self, instance_id: str, machine_id: str, addon: str) -> Future[None]:
            asked.append(f"stop {addon}")
            return done()

        def snapshot(self, instance_id: str, machine_id: str, camera: str, timeout: float) -> Future[bytes]:
            future: Future[bytes] = Future()
            future.set_result(b"\xff\xd8\xff" + camera.encode())
            return future

        def drive(self, instance_id: str, machine_id: str, command: dict[str, Any]) -> None:
            asked.append(f"drive {command}")

    fleet.remote.attach_host(Host())
    addons = fleet.remote.addons
    instance = launch(fleet, cast.ruled_in, cast.deployment.id)
    assert addons.activate(cast.ruled_in, instance.id, "cam") == "starting"
    assert asked == ["start cam"]
    with pytest.raises(Unavailable, match="still starting"):
        addons.snapshot(cast.ruled_in, instance.id, "0")
    part = fleet.machines.parts(cast.owner, cast.machine.id)[0]
    agent = fleet.identity.authenticate(BearerToken(fleet.machines.create_secret(cast.owner, part.id).secret))
    with pytest.raises(NotFound):  # only the machine's own agent confirms
        addons.addon_active(cast.other, instance.id, "cam")
    with pytest.raises(FailedPrecondition):  # not asked for
        addons.addon_active(agent, instance.id, "drive")
    assert addons.addon_active(agent, instance.id, "cam") == "active"
    shown = addons.status(cast.ruled_in, instance.id, "cam")
    assert shown is not None and shown.status == "active"
    assert addons.activate(cast.ruled_in, instance.id, "cam") == "active" and asked == ["start cam"]
    assert addons.snapshot(cast.ruled_in, instance.id, "0").result() == b"\xff\xd8\xff0"
    with pytest.raises(Invalid):
        addons.snapshot(cast.ruled_in, instance.id, "\x00")
    with pytest.raises(NotFound):
        addons.snapshot(cast.operator, instance.id, "0")  # another's instance
    addons.deactivate(cast.ruled_in, instance.id, "cam")
    assert asked[-1] == "stop cam"
    with pytest.raises(NotFound):
        addons.snapshot(cast.ruled_in, instance.id, "0")
    assert addons.activate(cast.ruled_in, instance.id, "drive") == "starting"
    addons.addon_active(agent, instance.id, "drive")
    addons.drive(cast.ruled_in, instance.id, {"linearv": 1, "angularv": 0})
    assert asked[-1] == "drive {'linearv': 1, 'angularv': 0}"
    for hostile in ([1], "go", {"x": "a" * 5000}, {1: 2}, {"x": 2**70}):
        with pytest.raises(Invalid):
            addons.drive(cast.ruled_in, instance.id, hostile)
    assert asked[-1] == "drive {'linearv': 1, 'angularv': 0}"


def test_without_an_agent_a_snapshot_is_unavailable(fleet: Fleet, cast: RemoteCast) -> None:
    addons = fleet.remote.addons
    instance = launch(fleet, cast.ruled_in, cast.deployment.id)
    addons.activate(cast.ruled_in, instance.id, "cam")
    with pytest.raises(Unavailable, match="not connected"):
        addons.snapshot(cast.ruled_in, instance.id, "0")
    with pytest.raises(NotFound):
        addons.drive(cast.ruled_in, instance.id, {})  # drive is not active: cam is


def test_instances_whose_agent_came_back_or_stayed_away_end(fleet: Fleet, cast: RemoteCast) -> None:
    from fleetport.core.remote.instances import AGENT_AWAY, RETURNED

    instances = fleet.remote.instances
    main = fleet.machines.parts(cast.owner, cast.machine.id)[0]
    arm = fleet.machines.create_part(cast.owner, cast.machine.id, "arm")
    agent, arm_agent = (
        fleet.identity.authenticate(BearerToken(fleet.machines.create_secret(cast.owner, part.id).secret))
        for part in (main, arm)
    )
    fleet.agents.connect(agent)
    ready = launch(fleet, cast.owner, cast.deployment.id)
    instances.instance_ready(agent, ready.id, PUBLIC_KEY)
    with pytest.raises(PermissionDenied):
        instances.agent_returned(cast.owner)
    assert instances.agent_returned(agent) == 1  # it wiped what it held
    shown = instances.get(cast.owner, ready.id)
    assert shown.status == "TERMINATED" and shown.port is None and shown.failure == RETURNED

    again = launch(fleet, cast.owner, cast.deployment.id)
    instances.instance_ready(agent, again.id, PUBLIC_KEY)
    fleet.agents.connect(arm_agent)  # another part's agent is online: it may hold the instance
    assert instances.agent_returned(agent) == 0
    assert instances.sweep() == 0 and instances.get(cast.owner, again.id).status == "READY"
    fleet.agents.disconnect(agent)
    fleet.agents.disconnect(arm_agent)
    assert instances.sweep() == 1  # no agent of the machine is online any more
    shown = instances.get(cast.owner, again.id)
    assert shown.status == "TERMINATED" and shown.failure == AGENT_AWAY
    assert launch(fleet, cast.owner, cast.deployment.id).status == "INIT"  # the deployment is free


def test_a_launch_asked_while_no_agent_was_connected_is_asked_of_the_agent_that_connects(
    fleet: Fleet, cast: RemoteCast
) -> None:
    asked: list[str] = []

    class Host:
        def launch(self, instance: Instance, machine_id: str) -> None:
            asked.append(f"launch {instance.id} {machine_id} {instance.public_key}")

        def destroy(self, instance: Instance, machine_id: str) -> None:
            asked.append(f"destroy {instance.id}")

        def connected(self, machine_id: str) -> bool:
            return False

    fleet.remote.attach_host(Host())
    instances = fleet.remote.instances
    pending = launch(fleet, cast.owner, cast.deployment.id)
    assert asked == [f"launch {pending.id} {cast.machine.id} {PUBLIC_KEY}"]  # nobody got it
    main = fleet.machines.parts(cast.owner, cast.machine.id)[0]
    arm = fleet.machines.create_part(cast.owner, cast.machine.id, "arm")
    agent, arm_agent = (
        fleet.identity.authenticate(BearerToken(fleet.machines.create_secret(cast.owner, part.id).secret))
        for part in (main, arm)
    )
    fleet.agents.connect(arm_agent)  # another part's agent is online: it was asked already
    assert instances.agent_returned(agent) == 0 and len(asked) == 1
    fleet.agents.disconnect(arm_agent)
    fleet.agents.connect(agent)
    assert instances.agent_returned(agent) == 0  # nothing ended: the launch is asked again
    assert asked[1:] == [f"launch {pending.id} {cast.machine.id} {PUBLIC_KEY}"]
    assert instances.instance_ready(agent, pending.id, PUBLIC_KEY).status == "READY"
    assert instances.agent_returned(agent) == 1 and len(asked) == 2  # READY now: it wiped it
