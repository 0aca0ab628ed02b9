"""Remote access through the agent: SFTP, exec and echo round trips through an instance's
forwarding port against the agent's workspace SSH server reached directly, and camera snapshots
through the rerobots dialect against baselines measured in the same run.

Starts a real server (a subprocess, SQLite unless ``--database-url``) and a real ``fleetport
agent`` process, offers the agent's machine as a deployment with the cam add-on, launches an
instance with an ed25519 key made here (the unmodified ``rerobots`` client) and waits for READY.
The workspace's SSH server listens on the robot's loopback on a port the agent logs ("ssh on
127.0.0.1:N"); the relay path is client -> forwarding port -> server -> WebSocket -> agent -> that
SSH server. Each figure is measured on every path in turn, ``--runs`` times; medians are shown.
``--compare-src DIR`` starts a second server and agent from another source tree (its ``src``) and
measures its relay too, interleaved: before and after a change, in the same run. Prints numbers;
asserts nothing about timings. Exit status: 2 when it could not run (a process did not start or
died, a transfer came back altered), 130 when interrupted.

    .venv/bin/python bench/remote.py [--runs 3] [--file-mb 100] [--compare-src DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import paramiko
from harness import (
    BenchFailure,
    Process,
    add_database_option,
    bench_database,
    fleetport_env,
    free_port,
    percentile,
    print_machine,
    ratio,
    run_benchmark,
    start_process,
    wait_healthy,
)

from fleetport import Client

# the instances' forwarding ports, apart from the tests' ranges: one range per server
FORWARDING_PORTS = ("24300-24319", "24320-24339")
WINDOW = 64 << 20  # paramiko's SSH and SFTP channel windows: the client never waits for window space
# paramiko's reads in flight in a get (32 KiB each); unbounded, its buffer of early answers grows
# and its get slowed to a third in some runs
PREFETCH = 256
CHUNK = 1 << 20  # bytes a local file is written and hashed in
ECHO_BYTES = 64
WORKSPACE_PORT = re.compile(r"workspace of instance (\S+) ready in .* \(ssh on 127\.0\.0\.1:(\d+)\)")
SFTP_OPTIONS = ("BatchMode=yes", "IdentitiesOnly=yes", "StrictHostKeyChecking=yes", "LogLevel=ERROR")


@dataclass
class Site:
    """A server and its agent, with a READY instance whose workspace the benchmark may enter."""

    server: Process
    agent: Process
    api_key: str
    instance_id: str
    relay_port: int  # the instance's forwarding port on the server
    direct_port: int  # the workspace's SSH server on the robot's loopback
    hostkey: str  # "<type> <base64>" of the agent's host key
    key: paramiko.PKey
    key_path: Path
    known_hosts: Path


@dataclass
class Target:
    """A way into a workspace: ``relay``, ``direct``, or ``relay*`` (the compared tree's relay)."""

    name: str
    site: Site
    port: int


# --- set-up -------------------------------------------------------------------------------------


def make_key(work_dir: Path) -> tuple[paramiko.PKey, Path, str]:
    """A new ed25519 key pair: paramiko's key, the private key file (0600) and the public line."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    private = ed25519.Ed25519PrivateKey.generate()
    path = work_dir / "id_ed25519"
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
        out.write(pem)
    public = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return paramiko.Ed25519Key.from_private_key_file(str(path)), path, public.decode() + " bench"


def start_site(
    work_dir: Path, database_url: str | None, processes: list[Process], ports: str, tree: Path | None = None
) -> Site:
    """A server and an agent (from ``tree``'s ``src`` when given), a deployment with the cam add-on
    and a READY instance launched with a key made here."""
    from rerobots.api import APIClient

    work_dir.mkdir(parents=True, exist_ok=True)
    own = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPORT_")}
    if tree is not None:
        own["PYTHONPATH"] = str(tree / "src")
    api_key = secrets.token_urlsafe(30)
    http_port = free_port()
    env = fleetport_env(work_dir / "data", api_key, database_url, http_port=http_port)
    env |= {"FLEETPORT_REMOTE__PORTS": ports, "FLEETPORT_REMOTE__LAUNCH_TIMEOUT_SECONDS": "60"}
    env["PYTHONPATH"] = own.get("PYTHONPATH", "")
    serve = [sys.executable, "-m", "fleetport.cli", "serve"]
    server = start_process("server", serve, env, http_port, work_dir)
    processes.append(server)
    wait_healthy(server)
    with Client(server.base_url, api_key, timeout=30) as fp:
        org = fp.organizations.create("bench remote")
        machine = fp.machines.create(fp.locations.create(org.id, "lab").id, "rover")
        (part,) = list(fp.machines.parts(machine.id))
        enrolment = fp.parts.agent_config(part.id)
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as admin:
        body = {"machine_id": machine.id, "addons": ["cam"]}
        deployment = ok(admin.post("/api/v1/deployments", json=body))
    enrolment_path = work_dir / "enrolment.json"
    enrolment_path.write_text(json.dumps(enrolment.model_dump()))
    enrolment_path.chmod(0o600)
    command = [sys.executable, "-m", "fleetport.cli", "agent", "--config", str(enrolment_path)]
    command += ["--state-dir", str(work_dir / "agent"), "--telemetry-port", "0", "--log-level", "info"]
    agent = start_process("agent", command, own, 0, work_dir)
    processes.append(agent)
    wait_log(agent, lambda text: "connected to the server" in text, "the agent to connect")
    key, key_path, public = make_key(work_dir)
    apic = APIClient(api_token=api_key, ignore_env=True, base_uri=server.base_url + "/rerobots")
    instance_id = str(apic.request_instance(deployment["id"], sshkey=public)["id"])
    deadline = time.monotonic() + 60
    while (info := apic.get_instance_info(instance_id))["status"] != "READY":
        if info["status"] not in ("INIT", "READY") or time.monotonic() > deadline:
            raise BenchFailure(f"the instance is {info['status']}, not READY:\n{agent.log_tail()}")
        time.sleep(0.1)
    found = wait_log(agent, lambda text: workspace_port(text, instance_id), "the workspace's SSH port")
    hostkey = str(info["hostkeys"][0])
    relay_port, direct_port = int(info["fwd"]["port"]), int(str(found))
    known_hosts = work_dir / "known_hosts"
    known_hosts.write_text("".join(f"[127.0.0.1]:{port} {hostkey}\n" for port in (relay_port, direct_port)))
    return Site(
        server, agent, api_key, instance_id, relay_port, direct_port, hostkey, key, key_path, known_hosts
    )


def ok(response: httpx.Response) -> dict[str, object]:
    if response.status_code >= 300:
        raise BenchFailure(f"{response.request.method} {response.request.url.path}: {response.text}")
    return dict(response.json())


def workspace_port(text: str, instance_id: str) -> int:
    """The workspace SSH server's port, from the agent's log line about the instance."""
    for match in WORKSPACE_PORT.finditer(text):
        if match.group(1) == instance_id:
            return int(match.group(2))
    return 0


def wait_log(process: Process, found: Callable[[str], object], what: str, timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while True:
        process.ensure_running()
        value = found(process.log_path.read_text(errors="replace"))
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchFailure(f"{what}: not seen within {timeout:g} s:\n{process.log_tail()}")
        time.sleep(0.1)


def connect(target: Target) -> paramiko.Transport:
    """An authenticated SSH transport, whose host key must be the instance's."""
    sock = socket.create_connection(("127.0.0.1", target.port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(sock, default_window_size=WINDOW)
    transport.start_client(timeout=30)
    offered = transport.get_remote_server_key()
    if f"{offered.get_name()} {offered.get_base64()}" != target.site.hostkey:
        transport.close()
        raise BenchFailure(f"{target.name}: another host key than the instance's")
    transport.auth_publickey("root", target.site.key)
    return transport


def in_turn(targets: list[Target], run: int) -> list[Target]:
    """The targets, in another order each run (so that drift in the machine's load hits all alike)."""
    shift = run % len(targets)
    return targets[shift:] + targets[:shift]


# --- SFTP ---------------------------------------------------------------------------------------


@dataclass
class Transfer:
    seconds: float
    cpu: tuple[float, float, float]  # seconds of CPU: the client, the server, the agent


class Meter:
    """Wall time and the CPU time of the client (this process and its children), the server and the
    agent, over a block."""

    def __init__(self, site: Site) -> None:
        self.site = site

    def _cpu(self) -> tuple[float, float, float]:
        client = sum(
            usage.ru_utime + usage.ru_stime
            for usage in (
                resource.getrusage(resource.RUSAGE_SELF),
                resource.getrusage(resource.RUSAGE_CHILDREN),
            )
        )
        return client, self.site.server.cpu_seconds(), self.site.agent.cpu_seconds()

    def __enter__(self) -> Meter:
        self.cpu = self._cpu()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        seconds = time.perf_counter() - self.started
        after = self._cpu()
        self.result = Transfer(
            seconds, (after[0] - self.cpu[0], after[1] - self.cpu[1], after[2] - self.cpu[2])
        )


def paramiko_sftp(target: Target, direction: str, local: Path, remote: str) -> Transfer:
    transport = connect(target)
    try:
        sftp = paramiko.SFTPClient.from_transport(transport, window_size=WINDOW)
        assert sftp is not None
        with Meter(target.site) as meter:  # putfo pipelines its writes; getfo prefetches
            if direction == "put":
                with local.open("rb") as source:
                    sftp.putfo(source, remote, file_size=local.stat().st_size)
            else:
                with local.open("wb") as sink:
                    sftp.getfo(remote, sink, max_concurrent_prefetch_requests=PREFETCH)
        sftp.close()
    finally:
        transport.close()
    return meter.result


def openssh_sftp(target: Target, direction: str, local: Path, remote: str) -> Transfer:
    batch = f"put {local} {remote}\n" if direction == "put" else f"get {remote} {local}\n"
    command = ["sftp", "-q", "-b", "-", "-P", str(target.port), "-i", str(target.site.key_path)]
    for option in (
        *SFTP_OPTIONS,
        f"UserKnownHostsFile={target.site.known_hosts}",
        "GlobalKnownHostsFile=/dev/null",
    ):
        command += ["-o", option]
    with Meter(target.site) as meter:  # connecting included: a few ms of a transfer of seconds
        done = subprocess.run(
            [*command, "root@127.0.0.1"], input=batch.encode(), capture_output=True, timeout=600, check=False
        )
    if done.returncode != 0:
        raise BenchFailure(f"sftp {direction} ({target.name}): {done.stderr.decode(errors='replace')}")
    return meter.result


CLIENTS = {"paramiko": paramiko_sftp, "openssh": openssh_sftp}


def sftp_part(args: argparse.Namespace, targets: list[Target], work_dir: Path) -> None:
    size = args.file_mb * 1_000_000
    source, back = work_dir / "source.bin", work_dir / "back.bin"
    with source.open("wb") as out:
        for start in range(0, size, CHUNK):
            out.write(os.urandom(min(CHUNK, size - start)))
    expected = sha256(source)
    clients = [name.strip() for name in args.sftp_clients.split(",") if name.strip()]
    if "openssh" in clients and shutil.which("sftp") is None:
        print("sftp: the OpenSSH client is not installed; measuring paramiko only", file=sys.stderr)
        clients.remove("openssh")
    results: dict[tuple[str, str, str], list[Transfer]] = {}
    for run in range(args.runs):
        for client in clients:
            for target in in_turn(targets, run):
                name = f"bench-{target.name}.bin".replace("*", "-other")
                put = CLIENTS[client](target, "put", source, name)
                back.unlink(missing_ok=True)
                got = CLIENTS[client](target, "get", back, name)
                if sha256(back) != expected:
                    raise BenchFailure(f"{client} {target.name}: the file came back altered")
                results.setdefault((client, target.name, "put"), []).append(put)
                results.setdefault((client, target.name, "get"), []).append(got)
                rates = f"put {size / 1e6 / put.seconds:.1f} MB/s, get {size / 1e6 / got.seconds:.1f} MB/s"
                print(f"  run {run + 1} {client} {target.name}: {rates}", file=sys.stderr)
    print(
        f"\nSFTP of a {args.file_mb} MB file (MB/s, median of {args.runs} runs; "
        "CPU seconds per transfer: client/server/agent)"
    )
    for client in clients:
        for direction in ("put", "get"):
            rates = {}
            for target in targets:
                found = results[(client, target.name, direction)]
                rates[target.name] = statistics.median(size / 1e6 / t.seconds for t in found)
                cpu = "/".join(f"{statistics.median(t.cpu[i] for t in found):.1f}" for i in range(3))
                print(
                    f"  {client:8} {direction} {target.name:6}: {rates[target.name]:7.1f} MB/s  (CPU {cpu})"
                )
            for name in rates:
                if name != "direct":
                    share = ratio(rates[name], rates["direct"], ".2f")
                    print(f"  {client:8} {direction} {name}/direct: {share}")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


# --- round trips --------------------------------------------------------------------------------


def exec_round_trips(transport: paramiko.Transport, count: int) -> list[float]:
    """``count`` commands ``true`` on one connection, each on a channel of its own: seconds each."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        channel = transport.open_session(timeout=30)
        channel.exec_command("true")
        status = channel.recv_exit_status()
        channel.close()
        times.append(time.perf_counter() - started)
        if status != 0:
            raise BenchFailure(f"'true' exited with {status}")
    return times


def echo_round_trips(transport: paramiko.Transport, count: int) -> list[float]:
    """``count`` writes of 64 bytes to ``cat`` on one channel, each until its echo is back."""
    channel = transport.open_session(timeout=30)
    channel.settimeout(30)
    channel.exec_command("cat")
    times = []
    try:
        for i in range(count):
            message = i.to_bytes(4, "big") * (ECHO_BYTES // 4)
            started = time.perf_counter()
            channel.sendall(message)
            echoed = b""
            while len(echoed) < len(message):
                data = channel.recv(len(message) - len(echoed))
                if not data:
                    raise BenchFailure("cat ended early")
                echoed += data
            times.append(time.perf_counter() - started)
            if echoed != message:
                raise BenchFailure("cat echoed other bytes")
    finally:
        channel.close()
    return times


def round_trip_part(args: argparse.Namespace, targets: list[Target]) -> None:
    transports = {target.name: connect(target) for target in targets}
    try:
        kinds: dict[str, tuple[Callable[[paramiko.Transport, int], list[float]], int]] = {
            f"exec 'true' (x{args.execs})": (exec_round_trips, args.execs),
            f"echo {ECHO_BYTES} B (x{args.echoes})": (echo_round_trips, args.echoes),
        }
        found: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for run in range(args.runs):
            for kind, (measure, count) in kinds.items():
                for target in in_turn(targets, run):
                    measure(transports[target.name], 5)  # warm
                    times = sorted(measure(transports[target.name], count))
                    p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
                    found.setdefault((kind, target.name), []).append((p50, p99))
        print(f"\nround trips on one open SSH connection (ms; median over {args.runs} runs of p50 and p99)")
        for kind in kinds:
            p50s = {}
            for target in targets:
                p50 = statistics.median(f[0] for f in found[(kind, target.name)]) * 1000
                p99 = statistics.median(f[1] for f in found[(kind, target.name)]) * 1000
                p50s[target.name] = p50
                print(f"  {kind:22} {target.name:6}: p50 {p50:6.2f}  p99 {p99:6.2f}")
            for name, p50 in p50s.items():
                if name != "direct":
                    added = p50 - p50s["direct"]
                    times = ratio(p50, p50s["direct"], ".1f", "x")
                    print(f"  {kind:22} {name} adds {added:.2f} ms at p50 ({times})")
    finally:
        for transport in transports.values():
            transport.close()


# --- camera snapshots ---------------------------------------------------------------------------


def snapshot_part(args: argparse.Namespace, site: Site) -> None:
    from rerobots.api import APIClient

    from fleetport.agent import addons

    apic = APIClient(api_token=site.api_key, ignore_env=True, base_uri=site.server.base_url + "/rerobots")
    iid = site.instance_id
    apic.activate_addon_cam(iid)
    deadline = time.monotonic() + 30
    while apic.status_addon_cam(iid)["status"] != "active":
        if time.monotonic() > deadline:
            raise BenchFailure(f"the cam add-on did not become active:\n{site.agent.log_tail()}")
        time.sleep(0.1)

    def through_dialect() -> None:
        image = apic.get_snapshot_cam(iid)  # the JPEG, decoded from base64 by the client
        if not image["success"] or not bytes(image["data"]).startswith(b"\xff\xd8\xff"):
            raise BenchFailure(f"a snapshot that is not a JPEG: {str(image)[:200]}")

    def status_route() -> None:
        if apic.status_addon_cam(iid)["status"] != "active":
            raise BenchFailure("the cam add-on is no longer active")

    kinds = {
        "snapshot through the rerobots dialect (GET /addon/cam/<iid>/0/img)": through_dialect,
        "baseline: cam status, same client (GET /addon/cam/<iid>)": status_route,
        "baseline: the agent's snapshot made in this process": lambda: addons.snapshot(None),
    }
    found: dict[str, list[tuple[float, float]]] = {kind: [] for kind in kinds}
    for _ in range(args.runs):
        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        for call in kinds.values():
            call()  # warm
        for _ in range(args.snapshots):
            for kind, call in kinds.items():  # interleaved
                started = time.perf_counter()
                call()
                times[kind].append(time.perf_counter() - started)
        for kind in kinds:
            ordered = sorted(times[kind])
            found[kind].append((percentile(ordered, 0.5), percentile(ordered, 0.99)))
    apic.deactivate_addon_cam(iid)
    print(
        f"\ncamera snapshots, {args.snapshots} of each in turn (ms; median over {args.runs} runs of p50, p99)"
    )
    for kind in kinds:
        p50 = statistics.median(f[0] for f in found[kind]) * 1000
        p99 = statistics.median(f[1] for f in found[kind]) * 1000
        print(f"  {kind:66}: p50 {p50:6.2f}  p99 {p99:6.2f}")


# --- entry point --------------------------------------------------------------------------------


def run(args: argparse.Namespace, work_dir: Path, processes: list[Process]) -> int:
    parts = {part.strip() for part in args.only.split(",")}
    sites: list[Site] = []
    with bench_database(args.database_url) as database:
        try:
            site = start_site(work_dir / "site", database.url, processes, FORWARDING_PORTS[0])
            sites.append(site)
            targets = [Target("relay", site, site.relay_port), Target("direct", site, site.direct_port)]
            if args.compare_src is not None:  # its own SQLite database, whatever --database-url says
                other = start_site(work_dir / "other", None, processes, FORWARDING_PORTS[1], args.compare_src)
                sites.append(other)
                targets.append(Target("relay*", other, other.relay_port))
            print_machine(database)
            direct = f"workspace SSH server on 127.0.0.1:{site.direct_port}"
            print(f"instance:     forwarding port {site.relay_port}, {direct}")
            if args.compare_src is not None:
                print(f"relay*:       the relay of the server and agent of {args.compare_src}")
            try:
                if "sftp" in parts:
                    sftp_part(args, targets, work_dir)
                if "exec" in parts:
                    round_trip_part(args, targets)
                if "snapshot" in parts:
                    snapshot_part(args, site)
            except (BenchFailure, EOFError, OSError, paramiko.SSHException) as exc:
                logs = "".join(
                    f"\nthe {kind}'s log ({n}):\n{process.log_tail()}"
                    for n, s in enumerate(sites)
                    for kind, process in (("agent", s.agent), ("server", s.server))
                )
                raise BenchFailure(f"{type(exc).__name__}: {exc}{logs}") from exc
            for process in processes:
                process.ensure_running()
        finally:
            for process in processes:  # before the database goes
                process.stop()
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="measurements of each figure; medians are shown")
    parser.add_argument("--file-mb", type=int, default=100, help="size of the file put and got (10^6 bytes)")
    parser.add_argument("--sftp-clients", default="paramiko,openssh", help="paramiko, openssh or both")
    parser.add_argument("--execs", type=int, default=200, help="commands 'true' per run and path")
    parser.add_argument("--echoes", type=int, default=1000, help="64-byte echoes per run and path")
    parser.add_argument("--snapshots", type=int, default=100, help="snapshots (and baseline calls) per run")
    parser.add_argument("--only", default="sftp,exec,snapshot", help="parts to run: sftp, exec, snapshot")
    parser.add_argument("--compare-src", type=Path, help="a source tree whose relay is measured too (relay*)")
    add_database_option(parser)
    args = parser.parse_args(argv)
    if min(args.runs, args.file_mb, args.execs, args.echoes, args.snapshots) < 1:
        parser.error("--runs, --file-mb, --execs, --echoes and --snapshots must be at least 1")
    unknown = {c.strip() for c in args.sftp_clients.split(",")} - set(CLIENTS)
    if unknown:
        parser.error(f"unknown SFTP client(s): {', '.join(sorted(unknown))}")
    if args.compare_src is not None:
        args.compare_src = args.compare_src.resolve()
        if not (args.compare_src / "src" / "fleetport").is_dir():
            parser.error(f"--compare-src: no src/fleetport in {args.compare_src}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run_benchmark(
        "fleetport-bench-remote-", lambda work_dir, processes: run(args, work_dir, processes)
    )


if __name__ == "__main__":
    sys.exit(main())
