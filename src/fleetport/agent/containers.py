"""Where a workspace's commands run: on the robot itself (``LocalRunner``, the default), or in a
container of its own (``ContainerRunner``, with docker or podman on the robot).

A container workspace is ``<runtime> run`` of the configured image, named
``fleetport-<instance id>`` and labelled with the agent's part, its entrypoint ``sleep infinity``,
with the instance's workspace directory bind-mounted at ``/root`` (so what SFTP writes on the
robot is there inside). Commands and shells are ``<runtime> exec -i [-t] -w /root <name> /bin/sh
...``, each argument its own list item: nothing the user sends passes through a shell on the
robot; a CI job's script line is one more such command, run in the checkout (``-w /root/repo``)
with the job's variables (``--env NAME=VALUE``). The container is removed (``rm -f``) when the
instance ends, and the agent's containers left over by an earlier run are removed when it starts.

Killing a ``<runtime> exec`` client does not end the command it started in the container (podman
and docker keep it running). So ``end_commands`` ends every process in the container but its
first (``sleep``), with a fixed ``kill -KILL -1`` run by the container's ``sh``: CI jobs call it
when their time limit stops a line or the job is cancelled (a job's instance is its own, so only
its commands run there).

SFTP still runs in the agent, on the robot, so in a container workspace it follows no symbolic
link out of the workspace (a process in the container can make links to any path).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import posixpath
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import asyncssh

log = logging.getLogger("fleetport.agent")

MOUNT = "/root"  # where the workspace directory is inside a container
PREFIX = "fleetport-"
LABEL = "io.fleetport.part"
RUN_TIMEOUT = 60.0  # seconds for run and rm (the image is not pulled: --pull never)
QUERY_TIMEOUT = 30.0  # for ps and inspect


class ContainerFailed(RuntimeError):
    """The instance's container could not be made; the message says why, for the launch_failed
    report."""


@dataclass(frozen=True)
class Invocation:
    """A process to start on the robot for a command or a shell."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]


