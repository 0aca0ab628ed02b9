"""SSH into an agent-hosted workspace, end to end: a real server (SQLite), a real ``fleetport
agent`` process, and the unmodified ``rerobots`` client with paramiko; the forwarding port's
firewall; an agent killed in the middle of a session."""

from __future__ import annotations

import contextlib
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import paramiko
import pytest
from rerobots.api import APIClient
from rerobots.instances import Instance

from fleetport.testing import FleetportServer
from tests.conftest import ADMIN_KEY, start_server
from tests.e2e.agent.conftest import FAST, AgentProcess, agent_for, make_robot, wait_for

ENV = {
    **FAST,
    "FLEETPORT_REMOTE__PORTS": "23100-23119",
    "FLEETPORT_REMOTE__LAUNCH_TIMEOUT_SECONDS": "30",
    "FLEETPORT_REMOTE__SWEEP_EVERY_SECONDS": "0.2",
}

TURNED_AWAY = (paramiko.SSHException, EOFError, OSError)


@dataclass
class Site:
    server: FleetportServer
    agent: AgentProcess
    deployment_id: str
    workspaces: Path

    def instance(self) -> Instance:
        apic = APIClient(api_token=ADMIN_KEY, ignore_env=True, base_uri=self.server.url + "/rerobots")
        instance = Instance(wdeployment_id=self.deployment_id, apic=apic)
        wait_for(lambda: instance.get_status() == "READY", 30, "the instance to be READY")
        return instance


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    server = start_server(tmp_path / "server", env=ENV)
    agent = None
    try:
        robot = make_robot(server, tmp_path)
        agent = agent_for(robot, tmp_path / "agent").start()
        agent.wait_log("connected to the server")
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
            made = admin.post("/api/v1/deployments", json={"machine_id": robot.machine_id})
            assert made.status_code == 201, made.text
        yield Site(server, agent, made.json()["id"], tmp_path / "agent" / "state" / "workspaces")
    finally:
        if agent is not None:
            agent.stop()
        server.stop()


def iid(instance: Instance) -> str:
    """The instance's id (the client keeps it, without a getter)."""
    return str(instance._id)


def banner(port: int, source: str = "127.0.0.1") -> bytes:
    """What the forwarding port says first to a connection from ``source`` (b"" when closed)."""
    with socket.socket() as sock:
        sock.settimeout(10)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        return sock.recv(64)


def closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        try:
            sock.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            return True
        return False


def test_ssh_exec_and_sftp_then_terminate_closes_the_port(site: Site, tmp_path: Path) -> None:
    instance = site.instance()
    details = instance.get_details()
    port = details["conn"]["port"]
    assert port != 22 and details["conn"]["hostkeys"][0].startswith("ssh-ed25519 ")
    instance.start_sshclient()
    assert instance.exec_ssh("echo hi") == b"hi\n"
    assert instance.exec_ssh("pwd").decode().strip() == str(site.workspaces.resolve() / iid(instance))
    local = tmp_path / "upload.bin"
    local.write_bytes(bytes(range(256)) * 400)
    instance.put_file(str(local), "data.bin")
    assert instance.exec_ssh("wc -c < data.bin").strip() == b"102400"
    back = tmp_path / "back.bin"
    instance.get_file("data.bin", str(back))
    assert back.read_bytes() == local.read_bytes()
    instance.terminate()
    wait_for(lambda: closed(port), 10, "the forwarding port to close")
    wait_for(lambda: instance.get_status() == "TERMINATED", 10, "the instance to end")
    wait_for(lambda: not (site.workspaces / iid(instance)).exists(), 10, "the workspace to be wiped")


def test_channels_on_one_connection_exit_status_stderr_and_a_channel_closed_mid_command(site: Site) -> None:
    instance = site.instance()
    instance.start_sshclient()
    client: paramiko.SSHClient = instance._Instance__sshclient  # type: ignore[attr-defined]
    for command in ("echo out; echo err >&2; exit 3", "echo err >&2; echo out; exit 3") * 3:
        _, out, err = client.exec_command(command)  # both outputs whole, whichever ends first
        assert (out.read(), err.read(), out.channel.recv_exit_status()) == (b"out\n", b"err\n", 3)
    _, out, _ = client.exec_command("head -c 5000000 /dev/zero")
    assert len(out.read()) == 5_000_000 and out.channel.recv_exit_status() == 0
    transport = client.get_transport()
    assert transport is not None
    for _ in range(3):  # cat still runs when its channel closes: the connection's others go on
        channel = transport.open_session(timeout=10)
        channel.settimeout(10)
        channel.exec_command("cat")
        channel.sendall(b"ping\n")
        assert channel.recv(5) == b"ping\n"
        channel.close()
    assert instance.exec_ssh("echo still here", timeout=10) == b"still here\n"


def test_the_firewall_drops_and_rejects_by_source_address(site: Site) -> None:
    instance = site.instance()
    port = instance.get_details()["conn"]["port"]
    assert banner(port).startswith(b"SSH-2.0-")  # no chain yet: every address
    instance.add_firewall_rule("DROP", "127.0.0.1/32")
    instance.add_firewall_rule("ACCEPT", "127.0.0.2/32")
    with contextlib.suppress(ConnectionResetError):
        assert banner(port, "127.0.0.1") == b""
    assert banner(port, "127.0.0.2").startswith(b"SSH-2.0-")
    with pytest.raises(TURNED_AWAY):  # paramiko is turned away too
        instance.start_sshclient()
    instance.flush_firewall_rules()
    instance.add_firewall_rule("REJECT", "127.0.0.0/8")
    with pytest.raises(ConnectionResetError):
        banner(port, "127.0.0.2")
    instance.flush_firewall_rules()  # a flushed chain drops everyone
    with contextlib.suppress(ConnectionResetError):
        assert banner(port, "127.0.0.2") == b""


def test_an_agent_killed_mid_session_ends_the_session_and_the_instance(site: Site) -> None:
    instance = site.instance()
    port = instance.get_details()["conn"]["port"]
    instance.start_sshclient()
    assert instance.exec_ssh("echo before") == b"before\n"
    site.agent.stop(signal.SIGKILL)
    wait_for(lambda: instance.get_status() == "TERMINATED", 15, "the instance to end")
    deadline = time.monotonic() + 10
    with pytest.raises(TURNED_AWAY):  # the session ended: nothing runs any more
        while time.monotonic() < deadline:
            instance.exec_ssh("echo after", timeout=2)
            time.sleep(0.1)
    assert closed(port)
    with httpx.Client(base_url=site.server.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as admin:
        shown = admin.get(f"/rerobots/instance/{iid(instance)}").json()
    assert shown["status"] == "TERMINATED"
