"""Viam dialect over gRPC: unary RPC rate and latency against a bare grpclib baseline, and log tail fan-out.

Starts a real Fleetport server (``python -m fleetport.cli serve``, in a subprocess, on free loopback
ports) and drives its gRPC port with the real viam-sdk client (``viam.app.app_client.AppClient`` on a
``grpclib`` channel):

1. **unary**: ``get_robot_part`` (or, with ``--rpc list_robots``, ``list_robots`` of a location of
   ``--machines`` machines) from N concurrent callers for a fixed duration, against a bare grpclib
   server (another subprocess, no database) that answers the same RPC with a fixed message of the same
   size class; requests per second and p50/p99 latency, the median over several runs, and the ratio
   Fleetport/grpclib;
2. **tail**: M concurrent ``tail_robot_part_logs`` streams while a writer (a third subprocess) appends
   log lines through the native HTTP API at a fixed rate, each line carrying its send time; lines
   delivered to each stream and the delivery latency (receive wall time minus send wall time).

Prints numbers; asserts nothing about timings. Exit status: 1 when a server answered an error, a tail
missed lines or a write failed (the figures are then invalid), 2 when the benchmark could not run (a
server did not start or died, set-up failed), 130 when interrupted.

    .venv/bin/python bench/viam.py [--duration 5] [--runs 3] [--rpc list_robots] [--subscribers 200]
                                   [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import statistics
import sys
import time
from array import array
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from grpclib.client import Channel

# The shared harness, a sibling file: found on sys.path through this file's folder, so it is imported
# here, before that folder is taken off sys.path below.
from harness import (
    ERROR_SAMPLES,
    LOG_TAIL_LINES,
    PHASE_GRACE,
    STARTUP_TIMEOUT,
    BenchFailure,
    Database,
    Process,
    add_database_option,
    bench_database,
    event_loop_factory,
    fleetport_env,
    free_port,
    percentile,
    print_machine,
    ratio,
    run_benchmark,
    start_process,
    wait_healthy,
)

if TYPE_CHECKING:
    from viam.app.app_client import AppClient

# This file shares its name with the SDK: run as a script, its folder comes first on sys.path and
# ``import viam`` would find this file. The folder goes before anything imports the SDK (which is
# therefore imported inside the functions that use it).
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

SETTLE = 1.0  # seconds between opening the tails and the first probe line
READY_TIMEOUT = 30.0  # seconds for every tail to receive a probe line
WRITER_GRACE = 30.0  # seconds the writer may overrun its duration before it is abandoned
CLOSE_TIMEOUT = 10.0  # seconds for the tails to close at the end
WRITER_SPEC = "FLEETPORT_BENCH_WRITER"  # environment variable: the writer's settings, as JSON
PART_NAME = "main"  # what the baseline calls its part


def viam_app(channel: Channel, api_key: str) -> AppClient:
    from viam.app.app_client import AppClient

    return AppClient(channel, {"authorization": f"Bearer {api_key}"})


# --- the baseline server ------------------------------------------------------------------------


def serve_baseline(port: int, machines: int) -> None:
    """A bare grpclib server with Viam's AppService, answering GetRobotPart with a fixed message of
    the same type (the part's id as asked, a name, an empty config) and ListRobots with ``machines``
    fixed robots; every other RPC unimplemented. Plain asyncio, as Fleetport's server runs: grpclib
    and loopback, no application."""
    from google.protobuf.timestamp_pb2 import Timestamp
    from grpclib.server import Server as GrpcServer
    from grpclib.server import Stream
    from viam.proto.app import (
        GetRobotPartResponse,
        ListRobotsResponse,
        Robot,
        RobotPart,
        UnimplementedAppServiceBase,
    )

    now = Timestamp(seconds=int(time.time()))

    class Baseline(UnimplementedAppServiceBase):
        async def GetRobotPart(self, stream: Stream[Any, Any]) -> None:
            request = await stream.recv_message()
            assert request is not None
            await stream.send_message(
                GetRobotPartResponse(part=RobotPart(id=request.id, name=PART_NAME), config_json="{}")
            )

        async def ListRobots(self, stream: Stream[Any, Any]) -> None:
            request = await stream.recv_message()
            assert request is not None
            robots = [
                Robot(
                    id=f"{n:08d}-0000-4000-8000-000000000000",
                    name=f"rover {n}",
                    location=request.location_id,
                    created_on=now,
                    last_access=now,
                )
                for n in range(machines)
            ]
            await stream.send_message(ListRobotsResponse(robots=robots))

    async def main() -> None:
        server = GrpcServer([Baseline()])
        await server.start("127.0.0.1", port)
        await server.wait_closed()

    asyncio.run(main())


# --- the log writer -----------------------------------------------------------------------------


def write_logs(spec: dict[str, Any]) -> None:
    """Appends ``batch`` lines every ``batch / rate`` seconds for ``duration`` seconds through the native
    API and prints a JSON summary. One request at a time, as one machine's log shipper sends them (so
    the lines arrive in order): a batch due while the previous request is still out goes as soon as
    it is answered, and none starts once ``duration`` is over, so a slow server gets fewer lines than
    planned. Each line's message is ``bench <seq> <send time>``: the wall clock (``time.time()``) just
    before its request went, which the tails in the other process compare with their own."""
    rate, batch, duration = float(spec["rate"]), int(spec["batch"]), float(spec["duration"])
    interval = batch / rate
    batches = max(1, round(duration / interval))
    path = f"/api/v1/parts/{spec['part_id']}/logs"
    headers = {"Authorization": f"Bearer {spec['api_key']}", "Content-Type": "application/json"}
    latencies: list[float] = []
    failures: Counter[str] = Counter()
    lines = sent_batches = seq = 0
    first_sent = last_sent = math.nan
    with httpx.Client(base_url=spec["base_url"], headers=headers, timeout=10.0) as client:
        client.get("/health")  # the connection is open before the first timed request
        started = time.perf_counter()
        for number in range(batches):
            delay = started + number * interval - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif number and time.perf_counter() - started >= duration:
                break  # the server answered too slowly for the planned rate: the time is up
            sent = time.time()
            stamp = datetime.fromtimestamp(sent, UTC).isoformat()
            entries = [
                {"time": stamp, "level": "info", "message": f"bench {n} {sent:.6f}"}
                for n in range(seq, seq + batch)
            ]
            seq += batch
            body = json.dumps({"entries": entries}).encode()
            before = time.perf_counter()
            try:
                response = client.post(path, content=body)
            except httpx.HTTPError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            else:
                outcome = "" if response.is_success else f"{response.status_code} {response.text[:300]}"
            latencies.append(time.perf_counter() - before)
            sent_batches += 1
            if outcome:
                if outcome in failures or len(failures) < ERROR_SAMPLES:
                    failures[outcome] += 1
                continue
            lines += batch
            first_sent = sent if math.isnan(first_sent) else first_sent
            last_sent = sent
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    summary = {
        "lines": lines,
        "batches": sent_batches,
        "planned_batches": batches,
        "errors": sent_batches - lines // batch,
        "failures": dict(failures),
        "elapsed": elapsed,
        "first_sent": first_sent,
        "last_sent": last_sent,
        "append_p50_ms": percentile(ordered, 0.50) * 1000,
        "append_p99_ms": percentile(ordered, 0.99) * 1000,
        "planned_lines": batches * batch,
    }
    print(json.dumps(summary), flush=True)


# --- processes ----------------------------------------------------------------------------------


async def first_rpc(server: Process, api_key: str, target: Target) -> int:
    """Waits for ``GetRobotPart`` to succeed on the server's gRPC port; returns the size in bytes of
    the measured RPC's answer (the protobuf message)."""
    from grpclib.exceptions import GRPCError
    from viam.proto.app import AppServiceStub, GetRobotPartRequest, ListRobotsRequest

    part_id = target.part_id

    deadline = time.monotonic() + STARTUP_TIMEOUT
    channel = Channel("127.0.0.1", server.port)
    try:
        stub = AppServiceStub(channel)
        metadata = {"authorization": f"Bearer {api_key}"}
        while True:
            server.ensure_running()
            try:
                response = await stub.GetRobotPart(
                    GetRobotPartRequest(id=part_id), metadata=metadata, timeout=5
                )
                if target.rpc == "list_robots":
                    listed = await stub.ListRobots(
                        ListRobotsRequest(location_id=target.location_id), metadata=metadata, timeout=5
                    )
                    return int(listed.ByteSize())
                return int(response.ByteSize())
            except GRPCError as exc:
                raise BenchFailure(
                    f"GetRobotPart on {server.name} answered {exc.status.name}: {exc.message}\n"
                    f"{server.log_tail()}"
                ) from None
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise BenchFailure(
                        f"the {server.name} server did not answer GetRobotPart on port {server.port} "
                        f"within {STARTUP_TIMEOUT:.0f} s:\n{server.log_tail()}"
                    ) from None
                await asyncio.sleep(0.1)
    finally:
        channel.close()


