"""``fleetport ssh MACHINE`` and ``fleetport instances ssh INSTANCE``: a session on a machine's
workspace through the system's OpenSSH client, with host key checking on and the host key the
server gave as the only one trusted.

``fleetport ssh`` launches an instance on the machine's deployment with a key made here (or
``--identity``), runs ``ssh`` and terminates the instance when the session ends, unless ``--keep``
is given (its key then stays in the config dir, ``ssh/<server>/<instance id>/``, and the next
``fleetport ssh`` of the machine uses it again). An instance of yours that is already active on
the deployment is used, and left running, when its key is at hand (kept, or ``--identity``).
The exit status is ssh's: the remote command's, or 255 when ssh itself failed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from fleetport.cli.output import done, fail
from fleetport.cli.root import sdk
from fleetport.client import models as m
from fleetport.client.errors import FleetportError
from fleetport.client.ssh import SshAccess
from fleetport.client.sync import Client

KEY_MAX = 64 * 1024
READY_OR_INIT = ("INIT", "READY")
INSTANCE_ID = re.compile(r"[0-9A-Fa-f-]{1,64}")
NO_SSH = (
    "the ssh command (OpenSSH's client) is not on the PATH: install it (e.g. apt install "
    "openssh-client), or connect from Python with client.ssh.access() and an SSH library"
)

CommandOpt = Annotated[
    str | None, typer.Option("--command", "-c", help="Run this command instead of a shell.")
]
IdentityOpt = Annotated[
    Path | None,
    typer.Option(
        "--identity", "-i", exists=True, dir_okay=False, help="Your private key (default: one made here)."
    ),
]
OptionOpt = Annotated[
    list[str] | None,
    typer.Option("--ssh-option", "-o", help="An ssh option, as ssh -o takes it (repeat)."),
]
TtyOpt = Annotated[bool, typer.Option("--tty", "-t", help="Ask for a terminal for --command too.")]
TimeoutOpt = Annotated[float, typer.Option(help="Seconds to wait for the instance to be READY.")]


def config_dir() -> Path:
    """``FLEETPORT_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/fleetport``, else ``~/.config/fleetport``."""
    explicit = os.environ.get("FLEETPORT_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "fleetport"


def kept_root(client: Client) -> Path:
    """Where kept keys of the server's instances live: ``<config dir>/ssh/<server host_port>``."""
    server = re.sub(r"[^A-Za-z0-9.-]+", "_", client.url.split("://", 1)[-1]).strip("_") or "server"
    return config_dir() / "ssh" / server


def kept_dir(client: Client, instance_id: str) -> Path:
    return kept_root(client) / instance_id


def ssh_machine(
    ctx: typer.Context,
    machine: Annotated[str, typer.Argument(help="The machine's id, or its name.")],
    command: CommandOpt = None,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the instance running afterwards.")] = False,
    identity: IdentityOpt = None,
    ssh_option: OptionOpt = None,
    tty: TtyOpt = False,
    expire: Annotated[int | None, typer.Option(help="Seconds the instance lives (default 3600).")] = None,
    timeout: TimeoutOpt = 90.0,
) -> None:
    """Open an SSH session on a machine (an instance on its deployment, ended afterwards)."""
    program = _ssh_program()
    client = sdk(ctx)
    private, public = _identity(identity)
    deployment = client.deployments.of_machine(machine)
    listed = list(client.instances.list())
    _forget_ended(client, {i.id for i in listed})
    mine = next((i for i in listed if i.deployment_id == deployment.id and i.status in READY_OR_INIT), None)
    if mine is not None:
        key = private if private is not None else _stored_key(client, mine.id)
        if key is None:
            fail(
                f"your instance {mine.id} is active on machine {machine!r} but its key is not here: "
                f"give it with --identity, or end the instance (fleetport instances terminate {mine.id})"
            )
        access = client.ssh.access_instance(mine.id, key, public_key=public, timeout=timeout)
        done(f"using your active instance {mine.id}; it stays when the session ends")
    else:
        done(f"launching an instance on machine {machine!r} ...")
        access = client.ssh.access(
            machine, private_key=private, public_key=public, expire_seconds=expire, timeout=timeout
        )
    status = _session(client, access, program, identity, keep, ssh_option or [], tty, command)
    raise typer.Exit(status)


def ssh_instance(
    ctx: typer.Context,
    instance_id: Annotated[str, typer.Argument(help="One of your instances.")],
    command: CommandOpt = None,
    identity: IdentityOpt = None,
    ssh_option: OptionOpt = None,
    tty: TtyOpt = False,
    timeout: TimeoutOpt = 90.0,
) -> None:
    """Open an SSH session on one of your instances (it stays running afterwards)."""
    program = _ssh_program()
    client = sdk(ctx)
    private, public = _identity(identity)
    key = private if private is not None else _stored_key(client, instance_id)
    if key is None:
        fail(f"no key of instance {instance_id} is kept here: give the one it was launched with (--identity)")
    access = client.ssh.access_instance(instance_id, key, public_key=public, timeout=timeout)
    status = _session(client, access, program, identity, True, ssh_option or [], tty, command)
    raise typer.Exit(status)


def _ssh_program() -> str:
    program = shutil.which("ssh")
    if program is None:
        fail(NO_SSH)
    return program


