"""``client.ssh`` (``Client`` and ``AsyncClient``) against a real server and a real ``fleetport
agent`` process: access to a machine by its name, with the host key checked by paramiko (nothing
else trusted), the active instance used again with its key, and launches that fail cleanly."""

from __future__ import annotations

import asyncio
import base64
import io
import signal
from collections.abc import Iterator

import paramiko
import pytest

from fleetport import AsyncClient, Client
from fleetport.client.errors import Conflict, FleetportError, InvalidArgument, NotFound
from fleetport.client.ssh import LaunchFailed, SshAccess
from fleetport.client.sshkeys import new_key_pair
from tests.conftest import ADMIN_KEY
from tests.e2e.agent.conftest import wait_for
from tests.e2e.ssh_site import Site, running_site

PORTS = {"FLEETPORT_REMOTE__PORTS": "24160-24179"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("ssh-sdk"), env=PORTS) as running:
        yield running


@pytest.fixture
def fp(site: Site) -> Iterator[Client]:
    with Client(site.server.url, ADMIN_KEY) as client:
        yield client


def run(access: SshAccess, command: str) -> tuple[bytes, int]:
    """Runs a command over SSH, trusting only the host key the server gave."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    kind, blob = access.hostkey.split()
    where = f"[{access.host}]:{access.port}"
    client.get_host_keys().add(where, kind, paramiko.PKey.from_type_string(kind, base64.b64decode(blob)))
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(access.private_key))
    try:
        client.connect(
            access.host, access.port, access.username, pkey=key, look_for_keys=False, allow_agent=False
        )
        _, stdout, _ = client.exec_command(command)
        return stdout.read(), stdout.channel.recv_exit_status()
    finally:
        client.close()


def ends(fp: Client, instance_id: str) -> None:
    if fp.instances.get(instance_id).status in ("INIT", "READY"):
        fp.instances.terminate(instance_id)
    wait_for(lambda: fp.instances.get(instance_id).status == "TERMINATED", 15, "the instance to end")


def test_access_by_name_then_again_with_its_key(fp: Client, site: Site) -> None:
    access = fp.ssh.access(site.machine.name, expire_seconds=600)
    try:
        assert access.launched and access.username == "root" and access.port == access.instance.port
        assert access.instance.status == "READY" and access.instance.expire_seconds == 600
        assert access.public_key.startswith("ssh-ed25519 ") and "PRIVATE KEY" in access.private_key
        assert access.instance.public_key.split()[:2] == access.public_key.split()[:2]
        assert run(access, "echo hello; exit 6") == (b"hello\n", 6)
        again = fp.ssh.access(site.machine.id, private_key=access.private_key)
        assert not again.launched and again.instance.id == access.instance.id
        by_id = fp.ssh.access_instance(access.instance.id, access.private_key)
        assert run(by_id, "echo again") == (b"again\n", 0)
        with pytest.raises(Conflict, match=f"your instance {access.instance.id} is active"):
            fp.ssh.access(site.machine.name)  # a new key: not the instance's
        with pytest.raises(FleetportError, match="not the key instance"):
            fp.ssh.access_instance(access.instance.id, new_key_pair()[0])
    finally:
        ends(fp, access.instance.id)


def test_the_async_client(site: Site) -> None:
    async def scenario() -> SshAccess:
        async with AsyncClient(site.server.url, ADMIN_KEY) as fp:
            return await fp.ssh.access(site.machine.name)

    access = asyncio.run(scenario())
    with Client(site.server.url, ADMIN_KEY) as fp:
        try:
            assert access.launched and run(access, "pwd")[1] == 0
        finally:
            ends(fp, access.instance.id)


def test_a_launch_that_is_not_ready_in_time_is_terminated(fp: Client, site: Site) -> None:
    agent = site.agent.process
    assert agent is not None
    agent.send_signal(signal.SIGSTOP)  # the agent cannot answer the launch until it is continued
    try:
        with pytest.raises(LaunchFailed, match="was not READY in time") as failed:
            fp.ssh.access(site.machine.name, timeout=0.5)
    finally:
        agent.send_signal(signal.SIGCONT)
    instance = failed.value.instance
    assert instance is not None
    wait_for(lambda: fp.instances.get(instance.id).status == "TERMINATED", 15, "the instance to end")


def test_an_offline_machine_fails_at_once(fp: Client, site: Site) -> None:
    ghost = fp.machines.create(site.location_id, "sdk-ghost")
    fp.deployments.create(ghost.id)
    before = {i.id for i in fp.instances.list(include_ended=True)}
    with pytest.raises(LaunchFailed, match="offline"):
        fp.ssh.access("sdk-ghost")
    assert {i.id for i in fp.instances.list(include_ended=True)} == before


def test_machines_named_with_slashes_and_hostile_names(fp: Client, site: Site) -> None:
    slashed = fp.machines.create(site.location_id, "arm/left #2?")
    deployment = fp.deployments.create(slashed.id)
    assert fp.deployments.of_machine("arm/left #2?").id == deployment.id
    assert fp.deployments.of_machine(slashed.id).online is False  # no agent runs for it
    assert fp.deployments.of_machine(site.machine.name).online is True
    for hostile in ("x" * 201, "nul\x00name", "\udcff", " "):
        with pytest.raises(InvalidArgument):
            fp.deployments.of_machine(hostile)
    for unknown in ("..", "../instances", "%2e%2e", "a/../b", "é" * 50):
        with pytest.raises(NotFound):
            fp.deployments.of_machine(unknown)
    with pytest.raises(InvalidArgument):
        fp.ssh.access("\udcff")
