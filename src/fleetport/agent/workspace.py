"""Workspaces the server asks the agent for: one per remote-access instance, a fresh directory
under the state dir (``workspaces/<instance id>``) served by an SSH server of its own on
127.0.0.1 (an ephemeral port the server reaches through a stream).

Each SSH server presents the agent's host key (ed25519, made once and kept in the state dir as
``ssh_host_ed25519_key``) and lets in only ``root`` with the instance's public key. It offers
commands and a shell (``/bin/sh``, started in the workspace, with the workspace as ``HOME``; no
terminal is allocated) and the SFTP subsystem rooted at the workspace. Port forwarding, agent
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import asyncssh

from fleetport.agent.containers import ContainerFailed, LocalRunner, Runner

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
            with contextlib.suppress(ProcessLookupError):
                process.kill()
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
        """A command (``sh -c``) or a shell (``sh -i``), run in the workspace by its runner."""
        run = self.runner.invocation(workspace.instance_id, workspace.directory, process.command)
        theirs, ours = _pipes()
        try:
            child = await asyncio.create_subprocess_exec(
                *run.argv,
                cwd=run.cwd,
                env=run.env,
                stdin=theirs[0],
                stdout=theirs[1],
                stderr=theirs[2],
                start_new_session=True,
            )
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the command
            for end in ours:
                end.close()
            process.stderr.write(f"could not start {run.argv[0]}: {exc}\n".encode())
            process.exit(127)
            return
        finally:
            for fd in theirs:
                os.close(fd)
        workspace.processes.add(child)
        try:
            # asyncssh forwards the pipes (closing them with the channel); the channel's end of file
            # is sent once both outputs ended, not when the first did (the other's rest would be lost)
            await process.redirect(stdin=ours[0], stdout=ours[1], stderr=ours[2], send_eof=False)
            status = await child.wait()
            # what it wrote last is on its way to the client first (at most 5 s: a command may
            # leave a background process holding its output open)
            with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):
                await asyncio.wait_for(asyncio.gather(process.stdout.drain(), process.stderr.drain()), 5)
            with contextlib.suppress(OSError, asyncssh.Error):  # the channel closed meanwhile
                process.channel.write_eof()
                process.exit(status if status >= 0 else 128 - status)
            with contextlib.suppress(TimeoutError, OSError, asyncssh.Error):  # and the pipes with it
                await asyncio.wait_for(process.wait_closed(), 5)
        finally:
            workspace.processes.discard(child)
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()


def _pipes() -> tuple[list[int], list[IO[bytes]]]:
    """OS pipes for a command's stdin, stdout and stderr: the ends it gets, and ours as unbuffered
    files. asyncssh forwards files until the channel closes and then stops reading them; asyncio
    streams in their place would be read on after the channel closed, and the end of a command's
    output would then fail the whole SSH connection (all its other channels)."""
    stdin, stdout, stderr = os.pipe(), os.pipe(), os.pipe()
    modes = ((stdin[1], "wb"), (stdout[0], "rb"), (stderr[0], "rb"))
    return [stdin[0], stdout[1], stderr[1]], [os.fdopen(fd, mode, buffering=0) for fd, mode in modes]
