"""The unmodified ``rerobots`` 0.11 client against a real server: every APIClient call that does
not need a robot's agent, with the values it returns and the exceptions it raises, on SQLite and
PostgreSQL."""

from __future__ import annotations

import hashlib
import time

import pytest
from rerobots.api import (
    BusyWorkspaceDeployment,
    BusyWorkspaceInstance,
    Error,
    InstanceNotFound,
    WrongAuthToken,
)

from tests.conformance.rerobots.conftest import PUBLIC_KEY, World

UNKNOWN = "00000000-0000-7000-8000-000000000000"


def wait_for(world: World, iid: str, status: str, seconds: float = 10.0) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        info = world.owner.get_instance_info(iid)
        if info["status"] == status or time.monotonic() > deadline:
            return info
        time.sleep(0.2)


def test_deployments_types_and_search(world: World) -> None:
    kobukis = [world.deployment("basic_kobuki", region="us:ny") for _ in range(3)]
    assert world.owner.get_wtypes() == ["basic_kobuki", "fixed_misty2"]
    assert world.ruled_in.get_wtypes() == ["fixed_misty2"]
    assert world.other.get_wtypes() == []
    found = world.owner.get_wdeployments()
    assert {d["id"] for d in found} == {world.deployment_id, *kobukis}
    misty = next(d for d in found if d["id"] == world.deployment_id)
    assert misty == {"id": world.deployment_id, "type": "fixed_misty2", "region": "us:cali", "queuelen": 0}
    assert [d["id"] for d in world.owner.get_wdeployments(types=["!basic_kobuki"])] == [world.deployment_id]
    assert len(world.owner.get_wdeployments(types=["basic_kobuki"], query="NY")) == 3
    assert world.owner.get_wdeployments(query="nothing-like-this") == []
    paged = [world.owner.get_wdeployments(page=n, max_per_page=3) for n in (1, 2)]
    assert [(len(p), count) for p, count in paged] == [(3, 2), (1, 2)]
    assert {d["id"] for p, _ in paged for d in p} == {d["id"] for d in found}
    past, count = world.owner.get_wdeployments(page=99, max_per_page=3)
    assert [d["id"] for d in past] == [d["id"] for d in paged[1][0]] and count == 2
    info = world.owner.get_wdeployment_info(world.deployment_id)
    assert info["type"] == "fixed_misty2" and info["supported_addons"] == ["cam", "drive", "mistyproxy"]
    assert info["queuelen"] == 0 and info["lockout"] is False and info["icounter"] == 0
    for target in (UNKNOWN, "nonsense"):
        with pytest.raises(Error, match="no workspace deployment found with given ID"):
            world.owner.get_wdeployment_info(target)
    with pytest.raises(Error, match="no workspace deployment found"):
        world.other.get_wdeployment_info(world.deployment_id)


def test_access_rules(world: World) -> None:
    rules = world.owner.get_access_rules(wdeployment_id=world.deployment_id)
    assert {r["capability"] for r in rules} == {"CAP_INSTANTIATE", "CAP_NO_INSTANTIATE"}
    assert all(r["wdeployment_id"] == world.deployment_id for r in rules)
    rule_id = world.owner.create_access_rule(world.deployment_id, "CAP_INSTANTIATE")
    assert any(r["id"] == rule_id and r["user"] == "*" for r in world.owner.get_access_rules())
    world.owner.del_access_rule(world.deployment_id, rule_id)
    with pytest.raises(Error, match="404"):
        world.owner.del_access_rule(world.deployment_id, rule_id)
    with pytest.raises(Error, match="403"):
        world.operator.create_access_rule(world.deployment_id, "CAP_INSTANTIATE")
    with pytest.raises(Error, match="400"):
        world.owner.create_access_rule(world.deployment_id, "CAP_FLY")
    with pytest.raises(Error, match="only the owners"):
        world.operator.get_access_rules(wdeployment_id=world.deployment_id)


