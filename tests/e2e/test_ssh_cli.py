"""``fleetport ssh MACHINE`` end to end: a real server, a real ``fleetport agent`` process, the
``fleetport`` command in a subprocess and the system's OpenSSH client it runs, with a command, in
an interactive session on a real pseudo-terminal, kept and used again, and the errors users meet."""

from __future__ import annotations

import fcntl
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetport import Client
from fleetport.client import models as m
from tests.conftest import ADMIN_KEY, fresh_pg_database
from tests.e2e.agent.conftest import wait_for
from tests.e2e.ssh_site import Site, running_site

SSH_MISSING = pytest.mark.skipif(shutil.which("ssh") is None, reason="needs OpenSSH's ssh client")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("ssh-cli")) as running:
        yield running


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The config dir and temporary dir of the command's runs."""
    for name in ("config", "tmp"):
        (tmp_path / name).mkdir()
    return tmp_path


def fleetport(
    site: Site, home: Path, *args: str, key: str = ADMIN_KEY, path: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fleetport.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment(site, home, key, path),
        stdin=subprocess.DEVNULL,
    )


def environment(site: Site, home: Path, key: str = ADMIN_KEY, path: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPORT_")}
    env |= {
        "FLEETPORT_URL": site.server.url,
        "FLEETPORT_API_KEY": key,
        "FLEETPORT_CONFIG_DIR": str(home / "config"),
        "TMPDIR": str(home / "tmp"),
    }
    if path is not None:
        env["PATH"] = path
    return env


def instances(site: Site, key: str = ADMIN_KEY) -> list[m.Instance]:
    with Client(site.server.url, key) as fp:
        return list(fp.instances.list(include_ended=True))


def ended(site: Site, instance_id: str) -> bool:
    with Client(site.server.url, ADMIN_KEY) as fp:
        return fp.instances.get(instance_id).status == "TERMINATED"


def launched_by_the_run(site: Site, before: list[m.Instance]) -> m.Instance:
    (new,) = [i for i in instances(site) if i.id not in {b.id for b in before}]
    return new


@SSH_MISSING
def test_a_command_gives_its_output_and_exit_status_and_the_instance_ends(site: Site, home: Path) -> None:
    before = instances(site)
    run = fleetport(site, home, "ssh", site.machine.name, "--command", "echo hi; exit 3")
    assert run.returncode == 3, run.stderr
    assert run.stdout == "hi\n"
    instance = launched_by_the_run(site, before)
    assert instance.public_key.startswith("ssh-ed25519 ")  # made by the command, not the server
    wait_for(lambda: ended(site, instance.id), 15, "the instance to be TERMINATED")
    assert list((home / "tmp").iterdir()) == []  # the key and known_hosts went with the session
    assert list((home / "config").iterdir()) == []
    by_id = fleetport(site, home, "ssh", site.machine.id, "-c", "test -t 0 || echo no-tty; exit 0")
    assert (by_id.returncode, by_id.stdout) == (0, "no-tty\n"), by_id.stderr


@SSH_MISSING
def test_an_interactive_session_on_a_real_terminal(site: Site, home: Path) -> None:
    before = instances(site)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
    session = subprocess.Popen(
        [sys.executable, "-m", "fleetport.cli", "ssh", site.machine.name],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=environment(site, home),
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(slave)
    screen = Screen(master)
    try:
        screen.expect(r"[#$] $", 60)  # the remote shell's prompt
        os.write(master, b"tty; stty size; echo marker-$((6 * 7))\n")
        screen.expect(r"marker-42")
        assert re.search(r"/dev/pts/\d+\r\n", screen.text), screen.text
        assert "33 111\r\n" in screen.text
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 132, 0, 0))  # the window grows
        time.sleep(0.5)
        os.write(master, b"stty size; echo marker-$((7 * 7))\n")
        screen.expect(r"marker-49")
        assert "40 132\r\n" in screen.text
        os.write(master, b"exit 5\n")
        assert session.wait(30) == 5
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
        os.close(master)
    instance = launched_by_the_run(site, before)
    wait_for(lambda: ended(site, instance.id), 15, "the instance to be TERMINATED")


