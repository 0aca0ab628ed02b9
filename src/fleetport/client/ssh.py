"""SSH access to a machine (``client.ssh``): its deployment found by the machine's id or name, an
instance launched on it with a key made here (the private key never goes to the server), waited
for until READY, and what an SSH client needs to connect, host key included.

Each flow is written once, as a generator of steps (an API call, a pause); ``Ssh`` runs the steps
under ``Client``, ``AsyncSsh`` under ``AsyncClient``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from fleetport.client import models as m
from fleetport.client.errors import Conflict, FleetportError, PermissionDenied
from fleetport.client.remote import segment
from fleetport.client.sshkeys import new_key_pair, public_key_of, same_key

USER = "root"
POLL_SECONDS = 0.25
T = TypeVar("T")


class LaunchFailed(FleetportError):
    """The instance did not become READY: the robot's agent is offline or could not set the
    workspace up, or the wait timed out. ``instance`` is the instance, when one was launched."""

    def __init__(self, message: str, instance: m.Instance | None = None) -> None:
        super().__init__(message)
        self.instance = instance


@dataclass(frozen=True)
class SshAccess:
    """What connecting takes: ``ssh -i KEY -p PORT root@HOST`` with ``known_hosts_line`` the only
    host key trusted. ``launched`` is False when an instance that was already active was given."""

    instance: m.Instance
    host: str
    port: int
    hostkey: str  # "<type> <base64>", the workspace's SSH host key
    private_key: str
    public_key: str
    launched: bool
    username: str = USER

    @property
    def known_hosts_line(self) -> str:
        where = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{where} {self.hostkey}\n"

    def write_files(self, directory: Path) -> tuple[Path, Path]:
        """Writes the private key (mode 0600) and a known_hosts file into ``directory`` (made
        0700 if missing); their paths."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key, known = directory / "id_key", directory / "known_hosts"
        for path, text in ((key, self.private_key), (known, self.known_hosts_line)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as out:
                out.write(text if text.endswith("\n") else text + "\n")
        return key, known


class _Call(NamedTuple):
    method: str
    path: str
    model: Any = None
    json: Any = None
    params: dict[str, Any] | None = None


class _Pause(NamedTuple):
    seconds: float


Steps = Generator[_Call | _Pause, Any, T]


def _deployment(machine: str) -> Steps[m.Deployment]:
    path = f"/machines/{segment(machine, 'the machine')}/deployment"
    found: m.Deployment = yield _Call("GET", path, m.Deployment)
    return found


def _mine(deployment_id: str) -> Steps[m.Instance | None]:
    """The caller's active instance on the deployment, if any."""
    params: dict[str, Any] = {"limit": 100}
    while True:
        page: m.Page[m.Instance] = yield _Call("GET", "/instances", m.Page[m.Instance], params=params)
        for instance in page.items:
            if instance.deployment_id == deployment_id:
                return instance
        if not page.next_cursor:
            return None
        params = {**params, "cursor": page.next_cursor}


def _ready(instance_id: str, deadline: float) -> Steps[m.Instance]:
    """The instance once READY; LaunchFailed when it fails, ends or the deadline passes."""
    while True:
        instance: m.Instance = yield _Call("GET", f"/instances/{instance_id}", m.Instance)
        if instance.status == "READY" and instance.port and instance.hostkey:
            return instance
        if instance.status == "INIT_FAIL":
            raise LaunchFailed(f"instance {instance_id} failed to start: {instance.failure}", instance)
        if instance.status not in ("INIT", "READY"):
            ended = f": {instance.failure}" if instance.failure else ""
            raise LaunchFailed(f"instance {instance_id} ended ({instance.status}){ended}", instance)
        if time.monotonic() > deadline:
            raise LaunchFailed(
                f"instance {instance_id} was not READY in time (still {instance.status})", instance
            )
        yield _Pause(POLL_SECONDS)


def _ended(instance_id: str, deadline: float) -> Steps[None]:
    """Waits until the instance (TERMINATING) has ended."""
    while True:
        instance: m.Instance = yield _Call("GET", f"/instances/{instance_id}", m.Instance)
        if instance.status not in ("INIT", "READY", "TERMINATING"):
            return
        if time.monotonic() > deadline:
            raise LaunchFailed(f"your instance {instance_id} is still ending; try again shortly", instance)
        yield _Pause(POLL_SECONDS)


def _access(instance: m.Instance, private: str, public: str, launched: bool) -> SshAccess:
    assert instance.port is not None and instance.hostkey is not None
    hostkey = " ".join(instance.hostkey.split()[:2])
    return SshAccess(instance, instance.host, instance.port, hostkey, private, public, launched)


def _key_pair(private_key: str | None, public_key: str | None) -> tuple[str, str]:
    if private_key is None:
        return new_key_pair()
    return private_key, public_key.strip() if public_key else public_key_of(private_key)


def _machine_access(
    machine: str, private_key: str | None, public_key: str | None, expire_seconds: int | None, timeout: float
) -> Steps[SshAccess]:
    deadline = time.monotonic() + timeout
    deployment = yield from _deployment(machine)
    private, public = _key_pair(private_key, public_key)
    mine = yield from _mine(deployment.id)
    if mine is not None and mine.status == "TERMINATING":
        yield from _ended(mine.id, deadline)
        mine = None
    if mine is not None:
        if not same_key(mine.public_key, public):
            raise Conflict(
                f"your instance {mine.id} is active on machine {machine!r} and was launched with "
                "another key: give that key's private half, or end the instance first "
                f"(fleetport instances terminate {mine.id})"
            )
        ready = yield from _ready(mine.id, deadline)
        return _access(ready, private, public, launched=False)
    if not deployment.online:
        raise LaunchFailed(
            f"the agent of machine {machine!r} is offline: an instance needs the robot's agent"
        )
    body: dict[str, Any] = {"deployment": deployment.id, "public_key": public}
    if expire_seconds is not None:
        body["expire_seconds"] = expire_seconds
    try:
        launch: m.Launch = yield _Call("POST", "/instances", m.Launch, json=body)
    except Conflict as exc:
        raise Conflict(
            f"machine {machine!r} is busy: another instance is active on its deployment ({exc.message})",
            status=exc.status,
            code=exc.code,
            request_id=exc.request_id,
        ) from None
    except PermissionDenied as exc:
        raise PermissionDenied(
            f"you may not launch instances on machine {machine!r}: {exc.message}",
            status=exc.status,
            code=exc.code,
            request_id=exc.request_id,
        ) from None
    assert launch.instance is not None
    try:
        ready = yield from _ready(launch.instance.id, deadline)
    except BaseException:  # (Ctrl-C too) the instance launched here is not left behind
        with contextlib.suppress(FleetportError):  # (ended meanwhile, or the server is gone)
            yield _Call("POST", f"/instances/{launch.instance.id}/terminate", m.Instance)
        raise
    return _access(ready, private, public, launched=True)


def _instance_access(
    instance_id: str, private_key: str, public_key: str | None, timeout: float
) -> Steps[SshAccess]:
    _, public = _key_pair(private_key, public_key)
    path = f"/instances/{segment(instance_id, 'the instance id')}"
    instance: m.Instance = yield _Call("GET", path, m.Instance)
    if not same_key(instance.public_key, public):
        raise FleetportError(f"that private key is not the key instance {instance.id} was launched with")
    ready = yield from _ready(instance.id, time.monotonic() + timeout)
    return _access(ready, private_key, public, launched=False)


def _run(transport: Any, steps: Steps[T]) -> T:
    reply: Any = None
    failure: BaseException | None = None
    while True:
        try:
            step = steps.send(reply) if failure is None else steps.throw(failure)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        reply, failure = None, None
        try:
            if isinstance(step, _Pause):
                time.sleep(step.seconds)
            else:
                reply = transport.call(step.method, step.path, step.model, json=step.json, params=step.params)
        except BaseException as exc:
            failure = exc


async def _run_async(transport: Any, steps: Steps[T]) -> T:
    import asyncio

    reply: Any = None
    failure: BaseException | None = None
    while True:
        try:
            step = steps.send(reply) if failure is None else steps.throw(failure)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        reply, failure = None, None
        try:
            if isinstance(step, _Pause):
                await asyncio.sleep(step.seconds)
            else:
                reply = await transport.call(
                    step.method, step.path, step.model, json=step.json, params=step.params
                )
        except BaseException as exc:
            failure = exc


class Ssh:
    """SSH access under ``Client``."""

    def __init__(self, transport: Any) -> None:
        self._t = transport

    def access(
        self,
        machine: str,
        *,
        private_key: str | None = None,
        public_key: str | None = None,
        expire_seconds: int | None = None,
        timeout: float = 90.0,
    ) -> SshAccess:
        """SSH access to the machine (its id, or its name among the machines you read): your
        active instance on its deployment when ``private_key`` is the key it was launched with,
        else a new instance, launched with the public half of ``private_key`` or of a new ed25519
        key made here, once it is READY. ``public_key`` (an OpenSSH line) saves reading the
        private key (one protected by a passphrase). An instance launched here that does not
        become READY within ``timeout`` seconds is terminated."""
        steps = _machine_access(machine, private_key, public_key, expire_seconds, timeout)
        return _run(self._t, steps)

    def access_instance(
        self, instance_id: str, private_key: str, *, public_key: str | None = None, timeout: float = 90.0
    ) -> SshAccess:
        """SSH access to one of your instances, launched with ``private_key``, once it is READY."""
        return _run(self._t, _instance_access(instance_id, private_key, public_key, timeout))


class AsyncSsh:
    """SSH access under ``AsyncClient``: the same calls, awaited."""

    def __init__(self, transport: Any) -> None:
        self._t = transport

    async def access(
        self,
        machine: str,
        *,
        private_key: str | None = None,
        public_key: str | None = None,
        expire_seconds: int | None = None,
        timeout: float = 90.0,
    ) -> SshAccess:
        """See ``Ssh.access``."""
        steps = _machine_access(machine, private_key, public_key, expire_seconds, timeout)
        return await _run_async(self._t, steps)

    async def access_instance(
        self, instance_id: str, private_key: str, *, public_key: str | None = None, timeout: float = 90.0
    ) -> SshAccess:
        """See ``Ssh.access_instance``."""
        return await _run_async(self._t, _instance_access(instance_id, private_key, public_key, timeout))