# --- set-up through the native SDK --------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What the unary phase asks for: ``get_robot_part`` of ``part_id`` or ``list_robots`` of
    ``location_id``."""

    rpc: str
    part_id: str
    location_id: str

    def call(self, app: AppClient) -> Awaitable[Any]:
        if self.rpc == "list_robots":
            return app.list_robots(self.location_id)
        return app.get_robot_part(self.part_id)


def create_part(server: Process, api_key: str, rpc: str, machines: int) -> Target:
    """An organization, a location and a machine (``machines`` of them for ``list_robots``); returns
    what the unary phase asks for."""
    from fleetport import Client
    from fleetport.client.errors import FleetportError

    try:
        with Client(server.base_url, api_key, timeout=10.0) as fp:
            org = fp.organizations.create("bench")
            location = fp.locations.create(org.id, "lab")
            machine = fp.machines.create(location.id, "rover")
            parts = list(fp.machines.parts(machine.id))
            for n in range(1, machines if rpc == "list_robots" else 1):
                fp.machines.create(location.id, f"rover {n}")
    except (FleetportError, httpx.HTTPError) as exc:
        raise BenchFailure(f"set-up through the native API failed: {exc}\n{server.log_tail()}") from exc
    if not parts:
        raise BenchFailure(f"machine {machine.id} was created without a part")
    return Target(rpc, str(parts[0].id), str(location.id))


# --- unary: get_robot_part ----------------------------------------------------------------------


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, of successful calls
    errors: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # outcome -> count, the first few kinds

    def fail(self, outcome: str) -> None:
        self.errors += 1
        if outcome in self.failures or len(self.failures) < ERROR_SAMPLES:
            self.failures[outcome] += 1


@dataclass(frozen=True)
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    calls: int
    errors: int
    client_cpu: float  # CPU seconds of this process per second of the run
    server_cpu: float  # CPU seconds of the server process per second of the run


async def call_loop(app: AppClient, target: Target, deadline: float, tally: Tally | None) -> None:
    """The target's RPC back to back until ``deadline``; recorded in ``tally`` unless it is None."""
    clock = time.perf_counter
    latencies = tally.latencies if tally is not None else None
    while clock() < deadline:
        started = clock()
        try:
            await target.call(app)
        except Exception as exc:  # every failure is counted, and the figures then declared invalid
            if tally is not None:
                tally.fail(f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(0.001)
            continue
        if latencies is not None:
            latencies.append(clock() - started)


async def unary_phase(
    apps: list[AppClient], target: Target, callers: int, length: float, tally: Tally | None
) -> float:
    """Runs ``callers`` call loops for ``length`` seconds, spread evenly over the clients; returns the
    time until the last answer."""
    started = time.perf_counter()
    deadline = started + length
    async with asyncio.timeout(length + PHASE_GRACE), asyncio.TaskGroup() as group:
        for n in range(callers):
            group.create_task(call_loop(apps[n % len(apps)], target, deadline, tally))
    return time.perf_counter() - started


async def measure_unary(
    server: Process, api_key: str, target: Target, args: argparse.Namespace
) -> tuple[Measurement, Counter[str]]:
    """Warms up, then measures, on the same channels, made here: a grpclib channel belongs to the
    event loop it is made on."""
    channels = [Channel("127.0.0.1", server.port) for _ in range(args.channels)]
    apps = [viam_app(channel, api_key) for channel in channels]
    try:
        await unary_phase(apps, target, args.concurrency, args.warmup, None)
        tally = Tally()
        cpu, server_cpu = time.process_time(), server.cpu_seconds()
        elapsed = await unary_phase(apps, target, args.concurrency, args.duration, tally)
        cpu, server_cpu = time.process_time() - cpu, server.cpu_seconds() - server_cpu
    finally:
        for channel in channels:
            channel.close()
    ordered = sorted(tally.latencies)
    result = Measurement(
        len(ordered) / elapsed,
        percentile(ordered, 0.50) * 1000,
        percentile(ordered, 0.99) * 1000,
        len(ordered) + tally.errors,
        tally.errors,
        cpu / elapsed,
        server_cpu / elapsed,
    )
    return result, tally.failures


Results = dict[str, list[Measurement]]  # by server name
Failures = dict[str, Counter[str]]


def measure_all_unary(
    runner: asyncio.Runner, args: argparse.Namespace, servers: list[Process], api_key: str, target: Target
) -> tuple[Results, Failures]:
    results: Results = {}
    failures: Failures = {}
    for number in range(1, args.runs + 1):
        for server in servers:  # interleaved, so that drift in the machine's load hits both alike
            server.ensure_running()
            try:
                result, failed = runner.run(measure_unary(server, api_key, target, args))
            except TimeoutError:
                raise BenchFailure(
                    f"{args.rpc} on {server.name}: calls still unanswered {PHASE_GRACE:.0f} s after "
                    f"the end of the run:\n{server.log_tail()}"
                ) from None
            server.ensure_running()  # a server that died during the run: say so, not just "errors"
            results.setdefault(server.name, []).append(result)
            failures.setdefault(server.name, Counter()).update(failed)
            print(
                f"  run {number}/{args.runs}  {args.rpc} {server.name:<10} {result.rps:7.0f} rps  "
                f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:7.2f} ms  errors {result.errors}  "
                f"client CPU {result.client_cpu:4.0%}  server CPU {result.server_cpu:4.0%}",
                file=sys.stderr,
                flush=True,
            )
    return results, failures