def test_launch_without_an_agent_fails_after_the_timeout(world: World) -> None:
    started = world.owner.request_instance(world.deployment_id)
    assert started["success"] is True and started["sshkey"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    iid = started["id"]
    info = world.owner.get_instance_info(iid)
    assert info["status"] == "INIT" and info["deployment"] == world.deployment_id
    assert {"id", "type", "region", "starttime"} <= info.keys() and "fwd" not in info
    assert world.owner.get_instances() == [iid]
    assert wait_for(world, iid, "INIT_FAIL")["status"] == "INIT_FAIL"
    assert world.owner.get_instances() == []
    assert world.owner.get_instances(include_terminated=True) == [iid]
    again = world.owner.request_instance(world.deployment_id, sshkey=PUBLIC_KEY, duration=60)
    assert "sshkey" not in again and again["success"] is True  # the deployment is free again


def test_busy_reservations_and_termination(world: World) -> None:
    first = world.owner.request_instance(world.deployment_id, sshkey=PUBLIC_KEY)["id"]
    with pytest.raises(BusyWorkspaceDeployment):
        world.operator.request_instance(world.deployment_id, sshkey=PUBLIC_KEY)
    with pytest.raises(BusyWorkspaceDeployment):
        world.operator.request_instance("fixed_misty2", sshkey=PUBLIC_KEY)
    reserved = world.operator.request_instance(world.deployment_id, sshkey=PUBLIC_KEY, reserve=True)
    assert reserved["success"] is False
    assert [r["id"] for r in world.operator.get_reservations()] == [reserved["id"]]
    assert world.owner.get_wdeployment_info(world.deployment_id)["queuelen"] == 1
    world.operator.cancel_reservation(reserved["id"])
    assert world.operator.get_reservations() == []
    with pytest.raises(Error):
        world.operator.cancel_reservation(reserved["id"])
    kept = world.operator.request_instance(world.deployment_id, sshkey=PUBLIC_KEY, reserve=True)
    world.owner.terminate_instance(first)
    assert world.owner.get_instance_info(first)["status"] == "TERMINATED"
    assert "endtime" in world.owner.get_instance_info(first)
    with pytest.raises(Error, match="ended already") as refused:
        world.owner.terminate_instance(first)
    assert not isinstance(refused.value, BusyWorkspaceInstance)
    (started,) = world.operator.get_instances()
    assert world.operator.get_reservations() == [] and kept["success"] is False
    assert world.operator.get_instance_info(started)["status"] == "INIT"


def test_unknown_instances_and_wrong_tokens(world: World) -> None:
    for iid in (UNKNOWN, "nope"):
        with pytest.raises(InstanceNotFound):
            world.owner.get_instance_info(iid)
    iid = world.owner.request_instance(world.deployment_id, sshkey=PUBLIC_KEY)["id"]
    with pytest.raises(InstanceNotFound):
        world.other.get_instance_info(iid)
    with pytest.raises(WrongAuthToken):
        world.nobody.get_instances()
    with pytest.raises(WrongAuthToken):
        world.client("fps_not-a-session").get_instances()
    with pytest.raises(Error, match="wrong authorization token"):  # (this call maps no token error)
        world.nobody.get_instance_info(iid)
    with pytest.raises(Error, match="wrong authorization token"):
        world.nobody.get_wtypes()


def test_who_may_launch(world: World) -> None:
    for allowed in (world.owner, world.operator, world.ruled_in):
        iid = allowed.request_instance(world.deployment_id, sshkey=PUBLIC_KEY)["id"]
        assert allowed.get_instance_info(iid)["status"] == "INIT"
        allowed.terminate_instance(iid)
    with pytest.raises(Error, match="CAP_NO_INSTANTIATE"):
        world.ruled_out.request_instance(world.deployment_id, sshkey=PUBLIC_KEY)
    with pytest.raises(Error, match="no workspace deployment found"):
        world.other.request_instance(world.deployment_id, sshkey=PUBLIC_KEY)
    with pytest.raises(Error, match="wrong authorization token"):
        world.nobody.request_instance(world.deployment_id, sshkey=PUBLIC_KEY)


def test_firewall_vpn_and_addons(world: World) -> None:
    iid = world.ruled_in.request_instance(world.deployment_id, sshkey=PUBLIC_KEY)["id"]
    assert world.ruled_in.get_firewall_rules(iid) == []
    world.ruled_in.add_firewall_rule(iid, "DROP", source_address="192.0.2.0/24")
    world.ruled_in.add_firewall_rule(iid, "ACCEPT")
    rules = world.ruled_in.get_firewall_rules(iid)
    assert rules == [
        {"source": "192.0.2.0/24", "action": "DROP"},
        {"source": "127.0.0.1/32", "action": "ACCEPT"},
    ]
    world.ruled_in.flush_firewall_rules(iid)
    assert world.ruled_in.get_firewall_rules(iid) == []
    with pytest.raises(Error, match="CIDR"):
        world.ruled_in.add_firewall_rule(iid, "DROP", source_address="not-an-address")
    with pytest.raises(Error, match="VPN access is not offered"):
        world.ruled_in.get_vpn_newclient(iid)
    with pytest.raises(Error, match="VPN access is not offered"):
        world.ruled_in.request_instance(world.deployment(), vpn=True)
    assert world.ruled_in.status_addon_cam(iid) == {"status": "notfound"}
    world.ruled_in.activate_addon_cam(iid)
    assert world.ruled_in.status_addon_cam(iid) == {"status": "starting"}
    with pytest.raises(Error, match="agent is not connected"):
        world.ruled_in.get_snapshot_cam(iid)
    world.ruled_in.deactivate_addon_cam(iid)
    assert world.ruled_in.status_addon_cam(iid) == {"status": "notfound"}
    world.ruled_in.activate_addon_drive(iid)
    with pytest.raises(Error, match="agent is not connected"):
        world.ruled_in.send_drive_command(iid, {"linearv": 0.1, "angularv": 0})
    world.ruled_in.deactivate_addon_drive(iid)
    world.ruled_in.activate_addon_mistyproxy(iid)
    assert world.ruled_in.status_addon_mistyproxy(iid) == {"status": "starting"}
    world.ruled_in.deactivate_addon_mistyproxy(iid)
    with pytest.raises(Error, match="does not offer the vnc add-on"):
        world.ruled_in.activate_addon_vnc(iid)
    assert world.ruled_in.status_addon_vnc(iid) == {"status": "notfound"}
    with pytest.raises(Error, match="not active"):
        world.ruled_in.start_addon_vnc(iid)
    with pytest.raises(Error, match="not active"):
        world.ruled_in.deactivate_addon_vnc(iid)


def test_revoke_purge_and_ci(world: World) -> None:
    projects = world.operator
    pid = projects.create_ci_project("https://example.com/rovers.git")
    assert projects.get_ci_projects() == {pid: {"repo_url": "https://example.com/rovers.git"}}
    jid = projects.submit_ci_job(pid, "main", "0" * 40)  # queued: no agent serves the deployment
    assert isinstance(jid, str) and jid != pid
    with pytest.raises(Error, match=r"^not found$"):
        projects.submit_ci_job(UNKNOWN, "main", "0" * 40)
    with pytest.raises(Error):
        world.other.revoke_token(token=world.tokens["operator"])
    world.operator.revoke_token(token=world.tokens["operator"])
    with pytest.raises(WrongAuthToken):
        world.operator.get_instances()
    digest = hashlib.sha256(world.tokens["owner"].encode()).hexdigest()
    assert world.owner.get_instances() == []
    world.owner.purge()
    with pytest.raises(WrongAuthToken):
        world.owner.get_instances()
    with pytest.raises(Error):
        world.ruled_in.revoke_token(sha256=digest)