class Runner(Protocol):
    async def start(self, instance_id: str, directory: Path) -> None: ...

    def invocation(
        self,
        instance_id: str,
        directory: Path,
        command: str | None,
        terminal: bool = False,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Invocation: ...

    async def end_commands(self, instance_id: str) -> None: ...

    async def stop(self, instance_id: str) -> None: ...

    async def remove_leftovers(self, keep: Collection[str]) -> None: ...

    def sftp_server(self, chan: asyncssh.SSHServerChannel[bytes], directory: Path) -> asyncssh.SFTPServer: ...


def check_workdir(workdir: str) -> str:
    """``workdir`` as a path relative to the workspace: no leading ``/``, no ``..``, no NUL."""
    parts = workdir.split("/")
    if not workdir or workdir.startswith("/") or "\x00" in workdir or ".." in parts:
        raise ValueError(f"the working directory {workdir[:100]!r} is not a path within the workspace")
    return "/".join(part for part in parts if part not in ("", "."))


class LocalRunner:
    """Commands run on the robot as the agent's user, in the workspace directory (its ``HOME``) or
    the ``workdir`` within it; SFTP is rooted at the directory."""

    async def start(self, instance_id: str, directory: Path) -> None:
        return None

    def invocation(
        self,
        instance_id: str,
        directory: Path,
        command: str | None,
        terminal: bool = False,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Invocation:
        argv = ["/bin/sh", "-c", command] if command is not None else ["/bin/sh", "-i"]
        cwd = directory / check_workdir(workdir) if workdir is not None else directory
        variables = {
            "HOME": str(directory),
            "PWD": str(cwd),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "SHELL": "/bin/sh",
            "USER": "root",
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            **(env or {}),
        }
        return Invocation(argv, cwd, variables)

    async def end_commands(self, instance_id: str) -> None:
        """Nothing to do: killing a command's process group here ends it."""

    async def stop(self, instance_id: str) -> None:
        return None

    async def remove_leftovers(self, keep: Collection[str]) -> None:
        return None

    def sftp_server(self, chan: asyncssh.SSHServerChannel[bytes], directory: Path) -> asyncssh.SFTPServer:
        return asyncssh.SFTPServer(chan, chroot=os.fsencode(directory))


class ContainerRunner:
    """Each workspace a container of ``image`` run by ``runtime`` (docker, podman or a program with
    their command line), with ``run_options`` added to ``run`` after the agent's own options (so
    they may override them), before its entrypoint (``sleep``, which they may not)."""

    def __init__(self, runtime: str, image: str, run_options: Sequence[str], owner: str) -> None:
        self.runtime = runtime
        self.image = image
        self.run_options = list(run_options)
        self.owner = owner

    @staticmethod
    def name(instance_id: str) -> str:
        return PREFIX + instance_id

    async def start(self, instance_id: str, directory: Path) -> None:
        if ":" in str(directory):
            raise ContainerFailed(f"the workspace's path {directory} holds ':' and cannot be bind-mounted")
        name = self.name(instance_id)
        await self._remove(name)  # one of the same name from a run that ended uncleanly
        argv = [
            *("run", "--detach", "--pull", "never", "--name", name, "--label", f"{LABEL}={self.owner}"),
            *("--volume", f"{directory}:{MOUNT}", "--workdir", MOUNT, "--env", f"HOME={MOUNT}"),
            *("--stop-timeout", "0", *self.run_options, "--entrypoint", "sleep", self.image, "infinity"),
        ]
        status, _, err = await self._run(argv, RUN_TIMEOUT)
        if status != 0:
            await self._remove(name)  # a failed run may leave a created container behind
            raise ContainerFailed(f"{self.runtime} could not start the workspace's container: {err}")
        status, out, err = await self._run(
            ["inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", name], QUERY_TIMEOUT
        )
        running, _, code = out.partition(" ")
        if status != 0 or running != "true":
            _, _, logs = await self._run(["logs", "--tail", "5", name], QUERY_TIMEOUT)
            await self._remove(name)
            said = f" (exit code {code})" if status == 0 else f": {err}"
            raise ContainerFailed(
                f"the workspace's container stopped as soon as it started{said}{': ' + logs if logs else ''}"
            )
        log.info("container %s of image %s started (%s)", name, self.image, self.runtime)

    def invocation(
        self,
        instance_id: str,
        directory: Path,
        command: str | None,
        terminal: bool = False,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Invocation:
        shell = ["/bin/sh", "-c", command] if command is not None else ["/bin/sh", "-i"]
        tty = ["-t"] if terminal else []
        inside = posixpath.join(MOUNT, check_workdir(workdir)) if workdir is not None else MOUNT
        variables = [f"--env={name}={value}" for name, value in _checked(env or {}).items()]
        argv = [self.runtime, "exec", "-i", *tty, "-w", inside, *variables, self.name(instance_id), *shell]
        return Invocation(argv, directory, dict(os.environ))  # the runtime's own settings

    async def end_commands(self, instance_id: str) -> None:
        """Ends every process in the container but its first (what ``exec`` started)."""
        name = self.name(instance_id)
        try:
            status, _, err = await self._run(["exec", name, "/bin/sh", "-c", "kill -KILL -1"], QUERY_TIMEOUT)
        except ContainerFailed as exc:
            log.warning("commands in container %s not ended: %s", name, exc)
            return
        if status != 0:
            log.warning("commands in container %s not ended: %s", name, err)
        else:
            log.info("commands in container %s ended", name)

    async def stop(self, instance_id: str) -> None:
        if await self._remove(self.name(instance_id)):
            log.info("container %s removed", self.name(instance_id))

    async def remove_leftovers(self, keep: Collection[str]) -> None:
        """Removes this part's containers that no held workspace owns (an earlier run's)."""
        try:
            status, out, err = await self._run(
                ["ps", "--all", "--filter", f"label={LABEL}={self.owner}", "--format", "{{.Names}}"],
                QUERY_TIMEOUT,
            )
        except ContainerFailed as exc:
            log.warning("leftover workspace containers not looked for: %s", exc)
            return
        if status != 0:
            log.warning("leftover workspace containers not looked for: %s ps: %s", self.runtime, err)
            return
        held = {self.name(instance_id) for instance_id in keep}
        for name in out.split():
            if name.startswith(PREFIX) and name not in held and await self._remove(name):
                log.info("leftover container %s removed", name)

    def sftp_server(self, chan: asyncssh.SSHServerChannel[bytes], directory: Path) -> asyncssh.SFTPServer:
        return ConfinedSFTPServer(chan, directory)

    async def _remove(self, name: str) -> bool:
        """``rm -f``; True when a container was removed."""
        try:
            status, _, err = await self._run(["rm", "--force", name], RUN_TIMEOUT)
        except ContainerFailed as exc:
            log.warning("container %s not removed: %s", name, exc)
            return False
        if status != 0 and "no such container" not in err.lower() and "no container with" not in err.lower():
            log.warning("container %s not removed: %s", name, err)
        return status == 0

    async def _run(self, args: list[str], timeout: float) -> tuple[int, str, str]:
        """Runs the runtime with ``args``: its exit status, stdout and stderr (trimmed)."""
        try:
            process = await asyncio.create_subprocess_exec(
                self.runtime,
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError:
            raise ContainerFailed(f"the container runtime {self.runtime!r} is not installed") from None
        except OSError as exc:
            raise ContainerFailed(f"the container runtime {self.runtime!r} could not be run: {exc}") from None
        try:
            out, err = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise ContainerFailed(f"{self.runtime} {args[0]} did not finish within {timeout:.0f} s") from None
        assert process.returncode is not None
        return process.returncode, _text(out), _text(err)


def _checked(env: Mapping[str, str]) -> Mapping[str, str]:
    for name, value in env.items():
        if not name or "=" in name or "\x00" in name + value:
            raise ValueError(f"the variable {name[:100]!r} cannot be passed to the container")
    return env


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace").strip()[-400:]


class ConfinedSFTPServer(asyncssh.SFTPServer):
    """SFTP rooted at the workspace that follows no symbolic link out of it: a path whose parent
    resolves outside, or that is itself a link resolving outside, is refused.

    The check and the file operation are two steps: a process in the container that swaps a
    directory for a link between them can still lead one operation out.
    """

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], directory: Path) -> None:
        super().__init__(chan, chroot=os.fsencode(directory))
        self._root = os.fsencode(os.path.realpath(directory))

    def map_path(self, path: bytes) -> bytes:
        local = super().map_path(path).rstrip(b"/")
        if local == self._root:
            return local
        parent, name = posixpath.split(local)
        real_parent = os.path.realpath(parent)
        if not self._inside(real_parent):
            raise asyncssh.SFTPNoSuchFile("no such file in the workspace")
        mapped = posixpath.join(real_parent, name)
        if os.path.islink(mapped) and not self._inside(os.path.realpath(mapped)):
            raise asyncssh.SFTPPermissionDenied("a link out of the workspace is not followed")
        return mapped

    def _inside(self, path: bytes) -> bool:
        return path == self._root or path.startswith(self._root + b"/")
