"""Reservations through the unmodified ``rerobots`` client, on a real server (SQLite) with a real
``fleetport agent``: users wait for a busy deployment in order, cancel, and the oldest waiting
reservation becomes an instance (READY through the agent, reached over SSH with the key handed out
at reservation time) when the deployment frees, its event URL (a receiver on loopback) getting the
POST; by workspace type; on a free deployment (a plain launch); a holder who lost access is dropped
when their turn comes; hostile event URLs; event URLs that are down or slow."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from rerobots.api import APIClient, BusyWorkspaceDeployment, Error

from fleetport import Client
from fleetport.testing import FleetportServer, free_port
from tests.conformance.rerobots.hooks import Receiver, new_user, ssh_output
from tests.conftest import ADMIN_KEY, start_server
from tests.e2e.agent.conftest import FAST, AgentProcess, agent_for, make_robot, wait_for

ENV = {
    **FAST,
    "FLEETPORT_REMOTE__PORTS": "24420-24439",
    "FLEETPORT_REMOTE__LAUNCH_TIMEOUT_SECONDS": "30",
    "FLEETPORT_REMOTE__SWEEP_EVERY_SECONDS": "0.2",
}
_types = itertools.count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetportServer]:
    running = start_server(tmp_path_factory.mktemp("reservations"), env=ENV)
    try:
        yield running
    finally:
        running.stop()


@dataclass
class Site:
    server: FleetportServer
    agent: AgentProcess
    deployment_id: str
    type: str
    owner: APIClient
    clients: dict[str, APIClient]  # a, c: operators of the organization; b, d: let in by a rule
    emails: dict[str, str]

    def __getattr__(self, name: str) -> APIClient:
        return self.clients[name]

    def ready(self, apic: APIClient, instance_id: str) -> dict[str, Any]:
        """The instance once READY (its answer to ``GET /instance``)."""
        found = wait_for(
            lambda: (i := apic.get_instance_info(instance_id))["status"] == "READY" and i,
            30,
            f"instance {instance_id} to be READY",
        )
        assert isinstance(found, dict)
        return found

    def queue(self) -> int:
        return int(self.owner.get_wdeployment_info(self.deployment_id)["queuelen"])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def site(server: FleetportServer, tmp_path: Path) -> Iterator[Site]:
    robot = make_robot(server, tmp_path)
    agent = agent_for(robot, tmp_path / "agent").start()
    try:
        agent.wait_log("connected to the server")
        wtype = f"resv_{next(_types)}"
        with Client(server.url, ADMIN_KEY) as fp:
            org_id = fp.machines.get(robot.machine_id).organization_id
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
            made = admin.post("/api/v1/deployments", json={"machine_id": robot.machine_id, "type": wtype})
            assert made.status_code == 201, made.text
            users = {name: new_user(admin, org_id if name in "ac" else None) for name in "abcd"}
        base = server.url + "/rerobots"
        owner = APIClient(api_token=ADMIN_KEY, ignore_env=True, base_uri=base)
        clients = {n: APIClient(api_token=t, ignore_env=True, base_uri=base) for n, (t, _) in users.items()}
        site = Site(
            server, agent, made.json()["id"], wtype, owner, clients, {n: e for n, (_, e) in users.items()}
        )
        for name in "bd":
            owner.create_access_rule(site.deployment_id, "CAP_INSTANTIATE", to_user=site.emails[name])
        yield site
    finally:
        agent.stop()


def test_reservations_wait_in_order_and_each_starts_with_its_event_when_the_deployment_frees(
    site: Site, receiver: Receiver
) -> None:
    wd = site.deployment_id
    held = site.a.request_instance(wd)
    assert held["success"] is True
    site.ready(site.a, held["id"])

    first = site.b.request_instance(wd, reserve=True, event_url=receiver.url("/b1"))
    theirs = site.c.request_instance(wd, reserve=True, event_url=receiver.url("/c"))
    second = site.b.request_instance(wd, reserve=True, event_url=receiver.url("/b2"))
    for made in (first, theirs, second):
        assert made["success"] is False and made["sshkey"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    listed = site.b.get_reservations()
    assert [r["id"] for r in listed] == [first["id"], second["id"]]
    assert listed[0]["created"] <= listed[1]["created"]
    assert {r["desc"] for r in listed} == {f"type {site.type}"}
    assert [r["id"] for r in site.c.get_reservations()] == [theirs["id"]]
    assert site.a.get_reservations() == [] and site.queue() == 3
    with pytest.raises(BusyWorkspaceDeployment):  # waiting reservations keep the deployment busy
        site.d.request_instance(wd)

    with pytest.raises(Error):  # someone else's reservation is not found
        site.c.cancel_reservation(first["id"])
    site.b.cancel_reservation(first["id"])
    assert [r["id"] for r in site.b.get_reservations()] == [second["id"]] and site.queue() == 2
    with pytest.raises(Error):
        site.b.cancel_reservation(first["id"])

    site.a.terminate_instance(held["id"])
    event = receiver.wait("/c")
    started = event.body["id"]
    assert event.body == {
        "event": "INSTANCE_LAUNCH",
        "reservation": theirs["id"],
        "id": started,
        "deployment": wd,
        "status": "INIT",
    }
    assert event.headers["content-type"] == "application/json"
    assert event.headers["x-fleetport-subject"] == f"instance {started}"
    assert int(event.headers["x-fleetport-timestamp"]) > 0
    assert site.c.get_reservations() == [] and started in site.c.get_instances()
    info = site.ready(site.c, started)
    assert ssh_output(info, theirs["sshkey"], "echo waited") == b"waited\n"

    assert [r["id"] for r in site.b.get_reservations()] == [second["id"]] and site.queue() == 1
    assert receiver.to("/b1") == [] and receiver.to("/b2") == []  # the next one waits
    site.c.terminate_instance(started)
    after = receiver.wait("/b2").body
    assert after["reservation"] == second["id"] and after["event"] == "INSTANCE_LAUNCH"
    info = site.ready(site.b, after["id"])
    assert ssh_output(info, second["sshkey"], "echo next") == b"next\n"
    site.b.terminate_instance(after["id"])
    assert receiver.to("/b1") == []  # the cancelled one never started


def test_by_workspace_type_and_on_a_free_deployment_with_a_public_key(site: Site, receiver: Receiver) -> None:
    public = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB1i1yWbOVoEXdF4DfbyaFFEY2Oy4mJuP8Md2cUzaAOa me@host"
    launched = site.a.request_instance(site.type, reserve=True, event_url=receiver.url("/a"))
    assert launched["success"] is True and "sshkey" in launched  # free: a plain launch
    assert site.a.get_reservations() == [] and site.queue() == 0
    site.ready(site.a, launched["id"])
    waiting = site.c.request_instance(site.type, sshkey=public, reserve=True, event_url=receiver.url("/c"))
    assert waiting["success"] is False and "sshkey" not in waiting  # their own key: nothing handed out
    (listed,) = site.c.get_reservations()
    assert listed["id"] == waiting["id"] and listed["desc"] == f"type {site.type}"
    site.a.terminate_instance(launched["id"])
    event = receiver.wait("/c").body
    assert event["reservation"] == waiting["id"] and event["deployment"] == site.deployment_id
    site.ready(site.c, event["id"])
    site.c.terminate_instance(event["id"])
    assert receiver.to("/a") == []  # an instance launched at once POSTs nothing


def test_a_holder_who_lost_access_is_dropped_when_their_turn_comes(site: Site, receiver: Receiver) -> None:
    wd = site.deployment_id
    held = site.a.request_instance(wd)
    site.ready(site.a, held["id"])
    lost = site.d.request_instance(wd, reserve=True, event_url=receiver.url("/d"))
    kept = site.b.request_instance(wd, reserve=True, event_url=receiver.url("/b"))
    assert lost["success"] is False and kept["success"] is False
    (rule,) = [r for r in site.owner.get_access_rules(wd) if r["user"] == site.emails["d"]]
    site.owner.del_access_rule(wd, rule["id"])
    site.a.terminate_instance(held["id"])
    dropped = receiver.wait("/d").body
    assert dropped == {
        "event": "RESERVATION_DROPPED",
        "reservation": lost["id"],
        "deployment": wd,
        "reason": "you hold no role on the deployment's machine and no access rule lets you launch on it",
    }
    assert site.d.get_reservations() == [] and site.d.get_instances() == []
    started = receiver.wait("/b").body  # the next one in the queue
    assert started["reservation"] == kept["id"]
    site.ready(site.b, started["id"])
    site.b.terminate_instance(started["id"])


HOSTILE = {
    "file:///etc/passwd": "event URL",
    "gopher://127.0.0.1:70/": "event URL",
    "javascript:alert(1)": "event URL",
    "http://": "event URL",
    "http:///path-only": "event URL",
    "http://127.0.0.1:99999/": "event URL",
    "http://[zz]/": "event URL",
    "http://127.0.0.1/a b": "event URL",
    "http://127.0.0.1/\x00": "event URL",
    "http://127.0.0.1/\ud800": "the request body is not valid JSON",  # a lone surrogate
    "http://127.0.0.1/\r\nX-Injected: 1": "event URL",
    "http://127.0.0.1/" + "a" * 10_000: "event URL is 10017 characters; the limit is 2048",
    "http://127.0.0.1/" + "a" * 100_000: "the request body is larger than the limit",  # refused at the edge
}


def test_hostile_event_urls_are_refused_and_nothing_is_made(site: Site) -> None:
    wd = site.deployment_id
    for url, message in HOSTILE.items():
        with pytest.raises(Error, match=message):  # free: no instance is launched either
            site.b.request_instance(wd, reserve=True, event_url=url)
    assert site.b.get_instances() == []
    held = site.a.request_instance(wd)
    for url, message in HOSTILE.items():
        with pytest.raises(Error, match=message):  # busy: no reservation is made
            site.b.request_instance(wd, reserve=True, event_url=url)
    for wrong in (5, ["http://x/"], {"url": "http://x/"}):
        with pytest.raises(Error, match="event URL"):
            site.b.request_instance(wd, reserve=True, event_url=wrong)
    assert site.b.get_reservations() == [] and site.queue() == 0
    for private in ("http://10.0.0.1/hook", "http://[::1]:9/hook", "HTTPS://example.com/hook"):
        made = site.b.request_instance(wd, reserve=True, event_url=private)  # any host is taken
        assert made["success"] is False
        site.b.cancel_reservation(made["id"])
    site.a.terminate_instance(held["id"])


def test_an_event_url_that_is_down_or_slow_holds_nothing_up_and_loses_no_reservation(
    site: Site, server: FleetportServer
) -> None:
    slow = Receiver(delay=15.0).start()
    try:
        wd = site.deployment_id
        held = site.a.request_instance(wd)
        site.ready(site.a, held["id"])
        down = f"http://127.0.0.1:{free_port()}/nobody-listens"
        first = site.b.request_instance(wd, reserve=True, event_url=down)
        second = site.c.request_instance(wd, reserve=True, event_url=slow.url("/slow"))
        site.a.terminate_instance(held["id"])
        (started,) = wait_for(lambda: site.b.get_instances(), 20, "the first reservation to start")
        site.ready(site.b, started)
        wait_for(lambda: f"dispatch http_post {down} failed" in server.log_text(), 20, "the failure logged")
        site.b.terminate_instance(started)
        event = slow.wait("/slow")  # held by the receiver for 15 s: the server goes on meanwhile
        assert event.body["reservation"] == second["id"]
        site.ready(site.c, event.body["id"])
        site.c.terminate_instance(event.body["id"])
        assert first["id"] != second["id"] and site.queue() == 0
    finally:
        slow.stop()
