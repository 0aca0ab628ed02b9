"""Pseudo-terminals in agent-hosted workspaces, end to end: a real server (SQLite), a real
``fleetport agent`` process, and paramiko through the instance's forwarding port asking for a
terminal (``invoke_shell``, ``get_pty``), resizing it, typing Ctrl-C and hanging up."""

from __future__ import annotations

import base64
import io
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from fleetport import Client
from fleetport.client import models as m
from fleetport.testing import FleetportServer
from tests.conftest import ADMIN_KEY, start_server
from tests.e2e.agent.conftest import FAST, AgentProcess, agent_for, make_robot, wait_for

ENV = {
    **FAST,
    "FLEETPORT_REMOTE__PORTS": "24100-24119",
    "FLEETPORT_REMOTE__LAUNCH_TIMEOUT_SECONDS": "30",
    "FLEETPORT_REMOTE__SWEEP_EVERY_SECONDS": "0.2",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FleetportServer, str, Path]]:
    """A server and a robot's agent with a deployment: (server, deployment id, workspaces dir)."""
    root = tmp_path_factory.mktemp("pty")
    server = start_server(root / "server", env=ENV)
    agent: AgentProcess | None = None
    try:
        robot = make_robot(server, root)
        agent = agent_for(robot, root / "agent").start()
        agent.wait_log("connected to the server")
        with Client(server.url, ADMIN_KEY) as fp:
            deployment = fp.deployments.create(robot.machine_id)
        yield server, deployment.id, root / "agent" / "state" / "workspaces"
    finally:
        if agent is not None:
            agent.stop()
        server.stop()


@pytest.fixture
def ssh(site: tuple[FleetportServer, str, Path]) -> Iterator[tuple[paramiko.SSHClient, Path]]:
    """A paramiko client connected (checking the host key the server gave) to a fresh instance's
    workspace, and the workspace directory; the instance is terminated afterwards."""
    server, deployment_id, workspaces = site
    with Client(server.url, ADMIN_KEY) as fp:
        launch = fp.instances.launch(deployment_id)
        assert launch.instance is not None and launch.private_key is not None
        instance_id = launch.instance.id
        client = paramiko.SSHClient()
        try:
            ready = wait_for(lambda: _ready(fp, instance_id), 30, "the instance to be READY")
            assert isinstance(ready, m.Instance) and ready.hostkey and ready.port
            kind, blob = ready.hostkey.split()[:2]
            client.get_host_keys().add(
                f"[{ready.host}]:{ready.port}",
                kind,
                paramiko.PKey.from_type_string(kind, base64.b64decode(blob)),
            )
            key = paramiko.RSAKey.from_private_key(io.StringIO(launch.private_key))
            client.connect(
                ready.host, ready.port, "root", pkey=key, timeout=10, look_for_keys=False, allow_agent=False
            )
            yield client, workspaces / instance_id
        finally:
            client.close()
            fp.instances.terminate(instance_id)
            wait_for(lambda: fp.instances.get(instance_id).status == "TERMINATED", 15, "the instance to end")


def _ready(fp: Client, instance_id: str) -> m.Instance | None:
    instance = fp.instances.get(instance_id)
    assert instance.status in ("INIT", "READY"), instance.failure
    return instance if instance.status == "READY" else None


def read_until(channel: paramiko.Channel, pattern: str, timeout: float = 10.0) -> str:
    """What the channel printed until ``pattern`` (a regex) appears in it."""
    seen = b""
    deadline = time.monotonic() + timeout
    channel.settimeout(0.2)
    while time.monotonic() < deadline:
        if re.search(pattern, seen.decode(errors="replace")):
            return seen.decode(errors="replace")
        try:
            chunk = channel.recv(4096)
        except TimeoutError:
            continue
        if not chunk:
            break
        seen += chunk
    text = seen.decode(errors="replace")
    if re.search(pattern, text):
        return text
    raise AssertionError(f"{pattern!r} did not appear; the channel printed {text!r}")


def read_to_end(channel: paramiko.Channel, timeout: float = 10.0) -> str:
    seen = b""
    deadline = time.monotonic() + timeout
    channel.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            chunk = channel.recv(4096)
        except TimeoutError:
            continue
        if not chunk:
            return seen.decode(errors="replace")
        seen += chunk
    raise AssertionError(f"the channel did not close; it printed {seen!r}")


def test_a_shell_gets_a_terminal_of_the_requested_size_and_passes_its_exit_status_on(
    ssh: tuple[paramiko.SSHClient, Path],
) -> None:
    client, workspace = ssh
    shell = client.invoke_shell(term="xterm-256color", width=101, height=31)
    shell.sendall(b"tty; stty size; echo TERM=$TERM; pwd; exit 7\n")
    text = read_to_end(shell)
    assert re.search(r"/dev/pts/\d+\r\n", text), text  # (the prompt may come first on its line)
    assert re.search(r"\b31 101\r\n", text), text
    assert "TERM=xterm-256color" in text
    assert str(workspace.resolve()) in text
    assert shell.recv_exit_status() == 7