# --- tail fan-out -------------------------------------------------------------------------------


@dataclass
class Subscriber:
    received: int = 0  # "bench" lines
    probes: int = 0  # "probe" lines (before the measured writes)
    last_seq: int = -1
    disorder: int = 0  # lines whose sequence number was not above the previous one's
    error: str = ""  # how the stream failed, if it did
    ended: bool = False  # the server ended the stream (nobody asked it to)


async def subscribe(app: AppClient, part_id: str, sub: Subscriber, latencies: array[float]) -> None:
    """One tail, iterated until it is cancelled; each ``bench`` line's delivery latency goes to
    ``latencies``. The client opens the stream when iteration starts."""
    stream: Any = await app.tail_robot_part_logs(part_id, errors_only=False)
    try:
        async for batch in stream:
            now = time.time()
            for entry in batch:
                kind, _, rest = entry.message.partition(" ")
                if kind != "bench":
                    sub.probes += 1
                    continue
                seq_text, _, sent_text = rest.partition(" ")
                seq = int(seq_text)
                if seq <= sub.last_seq:
                    sub.disorder += 1
                sub.last_seq = seq
                sub.received += 1
                latencies.append(now - float(sent_text))
        sub.ended = True
    except Exception as exc:  # recorded; the report counts the streams that failed
        sub.error = f"{type(exc).__name__}: {exc}"
    finally:
        # The client's way to end a tail. After a cancellation the generator is already closed (its
        # ``async with`` reset the HTTP/2 stream on the way out) and this returns at once.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(stream._stream.aclose(), CLOSE_TIMEOUT)