def _identity(path: Path | None) -> tuple[str | None, str | None]:
    """The private key of ``--identity`` and its public key when ``KEY.pub`` is next to it."""
    if path is None:
        return None, None
    try:
        if path.stat().st_size > KEY_MAX:
            fail(f"{path} is too large to be a private key")
        private = path.read_text()
        pub = path.with_name(path.name + ".pub")
        public = pub.read_text().strip() if pub.is_file() and pub.stat().st_size <= KEY_MAX else None
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read the key {path}: {exc}")
    return private, public or None


def _stored_key(client: Client, instance_id: str) -> str | None:
    if not INSTANCE_ID.fullmatch(instance_id):
        return None  # (not a name to look a file up by)
    path = kept_dir(client, instance_id) / "id_key"
    try:
        return path.read_text() if path.is_file() else None
    except OSError:
        return None


def _forget_ended(client: Client, active: set[str]) -> None:
    """Removes the kept keys of instances that have ended (those of instances this caller does
    not reach, another user's, stay)."""
    root = kept_root(client)
    if not root.is_dir():
        return
    for child in root.iterdir():
        if not child.is_dir() or child.name in active:
            continue
        try:
            status = client.instances.get(child.name).status
        except FleetportError:
            continue
        if status not in ("INIT", "READY", "TERMINATING"):
            shutil.rmtree(child, ignore_errors=True)


def _session(
    client: Client,
    access: SshAccess,
    program: str,
    identity: Path | None,
    keep: bool,
    options: list[str],
    tty: bool,
    command: str | None,
) -> int:
    """Runs ssh on the instance; ends it afterwards when it was launched here and not kept."""
    instance = access.instance
    ends = access.launched and not keep
    kept = not ends and (access.launched or kept_dir(client, instance.id).is_dir())
    directory = kept_dir(client, instance.id) if kept and identity is None else None
    try:
        with _files(access, directory) as (key, known):
            argv = ssh_argv(program, access, identity or key, known, options, tty, command)
            status = run_forwarding_signals(argv)
    finally:
        if ends:
            _terminate(client, instance)
    if access.launched and keep:
        again = " with the same --identity" if identity is not None else ""
        done(
            f"instance {instance.id} keeps running: 'fleetport ssh' of the machine uses it again{again}; "
            f"end it with 'fleetport instances terminate {instance.id}'"
        )
    return status


@contextmanager
def _files(access: SshAccess, directory: Path | None) -> Iterator[tuple[Path, Path]]:
    """The key and known_hosts files: in ``directory`` (kept), else in a private temporary
    directory removed afterwards."""
    if directory is not None:
        yield access.write_files(directory)
        return
    temporary = Path(tempfile.mkdtemp(prefix="fleetport-ssh-"))
    try:
        yield access.write_files(temporary)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def ssh_argv(
    program: str,
    access: SshAccess,
    key: Path,
    known_hosts: Path,
    options: list[str],
    tty: bool,
    command: str | None,
) -> list[str]:
    """The ssh command line: only the server-given host key trusted, only this key offered."""
    argv = [program, "-i", str(key), "-o", f"UserKnownHostsFile={_quoted(known_hosts)}"]
    for option in (
        "StrictHostKeyChecking=yes",
        "GlobalKnownHostsFile=/dev/null",
        "UpdateHostKeys=no",
        "IdentitiesOnly=yes",
        *options,
    ):
        argv += ["-o", option]
    argv += ["-p", str(access.port)]
    if tty:
        argv.append("-t")
    argv.append(f"{access.username}@{access.host}")
    if command is not None:
        argv.append(command)
    return argv


def _quoted(path: Path) -> str:
    text = str(path)
    return f'"{text}"' if any(c.isspace() for c in text) else text


def run_forwarding_signals(argv: list[str]) -> int:
    """Runs the command in the foreground; a Ctrl-C reaches it (as the terminal's foreground
    job) but not this process, and SIGTERM or SIGHUP sent here is passed on, so that what
    follows the session (ending the instance) still happens. Its exit status (128 + a signal)."""
    child: subprocess.Popen[bytes] | None = None

    def pass_on(number: int, frame: FrameType | None) -> None:
        if child is not None and child.poll() is None:
            child.send_signal(number)

    handlers: dict[int, Any] = {}
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        current = signal.getsignal(number)
        if current is not signal.SIG_IGN:  # (a job started with it ignored keeps it ignored)
            handlers[number] = signal.SIG_DFL if current is None else current
            signal.signal(number, _ignore if number == signal.SIGINT else pass_on)
    try:
        try:
            child = subprocess.Popen(argv)
        except OSError as exc:
            fail(f"cannot run {argv[0]}: {exc}")
        status = child.wait()
    finally:
        for kind, handler in handlers.items():
            signal.signal(kind, handler)
    return status if status >= 0 else 128 - status


def _ignore(number: int, frame: FrameType | None) -> None:
    """Ctrl-C is for the session (the terminal sends it to ssh as well)."""


def _terminate(client: Client, instance: m.Instance) -> None:
    try:
        client.instances.terminate(instance.id)
    except FleetportError as exc:
        done(f"instance {instance.id} was not terminated: {exc.message}")