class Screen:
    """What a terminal's master side shows."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.text = ""

    def expect(self, pattern: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.text):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{pattern!r} did not show; the screen has {self.text!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the terminal closed before {pattern!r}; it had {self.text!r}")
                self.text += chunk.decode(errors="replace")


@SSH_MISSING
def test_a_kept_instance_is_used_again_and_reached_by_its_id(site: Site, home: Path) -> None:
    before = instances(site)
    first = fleetport(site, home, "ssh", site.machine.name, "--keep", "-c", "echo one > note; cat note")
    assert (first.returncode, first.stdout) == (0, "one\n"), first.stderr
    instance = launched_by_the_run(site, before)
    assert "keeps running" in first.stderr and instance.id in first.stderr
    (kept,) = (home / "config" / "ssh").glob(f"*/{instance.id}")  # <config>/ssh/<server>/<instance>
    assert kept.parent.name == site.server.url.split("://")[1].replace(":", "_")
    assert (kept / "id_key").stat().st_mode & 0o777 == 0o600
    assert kept.stat().st_mode & 0o777 == 0o700
    again = fleetport(site, home, "ssh", site.machine.name, "-c", "cat note")  # the same workspace
    assert (again.returncode, again.stdout) == (0, "one\n"), again.stderr
    assert f"using your active instance {instance.id}" in again.stderr
    by_id = fleetport(site, home, "instances", "ssh", instance.id, "-c", "cat note; exit 4")
    assert (by_id.returncode, by_id.stdout) == (4, "one\n"), by_id.stderr
    with Client(site.server.url, ADMIN_KEY) as fp:
        assert fp.instances.get(instance.id).status == "READY"  # left running both times
    elsewhere = home / "elsewhere"
    (elsewhere / "config").mkdir(parents=True)
    no_key = fleetport(site, elsewhere, "ssh", site.machine.name, "-c", "true")
    assert no_key.returncode == 1 and "its key is not here" in no_key.stderr
    assert fleetport(site, home, "instances", "terminate", instance.id).returncode == 0
    wait_for(lambda: ended(site, instance.id), 15, "the instance to be TERMINATED")
    strangers = kept.parent / "01234567-89ab-cdef-0123-456789abcdef"  # an instance not reached
    strangers.mkdir()
    after = fleetport(site, home, "ssh", site.machine.name, "-c", "test -e note || echo fresh")
    assert (after.returncode, after.stdout) == (0, "fresh\n"), after.stderr
    assert not kept.exists()  # the ended instance's key was forgotten
    assert strangers.exists()  # (another user's, or unknown: left alone)


@SSH_MISSING
def test_your_own_key_with_identity(site: Site, home: Path) -> None:
    key = home / "mine"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me", "-f", str(key)], check=True)
    before = instances(site)
    run = fleetport(site, home, "ssh", site.machine.name, "-i", str(key), "-c", "echo mine")
    assert (run.returncode, run.stdout) == (0, "mine\n"), run.stderr
    instance = launched_by_the_run(site, before)
    assert instance.public_key.split()[:2] == key.with_suffix(".pub").read_text().split()[:2]
    garbage = home / "garbage"
    garbage.write_text("not a key")
    refused = fleetport(site, home, "ssh", site.machine.name, "-i", str(garbage), "-c", "true")
    assert refused.returncode == 1 and "not a private key" in refused.stderr
    wait_for(lambda: ended(site, instance.id), 15, "the instance to be TERMINATED")


@SSH_MISSING
def test_clear_errors_and_nothing_left_launched(site: Site, home: Path) -> None:
    with Client(site.server.url, ADMIN_KEY) as fp:
        bare = fp.machines.create(site.location_id, "bare")
        ghost = fp.machines.create(site.location_id, "ghost")  # offered, but no agent runs
        fp.deployments.create(ghost.id)
        operator = user(fp, site, "opal", "operator")
        barred = user(fp, site, "bart", "operator")
        fp.deployments.add_rule(site.deployment.id, "CAP_NO_INSTANTIATE", "bart@example.com")
    before = {i.id for i in instances(site)}

    def refused(*args: str, key: str = ADMIN_KEY, path: str | None = None) -> str:
        run = fleetport(site, home, "ssh", *args, "-c", "true", key=key, path=path)
        assert run.returncode == 1 and run.stdout == "", run.stderr
        assert "Traceback" not in run.stderr
        return run.stderr

    assert "no machine named 'nemo'" in refused("nemo")
    assert "lone surrogate" in refused(os.fsdecode(b"\xff"))  # bytes that are not UTF-8
    assert "not found" in refused("01234567-89ab-cdef-0123-456789abcdef")
    assert f"machine 'bare' ({bare.id}) has no deployment" in refused("bare")
    assert "the agent of machine 'ghost' is offline" in refused("ghost")
    assert "you may not launch instances on machine 'rover'" in refused("rover", key=barred)
    assert "CAP_NO_INSTANTIATE" in refused("rover", key=barred)
    no_ssh = Path(sys.executable).parent  # python, no ssh
    assert "the ssh command (OpenSSH's client) is not on the PATH" in refused("rover", path=str(no_ssh))
    assert {i.id for i in instances(site)} == before  # nothing was launched by any of them
    with Client(site.server.url, operator) as theirs:
        launch = theirs.instances.launch(site.deployment.id)
        assert launch.instance is not None
    try:
        assert "machine 'rover' is busy" in refused("rover")
    finally:
        with Client(site.server.url, operator) as theirs:
            theirs.instances.terminate(launch.instance.id)


def user(fp: Client, site: Site, name: str, role: str) -> str:
    """A user with ``role`` on the site's organization; their session token."""
    made = fp.users.create(f"{name}@example.com", "password-1", name=name)
    fp.authorizations.add(
        site.org_id,
        subject_type="user",
        subject_id=made.id,
        role=role,
        resource_type="organization",
        resource_id=site.org_id,
    )
    with Client.login(f"{name}@example.com", "password-1", url=site.server.url) as session:
        return session.api_key or ""