@dataclass
class TailResult:
    subscribers: list[Subscriber]
    latencies: array[float]
    written: dict[str, Any]  # the writer's summary
    drained_after: float  # seconds from the last write to the last delivery seen (NaN: never)
    probe_lines: int
    ready_after: float  # seconds from opening the tails until every one had a probe line
    client_cpu: float  # over the writes and the drain, per second
    server_cpu: float
    measured: float  # seconds of that period


async def run_tail(
    args: argparse.Namespace,
    server: Process,
    api_key: str,
    part_id: str,
    work_dir: Path,
    processes: list[Process],
) -> TailResult:
    channels = [Channel("127.0.0.1", server.port) for _ in range(args.tail_channels)]
    apps = [viam_app(channel, api_key) for channel in channels]
    subs = [Subscriber() for _ in range(args.subscribers)]
    latencies: array[float] = array("d")
    opened = time.monotonic()
    tasks = [
        asyncio.create_task(subscribe(apps[n % len(apps)], part_id, sub, latencies))
        for n, sub in enumerate(subs)
    ]
    try:
        probe_lines = await wait_for_tails(server, api_key, part_id, subs)
        ready_after = time.monotonic() - opened
        failed = [sub for sub in subs if sub.error or sub.ended]
        if failed:
            raise BenchFailure(
                f"{len(failed)} of {len(subs)} tails failed before the writes: {failed[0].error or 'ended'}\n"
                f"{server.log_tail()}"
            )
        print(
            f"  {len(subs)} tails open and receiving ({ready_after:.1f} s); "
            f"writing for {args.tail_duration:g} s",
            file=sys.stderr,
            flush=True,
        )
        cpu, server_cpu, began = time.process_time(), server.cpu_seconds(), time.monotonic()
        written = await run_writer(args, server, api_key, part_id, work_dir, processes)
        drained_after = await drain(args, server, subs, written)
        measured = time.monotonic() - began
        cpu, server_cpu = time.process_time() - cpu, server.cpu_seconds() - server_cpu
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
        for channel in channels:
            channel.close()
    return TailResult(
        subs,
        latencies,
        written,
        drained_after,
        probe_lines,
        ready_after,
        cpu / measured,
        server_cpu / measured,
        measured,
    )