def test_window_changes_resize_the_terminal_and_signal_the_foreground_job(
    ssh: tuple[paramiko.SSHClient, Path],
) -> None:
    client, _ = ssh
    shell = client.invoke_shell(term="vt100", width=80, height=24)
    shell.sendall(b"stty size\n")
    read_until(shell, r"24 80\r\n")
    # a job in the foreground hears SIGWINCH when the window changes
    shell.sendall(
        b"sh -c 'trap \"stty size; exit 0\" WINCH; echo wait$((1))ing; while :; do sleep 0.05; done'\n"
    )
    read_until(shell, r"wait1ing")
    shell.resize_pty(width=132, height=43)
    read_until(shell, r"43 132\r\n")
    shell.resize_pty(width=60, height=20)
    shell.sendall(b"stty size\n")
    read_until(shell, r"20 60\r\n")
    shell.sendall(b"exit\n")
    read_to_end(shell)
    assert shell.recv_exit_status() == 0


def test_a_command_with_a_terminal_like_ssh_t_and_without_one_as_before(
    ssh: tuple[paramiko.SSHClient, Path],
) -> None:
    client, _ = ssh
    transport = client.get_transport()
    assert transport is not None
    with_pty = transport.open_session()
    with_pty.get_pty(term="xterm", width=90, height=12)
    with_pty.exec_command("tty; stty size; test -t 0 && echo interactive; exit 3")
    text = read_to_end(with_pty)
    assert re.search(r"^/dev/pts/\d+\r?$", text, re.M), text
    assert re.search(r"^12 90\r?$", text, re.M), text
    assert "interactive" in text
    assert with_pty.recv_exit_status() == 3

    without = transport.open_session()
    without.exec_command("tty; echo status=$?; echo err >&2; exit 4")
    out = read_to_end(without)
    assert "not a tty" in out and "status=1" in out and "\r" not in out  # no terminal, as before
    assert without.recv_exit_status() == 4
    assert without.recv_stderr(100) == b"err\n"


def test_ctrl_c_interrupts_the_foreground_job_and_the_shell_goes_on(
    ssh: tuple[paramiko.SSHClient, Path],
) -> None:
    client, _ = ssh
    shell = client.invoke_shell(term="xterm", width=80, height=24)
    shell.sendall(b"sleep 30; echo done-$((6 * 7))\n")
    time.sleep(0.5)
    started = time.monotonic()
    shell.sendall(b"\x03")
    shell.sendall(b"echo alive-$((40 + 2))\n")
    text = read_until(shell, r"alive-42")
    assert time.monotonic() - started < 10
    assert "done-42" not in text  # the list was interrupted with its sleep
    shell.sendall(b"exit 0\n")
    read_to_end(shell)
    assert shell.recv_exit_status() == 0


def test_a_client_that_goes_away_hangs_the_session_up(ssh: tuple[paramiko.SSHClient, Path]) -> None:
    client, workspace = ssh
    shell = client.invoke_shell(term="xterm", width=80, height=24)
    shell.sendall(b"echo $$ > shell.pid; sleep 300\n")
    wait_for(lambda: (workspace / "shell.pid").exists() and (workspace / "shell.pid").read_text().strip(), 10)
    pid = int((workspace / "shell.pid").read_text())
    assert alive(pid)
    shell.close()
    wait_for(lambda: not alive(pid), 10, "the hung-up shell to end")


def test_hostile_terminal_requests_get_a_plain_terminal(ssh: tuple[paramiko.SSHClient, Path]) -> None:
    client, _ = ssh
    for term in ("x" * 5000, "bad term; rm -rf /", "\x1b]0;title\x07"):
        transport = client.get_transport()
        assert transport is not None
        channel = transport.open_session()
        channel.get_pty(term=term, width=2**31, height=0)
        channel.exec_command("echo TERM=$TERM; stty size")
        text = read_to_end(channel)
        assert "TERM=dumb" in text, text
        assert channel.recv_exit_status() == 0
    transport = client.get_transport()
    assert transport is not None
    channel = transport.open_session()
    with pytest.raises(paramiko.SSHException):  # not ASCII: asyncssh closes the connection
        channel.get_pty(term="t\u00e9rm", width=80, height=24)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def test_many_commands_on_one_connection_each_with_all_its_output_and_status(
    ssh: tuple[paramiko.SSHClient, Path],
) -> None:
    """Commands one after another on one connection (as rerobots' exec_ssh runs them), with and
    without a terminal: every byte of their output arrives before their exit status."""
    client, _ = ssh
    transport = client.get_transport()
    assert transport is not None
    for round in range(15):
        piped = transport.open_session()
        piped.exec_command(f"echo out-{round}; echo err-{round} >&2; exit {round}")
        assert read_to_end(piped) == f"out-{round}\n"
        assert piped.recv_exit_status() == round
        assert piped.recv_stderr(100) == f"err-{round}\n".encode()
        terminal = transport.open_session()
        terminal.get_pty()
        terminal.exec_command(f"echo tty-{round}; exit {round + 1}")
        assert read_to_end(terminal) == f"tty-{round}\r\n"
        assert terminal.recv_exit_status() == round + 1
    big = transport.open_session()
    big.exec_command("head -c 3000000 /dev/zero | tr '\\0' a; wc -c >&2")

    def feed() -> None:
        big.sendall(b"x" * 1_000_000)
        big.shutdown_write()

    feeding = threading.Thread(target=feed)  # (while the output is read here)
    feeding.start()
    received = read_to_end(big, 30)
    feeding.join(10)
    assert received == "a" * 3_000_000
    assert big.recv_exit_status() == 0
    assert big.recv_stderr(100).strip() == b"1000000"
