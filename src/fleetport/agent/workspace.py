"""Workspaces the server asks the agent for: one per remote-access instance, a fresh directory
under the state dir (``workspaces/<instance id>``) served by an SSH server of its own on
127.0.0.1 (an ephemeral port the server reaches through a stream).

Each SSH server presents the agent's host key (ed25519, made once and kept in the state dir as
``ssh_host_ed25519_key``) and lets in only ``root`` with the instance's public key. It offers
commands and a shell (``/bin/sh``, started in the workspace, with the workspace as ``HOME``), in
a pseudo-terminal of the size the client asks for when it asks for one (see ``sessions``), and the
SFTP subsystem rooted at the workspace. Port forwarding, agent
forwarding and SCP are refused.

The workspace directory is NOT an isolation boundary: commands run as the agent's own user with
everything that user may do on the robot. It keeps instances' files apart and is wiped when the
instance ends; nothing more. With a container runtime configured, commands run in a container of
the instance's own instead (see :mod:`fleetport.agent.containers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from fleetport.agent.containers import ContainerFailed, LocalRunner, Runner
from fleetport.agent.sessions import run_in_terminal, run_with_pipes

log = logging.getLogger("fleetport.agent")

HOST_KEY_FILE = "ssh_host_ed25519_key"
_INSTANCE_ID = re.compile(r"[0-9a-fA-F-]{1,64}")


class WorkspaceRefused(ValueError):
    pass


def host_key(state_dir: Path) -> asyncssh.SSHKey:
    """The agent's SSH host key, made on first use and kept (mode 0600) in the state dir."""
    path = state_dir / HOST_KEY_FILE
    if path.exists():
        return asyncssh.read_private_key(str(path))
    state_dir.mkdir(parents=True, exist_ok=True)
    key = asyncssh.generate_private_key("ssh-ed25519")
    temporary = path.with_suffix(".new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key.export_private_key())
    os.replace(temporary, path)
    return key


def hostkey_line(key: asyncssh.SSHKey) -> str:
    """``<type> <base64>`` of the key's public half, as clients put it in known_hosts."""
    kind, blob = key.export_public_key("openssh").decode().split()[:2]
    return f"{kind} {blob}"


@dataclass
class Workspace:
    instance_id: str
    directory: Path
    server: asyncssh.SSHAcceptor
    connections: set[asyncssh.SSHServerConnection] = field(default_factory=set)
    processes: set[asyncio.subprocess.Process] = field(default_factory=set)

    @property
    def port(self) -> int:
        return int(self.server.get_port())


class _Door(asyncssh.SSHServer):
    """Who may come in: ``root`` with the instance's key, nobody else."""

    def __init__(self, workspace: list[Workspace], allowed: asyncssh.SSHKey) -> None:
        self._workspace = workspace
        self._allowed = allowed.public_data
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        if self._workspace:
            self._workspace[0].connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._workspace and self._conn is not None:
            self._workspace[0].connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == "root" and key.public_data == self._allowed


class Workspaces:
    def __init__(self, state_dir: Path, runner: Runner | None = None) -> None:
        self.state_dir = state_dir
        self.runner: Runner = runner or LocalRunner()  # where commands run: here or in a container
        self.root = state_dir / "workspaces"
        self._held: dict[str, Workspace] = {}
        self._key: asyncssh.SSHKey | None = None

    async def wipe_leftovers(self) -> None:
        """Removes workspaces (and containers) a previous run left behind (their instances ended
        with it)."""
        await self.runner.remove_leftovers(set(self._held))
        if self.root.exists():
            for child in self.root.iterdir():
                if child.name not in self._held:
                    shutil.rmtree(child, ignore_errors=True)

    async def launch(self, instance_id: str, public_key: str) -> tuple[str, int]:
        """Sets the instance's workspace up: its host key line and the SSH server's local port."""
        if not _INSTANCE_ID.fullmatch(instance_id):
            raise WorkspaceRefused("the instance id is not a uuid")
        if instance_id in self._held:
            held = self._held[instance_id]
            return hostkey_line(self._host_key()), held.port
        try:
            allowed = asyncssh.import_public_key(public_key)
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise WorkspaceRefused(f"the instance's public key is unusable: {exc}") from None
        directory = self.root / instance_id
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True, mode=0o700)
        slot: list[Workspace] = []
        server = await asyncssh.create_server(
            lambda: _Door(slot, allowed),
            "127.0.0.1",
            0,
            server_host_keys=[self._host_key()],
            process_factory=lambda process: self._session(slot[0], process),
            sftp_factory=lambda chan: self.runner.sftp_server(chan, directory),
            allow_scp=False,
            agent_forwarding=False,
            line_editor=False,  # a pty session gets a real terminal, which edits lines itself
            encoding=None,
        )
        try:
            await self.runner.start(instance_id, directory)
        except ContainerFailed as exc:
            server.close()
            shutil.rmtree(directory, ignore_errors=True)
            raise WorkspaceRefused(str(exc)) from None
        workspace = Workspace(instance_id, directory, server)
        slot.append(workspace)
        self._held[instance_id] = workspace
        log.info(
            "workspace of instance %s ready in %s (ssh on 127.0.0.1:%d)",
            instance_id,
            directory,
            workspace.port,
        )
        return hostkey_line(self._host_key()), workspace.port

    def directory(self, instance_id: str) -> Path | None:
        """The workspace directory of an instance held here (a CI job clones into it)."""
        workspace = self._held.get(instance_id)
        return None if workspace is None else workspace.directory

    async def destroy(self, instance_id: str) -> None:
        """Stops the workspace's SSH server, ends its sessions and commands, wipes its directory."""
        workspace = self._held.pop(instance_id, None)
        if workspace is None:
            if _INSTANCE_ID.fullmatch(instance_id):
                await self.runner.stop(instance_id)
                shutil.rmtree(self.root / instance_id, ignore_errors=True)
            return
        workspace.server.close()
        for conn in list(workspace.connections):
            conn.close()
        for process in list(workspace.processes):
            _kill_group(process)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(workspace.server.wait_closed(), 5)
        await self.runner.stop(instance_id)
        shutil.rmtree(workspace.directory, ignore_errors=True)
        log.info("workspace of instance %s destroyed", instance_id)

    async def destroy_all(self) -> None:
        for instance_id in list(self._held):
            await self.destroy(instance_id)

    def _host_key(self) -> asyncssh.SSHKey:
        if self._key is None:
            self._key = host_key(self.state_dir)
        return self._key

    async def _session(self, workspace: Workspace, process: asyncssh.SSHServerProcess[bytes]) -> None:
        """A command (``sh -c``) or a shell (``sh -i``), run in the workspace by its runner; in a
        pseudo-terminal when the client asked for one."""
        in_terminal = process.term_type is not None
        invocation = self.runner.invocation(
            workspace.instance_id, workspace.directory, process.command, terminal=in_terminal
        )
        run = run_in_terminal if in_terminal else run_with_pipes
        held: list[asyncio.subprocess.Process] = []

        def started(child: asyncio.subprocess.Process) -> None:
            held.append(child)
            workspace.processes.add(child)

        try:
            status = await run(process, invocation.argv, str(invocation.cwd), invocation.env, started)
        except (OSError, ValueError) as exc:
            newline = "\r\n" if in_terminal else "\n"
            process.stderr.write(f"could not start {invocation.argv[0]}: {exc}{newline}".encode())
            process.exit(127)
            return
        finally:
            for child in held:
                workspace.processes.discard(child)
                if child.returncode is None:
                    _kill_group(child)
        process.exit(status)


def _kill_group(child: asyncio.subprocess.Process) -> None:
    """Kills the command and what it started in its session (its process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        child.kill()