async def wait_for_tails(server: Process, api_key: str, part_id: str, subs: list[Subscriber]) -> int:
    """Writes one ``probe`` line every quarter second, after a first pause, until every tail has
    received one: they are then all subscribed. Returns how many probe lines it wrote."""
    await asyncio.sleep(SETTLE)
    deadline = time.monotonic() + READY_TIMEOUT
    headers = {"Authorization": f"Bearer {api_key}"}
    path = f"/api/v1/parts/{part_id}/logs"
    written = 0
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10.0) as http:
        while not all(sub.probes or sub.error or sub.ended for sub in subs):
            server.ensure_running()
            if time.monotonic() > deadline:
                waiting = sum(1 for sub in subs if not (sub.probes or sub.error or sub.ended))
                raise BenchFailure(
                    f"{waiting} of {len(subs)} tails received no line within {READY_TIMEOUT + SETTLE:.0f} s "
                    f"of opening\n{server.log_tail()}"
                )
            entry = {"time": datetime.now(UTC).isoformat(), "level": "info", "message": f"probe {written}"}
            response = await http.post(path, json={"entries": [entry]})
            if not response.is_success:
                raise BenchFailure(
                    f"a probe line was refused: {response.status_code} {response.text[:300]}\n"
                    f"{server.log_tail()}"
                )
            written += 1
            await asyncio.sleep(0.25)
    return written


async def run_writer(
    args: argparse.Namespace,
    server: Process,
    api_key: str,
    part_id: str,
    work_dir: Path,
    processes: list[Process],
) -> dict[str, Any]:
    """The writer runs in its own process, so that the tails' work here does not slow its pace."""
    spec = {
        "base_url": server.base_url,
        "api_key": api_key,
        "part_id": part_id,
        "rate": args.rate,
        "batch": args.batch,
        "duration": args.tail_duration,
    }
    writer = start_process(
        "writer",
        [sys.executable, os.path.abspath(__file__), "--write-logs"],
        dict(os.environ) | {WRITER_SPEC: json.dumps(spec)},  # not on the command line: it holds the key
        0,
        work_dir,
    )
    processes.append(writer)
    deadline = time.monotonic() + args.tail_duration + WRITER_GRACE
    while writer.process.poll() is None:
        server.ensure_running()
        if time.monotonic() > deadline:
            raise BenchFailure(
                f"the writer was still writing {WRITER_GRACE:.0f} s after its {args.tail_duration:g} s:\n"
                f"{writer.log_tail()}\nserver:\n{server.log_tail()}"
            )
        await asyncio.sleep(0.05)
    try:
        summary: dict[str, Any] = json.loads(writer.out_path.read_text())
    except (OSError, ValueError):
        raise BenchFailure(
            f"the writer exited with status {writer.process.returncode} and no summary:\n{writer.log_tail()}"
        ) from None
    return summary