@SSH_MISSING
@pytest.mark.postgres
def test_a_command_on_postgresql(tmp_path: Path, home: Path) -> None:
    ports = {"FLEETPORT_REMOTE__PORTS": "24180-24199"}  # (the module's server runs meanwhile)
    with fresh_pg_database() as url, running_site(tmp_path / "pg", url, ports) as pg:
        run = fleetport(pg, home, "ssh", pg.machine.name, "--command", "echo pg; exit 9")
        assert (run.returncode, run.stdout) == (9, "pg\n"), run.stderr
        (instance,) = instances(pg)
        wait_for(lambda: ended(pg, instance.id), 15, "the instance to be TERMINATED")


@SSH_MISSING
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_an_interrupted_session_still_ends_its_instance(site: Site, home: Path, how: str) -> None:
    """Ctrl-C reaches the whole foreground job (ssh and the command, as a terminal sends it); a
    SIGTERM only the command, which passes it on to ssh. Either way the instance is ended."""
    before = instances(site)
    with subprocess.Popen(
        [sys.executable, "-m", "fleetport.cli", "ssh", site.machine.name, "-c", "echo started; sleep 60"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(site, home),
        start_new_session=True,
    ) as session:
        try:
            assert session.stdout is not None
            assert session.stdout.readline() == b"started\n"
            if how == "ctrl-c":
                os.killpg(session.pid, signal.SIGINT)
            else:
                session.send_signal(signal.SIGTERM)
            status = session.wait(30)
        finally:
            if session.poll() is None:
                session.kill()
    assert status != 0
    instance = launched_by_the_run(site, before)
    wait_for(lambda: ended(site, instance.id), 15, "the instance to be TERMINATED")
    assert list((home / "tmp").iterdir()) == []
