"""Remote access through the SDK and the command line against a real server: a deployment made
from a machine, its rules and lockout, an instance launched with a key made for the caller, its
firewall, a reservation on the busy deployment, termination and deletion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetport import Client
from fleetport.client.errors import FleetportError
from tests.conftest import ADMIN_KEY, RunningServer


@pytest.fixture
def fp(server: RunningServer) -> Iterator[Client]:
    with Client(server.url, ADMIN_KEY) as client:
        yield client


def cli(server: RunningServer, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "fleetport.cli", "--url", server.url, "--api-key", ADMIN_KEY, *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=cwd, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    return done


def test_deployments_and_instances_through_the_sdk(fp: Client) -> None:
    org = fp.organizations.create("sdk remote")
    machine = fp.machines.create(fp.locations.create(org.id, "lab").id, "misty")
    deployment = fp.deployments.create(machine.id, type="fixed_misty2", region="us:cali", addons=["cam"])
    assert fp.deployments.get(deployment.id).addons == ["cam"]
    assert deployment.id in [d.id for d in fp.deployments.list(types=["fixed_misty2"])]
    rule = fp.deployments.add_rule(deployment.id, "CAP_INSTANTIATE")
    assert [r.id for r in fp.deployments.rules(deployment.id)] == [rule.id]
    fp.deployments.delete_rule(deployment.id, rule.id)
    assert fp.deployments.update(deployment.id, locked_out=True).locked_out is True
    launch = fp.instances.launch(deployment.id, expire_seconds=600)
    assert launch.instance is not None and launch.private_key and "RSA PRIVATE KEY" in launch.private_key
    instance = launch.instance
    assert instance.status == "INIT" and instance.expire_seconds == 600
    assert fp.instances.firewall(instance.id).rules is None
    assert fp.instances.add_firewall_rule(instance.id, "DROP", "198.51.100.0/24").rules is not None
    fp.instances.flush_firewall(instance.id)
    assert fp.instances.firewall(instance.id).rules == []
    waiting = fp.instances.launch(deployment.id, reserve=True)
    assert waiting.reservation is not None and waiting.instance is None
    assert [r.id for r in fp.reservations.list()] == [waiting.reservation.id]
    fp.reservations.cancel(waiting.reservation.id)
    with pytest.raises(FleetportError, match="busy"):
        fp.instances.launch(deployment.id)
    assert instance.id in [i.id for i in fp.instances.list()]
    assert fp.instances.terminate(instance.id).status == "TERMINATED"
    assert instance.id not in [i.id for i in fp.instances.list()]
    assert instance.id in [i.id for i in fp.instances.list(include_ended=True)]
    fp.deployments.delete(deployment.id)


def test_deployments_and_instances_through_the_command_line(
    fp: Client, server: RunningServer, tmp_path: Path
) -> None:
    org = fp.organizations.create("cli remote")
    machine = fp.machines.create(fp.locations.create(org.id, "lab").id, "kobuki")
    made = json.loads(
        cli(server, tmp_path, "deployments", "create", machine.id, "--type", "basic_kobuki", "--json").stdout
    )
    cli(server, tmp_path, "deployments", "update", made["id"], "--addon", "drive", "--lockout")
    shown = json.loads(cli(server, tmp_path, "deployments", "get", made["id"], "--json").stdout)
    assert shown["addons"] == ["drive"] and shown["locked_out"] is True
    launched = json.loads(cli(server, tmp_path, "instances", "launch", made["id"], "--json").stdout)
    key = tmp_path / "key.pem"
    assert key.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----") and key.stat().st_mode & 0o077 == 0
    assert launched["id"] in cli(server, tmp_path, "instances", "list").stdout
    cli(
        server, tmp_path, "instances", "firewall", launched["id"], "--add", "ACCEPT", "--source", "10.0.0.0/8"
    )
    assert "10.0.0.0/8" in cli(server, tmp_path, "instances", "firewall", launched["id"]).stdout
    flushed = cli(server, tmp_path, "instances", "firewall", launched["id"], "--flush").stderr
    assert "every address is dropped" in flushed
    assert json.loads(cli(server, tmp_path, "instances", "firewall", launched["id"], "--json").stdout) == []
    ended = json.loads(cli(server, tmp_path, "instances", "terminate", launched["id"], "--json").stdout)
    assert ended["status"] == "TERMINATED"
    cli(server, tmp_path, "deployments", "delete", made["id"])