async def drain(
    args: argparse.Namespace, server: Process, subs: list[Subscriber], written: dict[str, Any]
) -> float:
    """Waits (at most ``--drain-timeout`` seconds) until every live tail has every line written;
    returns the seconds from the last write until then (NaN when that did not happen)."""
    target = int(written["lines"])
    deadline = time.monotonic() + args.drain_timeout

    def behind() -> int:
        return sum(1 for sub in subs if sub.received < target and not (sub.error or sub.ended))

    while behind():
        if time.monotonic() > deadline or server.process.poll() is not None:
            return math.nan
        await asyncio.sleep(0.02)
    return time.time() - float(written["last_sent"]) if target else 0.0


# --- the run ------------------------------------------------------------------------------------


def run(args: argparse.Namespace, work_dir: Path, processes: list[Process]) -> int:
    api_key = secrets.token_urlsafe(30)  # 40 URL-safe characters
    status = 0
    with bench_database(args.database_url) as database:
        try:
            http_port, grpc_port = free_port(), free_port()
            fleetport = start_process(
                "fleetport",
                [sys.executable, "-m", "fleetport.cli", "serve"],
                fleetport_env(
                    work_dir / "data", api_key, database.url, http_port=http_port, grpc_port=grpc_port
                ),
                grpc_port,
                work_dir,
                http_port=http_port,
            )
            processes.append(fleetport)
            servers = [fleetport]
            if args.only != "tail":
                baseline_port = free_port()
                baseline = start_process(
                    "grpclib",
                    [
                        sys.executable,
                        os.path.abspath(__file__),
                        "--serve-baseline",
                        str(baseline_port),
                        "--machines",
                        str(args.machines),
                    ],
                    dict(os.environ),
                    baseline_port,
                    work_dir,
                )
                processes.append(baseline)
                servers.append(baseline)
            wait_healthy(fleetport)
            target = create_part(fleetport, api_key, args.rpc, args.machines)
            part_id = target.part_id
            with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
                sizes = {server.name: runner.run(first_rpc(server, api_key, target)) for server in servers}
                print_setting(args, database)
                if args.only != "tail":
                    results, failures = measure_all_unary(runner, args, servers, api_key, target)
                    report_unary(args, servers, results, sizes)
                    status |= report_unary_failures(failures, {s.name: s for s in servers})
                if args.only != "unary":
                    tail = runner.run(run_tail(args, fleetport, api_key, part_id, work_dir, processes))
                    status |= report_tail(args, tail, fleetport)
            report_server_log(fleetport)
        finally:
            for process in processes:  # before the database goes
                process.stop()
    return status


def report_server_log(server: Process) -> None:
    """The server logs at level warning: any line in its log is news."""
    try:
        lines = [line for line in server.log_path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        lines = []
    print(f"{server.name} server log: {len(lines)} lines at level warning or above")
    if lines:
        print("\n".join(lines[-LOG_TAIL_LINES:]))
    print(flush=True)


# --- reports ------------------------------------------------------------------------------------


def print_setting(args: argparse.Namespace, database: Database) -> None:
    loop = "uvloop" if event_loop_factory() else "asyncio"
    print_machine(database)
    print(
        f"client:       viam-sdk AppClient on grpclib channels (plaintext HTTP/2 over loopback), {loop}, "
        f"in this process; it shares the CPU with the servers (and the database)"
    )
    print("CPU:          share of one core used over the measured period (client: this process)")
    print(flush=True)


def report_unary(
    args: argparse.Namespace, servers: list[Process], results: Results, sizes: dict[str, int]
) -> None:
    per_channel = math.ceil(args.concurrency / args.channels)
    print(
        f"unary: {args.rpc}{f' of {args.machines} machines' if args.rpc == 'list_robots' else ''}, "
        f"{args.concurrency} concurrent callers on {args.channels} channel(s) "
        f"(up to {per_channel} HTTP/2 streams in flight on each), {args.warmup:g} s warm-up + "
        f"{args.duration:g} s, {args.runs} runs, medians shown"
    )
    print("       baseline 'grpclib': a bare grpclib server answering a fixed response, no database")
    print()
    print(
        f"{'server':<10} {'rps':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'client CPU':>10} "
        f"{'server CPU':>10} {'answer':>8}"
    )
    medians: dict[str, Measurement] = {}
    for server in servers:
        runs = results[server.name]
        m = Measurement(
            statistics.median(r.rps for r in runs),
            statistics.median(r.p50_ms for r in runs),
            statistics.median(r.p99_ms for r in runs),
            sum(r.calls for r in runs),
            sum(r.errors for r in runs),
            statistics.median(r.client_cpu for r in runs),
            statistics.median(r.server_cpu for r in runs),
        )
        medians[server.name] = m
        print(
            f"{server.name:<10} {m.rps:8.0f} {m.p50_ms:8.2f} {m.p99_ms:8.2f} {m.errors:7d} "
            f"{m.client_cpu:10.0%} {m.server_cpu:10.0%} {sizes[server.name]:6d} B"
        )
    a, b = (medians[server.name] for server in servers)
    print()
    print(
        f"ratio {servers[0].name}/{servers[1].name}: rps {ratio(a.rps, b.rps, '.2f')}, "
        f"p50 {ratio(a.p50_ms, b.p50_ms, '.1f', 'x')}, p99 {ratio(a.p99_ms, b.p99_ms, '.1f', 'x')}"
    )
    print(flush=True)


def report_unary_failures(failures: Failures, servers: dict[str, Process]) -> int:
    failing = {name: found for name, found in failures.items() if found}
    if not failing:
        return 0
    print("FAILED CALLS (the figures above are not valid); the first kinds seen, with counts:")
    for name, found in failing.items():
        print(f"  the measured RPC on {name}:")
        for failure, count in found.most_common(ERROR_SAMPLES):
            print(f"    {count:6d} x {failure[:300]}")
    for name in failing:
        print(f"\nlast lines of the {name} server's log:\n{servers[name].log_tail()}")
    print(flush=True)
    return 1


def report_tail(args: argparse.Namespace, tail: TailResult, server: Process) -> int:
    w = tail.written
    subs = tail.subscribers
    target = int(w["lines"])
    counts = sorted(sub.received for sub in subs)
    short = [sub for sub in subs if sub.received < target]
    failed = [sub for sub in subs if sub.error]
    ended = [sub for sub in subs if sub.ended]
    disorder = sum(sub.disorder for sub in subs)
    over = sum(max(0, sub.received - target) for sub in subs)
    ordered = array("d", sorted(tail.latencies))
    interval_ms = args.batch / args.rate * 1000
    per_channel = math.ceil(args.subscribers / args.tail_channels)
    print(
        f"tail: {args.subscribers} tail_robot_part_logs streams (errors_only=False) on {args.tail_channels} "
        f"channel(s), up to {per_channel} each; one writer process appending {args.rate:g} lines/s "
        f"({args.batch} every {interval_ms:g} ms) through POST /api/v1/parts/{{id}}/logs "
        f"for {args.tail_duration:g} s"
    )
    print(
        f"      all tails were receiving {tail.ready_after:.1f} s after opening "
        f"({tail.probe_lines} probe lines, not counted); "
        f"latency = receive wall time - send wall time (time.time(), same machine)"
    )
    print()
    rate = target / w["elapsed"] if w["elapsed"] > 0 else math.nan
    print(
        f"lines written        {target} of {w['planned_lines']} planned, in {w['batches']} appends over "
        f"{w['elapsed']:.2f} s ({rate:.0f} lines/s); append p50 {w['append_p50_ms']:.1f} ms, "
        f"p99 {w['append_p99_ms']:.1f} ms; failed appends {w['errors']}"
    )
    if w["batches"] < w["planned_batches"]:
        print(
            f"{'':21}NOTE: the planned {args.rate:g} lines/s were not reached: appends go one at a "
            f"time and the server answered them more slowly than one per {interval_ms:g} ms"
        )
    print(
        f"delivered per tail   min {counts[0]}, median {statistics.median(counts):.0f}, max {counts[-1]} "
        f"(of {target}); tails short: {len(short)}, lines missing: {sum(target - s.received for s in short)}"
        + (f", extra: {over}" if over else "")
    )
    print(f"order                {disorder} lines out of order or repeated")
    print(
        f"streams              {len(failed)} failed, {len(ended)} ended by the server"
        + (f" (first: {failed[0].error[:200]})" if failed else "")
    )
    print(
        f"delivery latency     p50 {percentile(ordered, 0.50) * 1000:.1f} ms, "
        f"p99 {percentile(ordered, 0.99) * 1000:.1f} ms, "
        f"max {percentile(ordered, 1.0) * 1000:.1f} ms over {len(ordered)} deliveries"
    )
    drained = (
        f"{tail.drained_after:.2f} s after the last append was sent"
        if math.isfinite(tail.drained_after)
        else f"NOT within {args.drain_timeout:g} s of the end of the writes"
    )
    print(f"all lines delivered  {drained}")
    print(
        f"CPU                  client {tail.client_cpu:.0%}, server {tail.server_cpu:.0%} over the "
        f"{tail.measured:.1f} s of writes and drain"
    )
    print(flush=True)
    if not (short or failed or ended or disorder or w["errors"]):
        return 0
    print("TAIL FAN-OUT INCOMPLETE (the figures above describe a failure):")
    for failure, count in w["failures"].items():
        print(f"  {count:6d} x failed append: {failure[:300]}")
    for error, count in Counter(sub.error for sub in failed).most_common(ERROR_SAMPLES):
        print(f"  {count:6d} x stream failed: {error[:300]}")
    print(f"\nlast lines of the {server.name} server's log:\n{server.log_tail()}")
    print(flush=True)
    return 1


# --- entry point --------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    unary = parser.add_argument_group("unary (get_robot_part or list_robots)")
    unary.add_argument(
        "--rpc", choices=["get_robot_part", "list_robots"], default="get_robot_part", help="the RPC measured"
    )
    unary.add_argument("--machines", type=int, default=50, help="machines in the location list_robots lists")
    unary.add_argument("--duration", type=float, default=5.0, help="seconds measured per server and run")
    unary.add_argument("--warmup", type=float, default=1.0, help="seconds of unmeasured calls before each")
    unary.add_argument("--runs", type=int, default=3, help="measurements per server; medians are shown")
    unary.add_argument("--concurrency", type=int, default=32, help="concurrent callers")
    unary.add_argument("--channels", type=int, default=1, help="grpclib channels the callers share")
    tail = parser.add_argument_group("tail fan-out (tail_robot_part_logs)")
    tail.add_argument("--subscribers", type=int, default=200, help="concurrent tails")
    tail.add_argument("--tail-channels", type=int, default=10, help="grpclib channels the tails share")
    tail.add_argument("--rate", type=float, default=2000.0, help="log lines written per second")
    tail.add_argument("--batch", type=int, default=100, help="log lines per append")
    tail.add_argument("--tail-duration", type=float, default=5.0, help="seconds of writing")
    tail.add_argument(
        "--drain-timeout", type=float, default=45.0, help="seconds to wait after the writes for every line"
    )
    parser.add_argument("--only", choices=["unary", "tail"], help="run one of the two parts")
    add_database_option(parser)
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--write-logs", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if (
        args.duration <= 0
        or args.warmup < 0
        or args.tail_duration <= 0
        or args.rate <= 0
        or args.drain_timeout < 0
    ):
        parser.error(
            "--duration, --tail-duration and --rate must be positive, "
            "--warmup and --drain-timeout not negative"
        )
    counts = (args.machines, args.runs, args.concurrency, args.channels, args.subscribers, args.tail_channels)
    if min(*counts, args.batch) < 1:
        parser.error(
            "--machines, --runs, --concurrency, --channels, --subscribers, --tail-channels and --batch"
            " must be at least 1"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.serve_baseline is not None:
        serve_baseline(args.serve_baseline, args.machines)
        return 0
    if args.write_logs:
        write_logs(json.loads(os.environ[WRITER_SPEC]))
        return 0
    return run_benchmark("fleetport-bench-viam-", lambda work_dir, processes: run(args, work_dir, processes))


if __name__ == "__main__":
    sys.exit(main())
