"""Native API throughput and latency, against a bare Starlette baseline on the same machine.

Starts a real Fleetport server and a bare Starlette app (both on uvicorn, in subprocesses, on free
loopback ports), then drives each with N concurrent keep-alive HTTP/1.1 connections for a fixed
duration per operation and prints requests per second and p50/p99 latency, the median over several
runs. The ratio Fleetport/Starlette is the headline figure: what Fleetport costs on top of the
framework and loopback. Prints numbers; asserts nothing about timings. Exit status: 1 when a server
answered a non-2xx status or broke a connection (the figures are then invalid), 2 when the benchmark
could not run (a server did not start or died, set-up failed), 130 when interrupted.

    .venv/bin/python bench/api.py [--duration 5] [--runs 3] [--concurrency 32] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from harness import (
    ERROR_SAMPLES,
    PHASE_GRACE,
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

FLEETPORT_SERVE = (
    "from fleetport.server import serve; from fleetport.settings import Settings; serve(Settings.from_env())"
)

COMPONENTS = [
    {"name": "arm", "api": "rdk:component:arm", "model": "fake", "attributes": {"joints": 6}},
    {"name": "camera", "api": "rdk:component:camera", "model": "fake", "attributes": {"width": 640}},
]


# --- the baseline server ------------------------------------------------------------------------


def serve_baseline(port: int) -> None:
    """A bare Starlette app with the two measured routes, answering bodies shaped like Fleetport's,
    served with the same uvicorn settings: framework plus loopback, no application."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    created = "2025-01-01T00:00:00Z"
    org_id, location_id, machine_id = (f"00000000-0000-0000-0000-00000000000{n}" for n in (1, 2, 3))

    async def get_machine(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "id": request.path_params["machine_id"],
                "organization_id": org_id,
                "location_id": location_id,
                "name": "bench machine",
                "rentable": False,
                "metadata": {},
                "created_at": created,
            }
        )

    async def put_config(request: Request) -> JSONResponse:
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("config"), dict):
            return JSONResponse({"error": {"code": "invalid", "message": "config must be an object"}}, 422)
        return JSONResponse(
            {
                "id": request.path_params["part_id"],
                "machine_id": machine_id,
                "name": "main",
                "main_part": True,
                "config": body["config"],
                "config_updated_at": created,
                "created_at": created,
            }
        )

    app = Starlette(
        routes=[
            Route("/health", lambda _request: JSONResponse({"status": "ok"})),
            Route("/machines/{machine_id}", get_machine, methods=["GET"]),
            Route("/parts/{part_id}/config", put_config, methods=["PUT"]),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- set-up through the native API --------------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    machine_id: str
    part_id: str


def create_fixture(server: Process, api_key: str) -> Fixture:
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10.0) as client:

        def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
            response = client.request(method, path, json=body)
            if not response.is_success:
                raise BenchFailure(
                    f"set-up request {method} {path} answered {response.status_code}: "
                    f"{response.text[:500]}\n{server.log_tail()}"
                )
            return response.json()

        org = call("POST", "/api/v1/organizations", {"name": "bench org"})
        location = call("POST", "/api/v1/locations", {"organization_id": org["id"], "name": "bench location"})
        machine = call("POST", "/api/v1/machines", {"location_id": location["id"], "name": "bench machine"})
        parts: list[dict[str, Any]] = call("GET", f"/api/v1/machines/{machine['id']}/parts")["items"]
        if not parts:
            raise BenchFailure(f"machine {machine['id']} was created without a part")
        return Fixture(machine["id"], parts[0]["id"])


# --- the load generator -------------------------------------------------------------------------


class Operation:
    """One measured operation on one server: a factory for its raw HTTP/1.1 requests."""

    def __init__(
        self,
        port: int,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Callable[[int], bytes] | None = None,
    ) -> None:
        self.method = method
        self.path = path
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._head = "\r\n".join(lines).encode("latin-1") + b"\r\n"
        self._body = body
        self._count = 0

    def next_request(self) -> bytes:
        if self._body is None:
            return self._head + b"\r\n"
        self._count += 1
        body = self._body(self._count)
        return self._head + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body


def config_body() -> Callable[[int], bytes]:
    """``{"config": {"components": [...], "n": n}}``: a small config that differs on every request."""
    head = b'{"config": ' + json.dumps({"components": COMPONENTS}).encode()[:-1] + b', "n": '
    return lambda n: head + str(n).encode() + b"}}"


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; just enough protocol for uvicorn's answers, with none of a
    general client's cost (the load generator shares the CPU with the server under test)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> tuple[int, bytes, bool]:
        """Sends one request; returns the status, the body and whether the server keeps the connection."""
        self.writer.write(request)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = -1
        chunked = False
        keep_alive = True
        for line in head[:-4].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep_alive = b"close" not in value.lower()
        if chunked:
            body = await self._read_chunked()
        elif length >= 0:
            body = await self.reader.readexactly(length)
        else:
            body, keep_alive = await self.reader.read(), False
        return status, body, keep_alive

    async def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while await self.reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, of 2xx answers
    errors: int = 0
    failures: Counter[str] = field(default_factory=Counter)  # "request -> outcome", the first few kinds

    def fail(self, operation: Operation, outcome: str) -> None:
        self.errors += 1
        failure = f"{operation.method} {operation.path} -> {outcome}"
        if failure in self.failures or len(self.failures) < ERROR_SAMPLES:
            self.failures[failure] += 1


async def drive(
    connection: HttpConnection, port: int, operation: Operation, deadline: float, tally: Tally | None
) -> HttpConnection:
    """Sends requests back to back on one connection until ``deadline``; records them in ``tally``
    unless it is None (warm-up). Returns the connection, reopened if the server closed it."""
    clock = time.perf_counter
    latencies = tally.latencies if tally is not None else None
    while clock() < deadline:
        request = operation.next_request()
        started = clock()
        try:
            status, body, keep_alive = await connection.exchange(request)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            if tally is not None:
                tally.fail(operation, f"connection error: {type(exc).__name__}: {exc}")
            await connection.close()
            connection = await HttpConnection.open(port)
            continue
        elapsed = clock() - started
        if 200 <= status < 300:
            if latencies is not None:
                latencies.append(elapsed)
        elif tally is not None:
            tally.fail(operation, f"{status} {body[:300].decode(errors='replace')}")
        if not keep_alive:
            await connection.close()
            connection = await HttpConnection.open(port)
    return connection


@dataclass(frozen=True)
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    client_cpu: float  # CPU seconds of this process (the load generator) per second of the run


async def measure(
    port: int, operation: Operation, concurrency: int, warmup: float, duration: float
) -> tuple[Measurement, Counter[str]]:
    """Warms up, then measures, on the same ``concurrency`` connections."""
    connections = list(await asyncio.gather(*(HttpConnection.open(port) for _ in range(concurrency))))
    try:
        connections, _ = await phase(connections, port, operation, warmup, None)
        tally = Tally()
        cpu = time.process_time()
        connections, elapsed = await phase(connections, port, operation, duration, tally)
        cpu = time.process_time() - cpu
    finally:
        await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)
    ordered = sorted(tally.latencies)
    result = Measurement(
        len(ordered) / elapsed,
        percentile(ordered, 0.50) * 1000,
        percentile(ordered, 0.99) * 1000,
        len(ordered) + tally.errors,
        tally.errors,
        cpu / elapsed,
    )
    return result, tally.failures


async def phase(
    connections: list[HttpConnection], port: int, operation: Operation, length: float, tally: Tally | None
) -> tuple[list[HttpConnection], float]:
    """Drives every connection for ``length`` seconds; returns them and the time until the last answer."""
    started = time.perf_counter()
    deadline = started + length
    async with asyncio.timeout(length + PHASE_GRACE), asyncio.TaskGroup() as group:
        drivers = [group.create_task(drive(c, port, operation, deadline, tally)) for c in connections]
    return [d.result() for d in drivers], time.perf_counter() - started


# --- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    server: Process
    operations: dict[str, Operation]  # by operation name


def targets(fleetport: Process, baseline: Process, fixture: Fixture, api_key: str) -> list[Target]:
    auth = {"Authorization": f"Bearer {api_key}"}
    config = config_body()
    return [
        Target(
            fleetport,
            {
                "get machine": Operation(
                    fleetport.port, "GET", f"/api/v1/machines/{fixture.machine_id}", auth
                ),
                "update part config": Operation(
                    fleetport.port, "PUT", f"/api/v1/parts/{fixture.part_id}/config", auth, config
                ),
            },
        ),
        Target(
            baseline,
            {
                "get machine": Operation(baseline.port, "GET", f"/machines/{fixture.machine_id}", {}),
                "update part config": Operation(
                    baseline.port, "PUT", f"/parts/{fixture.part_id}/config", {}, config
                ),
            },
        ),
    ]


def run(args: argparse.Namespace, work_dir: Path, servers: list[Process]) -> int:
    api_key = secrets.token_urlsafe(30)  # 40 URL-safe characters
    with bench_database(args.database_url) as database:
        try:
            fleetport_port, baseline_port = free_port(), free_port()
            fleetport = start_process(
                "fleetport",
                [sys.executable, "-c", FLEETPORT_SERVE],
                fleetport_env(work_dir / "data", api_key, database.url, http_port=fleetport_port),
                fleetport_port,
                work_dir,
            )
            servers.append(fleetport)
            baseline = start_process(
                "starlette",
                [sys.executable, os.path.abspath(__file__), "--serve-baseline", str(baseline_port)],
                dict(os.environ),
                baseline_port,
                work_dir,
            )
            servers.append(baseline)
            wait_healthy(fleetport)
            wait_healthy(baseline)
            fixture = create_fixture(fleetport, api_key)
            plan = targets(fleetport, baseline, fixture, api_key)
            results, failures = measure_all(args, plan)
        finally:
            for server in servers:  # before the database goes
                server.stop()
    report(args, database, list(plan[0].operations), [t.server.name for t in plan], results)
    return report_failures(failures, {t.server.name: t.server for t in plan})


Results = dict[tuple[str, str], list[Measurement]]  # by (operation, server)
Failures = dict[tuple[str, str], Counter[str]]


def measure_all(args: argparse.Namespace, plan: list[Target]) -> tuple[Results, Failures]:
    results: Results = {}
    failures: Failures = {}
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        for number in range(1, args.runs + 1):
            for name in plan[0].operations:
                for target in plan:  # interleaved, so that drift in the machine's load hits both alike
                    target.server.ensure_running()
                    try:
                        result, failed = runner.run(
                            measure(
                                target.server.port,
                                target.operations[name],
                                args.concurrency,
                                args.warmup,
                                args.duration,
                            )
                        )
                    except TimeoutError:
                        raise BenchFailure(
                            f"{name} on {target.server.name}: requests still unanswered "
                            f"{PHASE_GRACE:.0f} s after the end of the run:\n"
                            f"{target.server.log_tail()}"
                        ) from None
                    except OSError as exc:
                        target.server.ensure_running()
                        raise BenchFailure(f"{name} on {target.server.name}: cannot connect: {exc}") from None
                    key = (name, target.server.name)
                    results.setdefault(key, []).append(result)
                    failures.setdefault(key, Counter()).update(failed)
                    print(
                        f"  run {number}/{args.runs}  {name:<20} {target.server.name:<10} "
                        f"{result.rps:8.0f} rps  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:7.2f} ms"
                        f"  errors {result.errors}  client CPU {result.client_cpu:4.0%}",
                        file=sys.stderr,
                        flush=True,
                    )
    return results, failures


def report(
    args: argparse.Namespace,
    database: Database,
    operations: list[str],
    server_names: list[str],
    results: Results,
) -> None:
    loop = "uvloop" if event_loop_factory() else "asyncio"
    print_machine(database)
    print(
        f"load:         {args.concurrency} concurrent keep-alive HTTP/1.1 connections over loopback, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s per operation, {args.runs} runs, medians shown"
    )
    print(
        f"client:       raw asyncio HTTP/1.1 ({loop}) in this process; it shares the CPU with the servers "
        f"(and the database), so these figures are lower than on dedicated cores"
    )
    print("errors:       non-2xx answers and broken connections, total over all runs (must be 0)")
    print("client CPU:   the load generator's use of one core; near 100%: the client limits, not the server")
    print()
    print(
        f"{'operation':<20} {'server':<10} {'rps':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'client CPU':>10}"
    )
    medians: dict[tuple[str, str], Measurement] = {}
    for name in operations:
        for server in server_names:
            runs = results[(name, server)]
            m = Measurement(
                statistics.median(r.rps for r in runs),
                statistics.median(r.p50_ms for r in runs),
                statistics.median(r.p99_ms for r in runs),
                sum(r.requests for r in runs),
                sum(r.errors for r in runs),
                statistics.median(r.client_cpu for r in runs),
            )
            medians[(name, server)] = m
            print(
                f"{name:<20} {server:<10} {m.rps:9.0f} {m.p50_ms:8.2f} {m.p99_ms:8.2f} {m.errors:7d} "
                f"{m.client_cpu:10.0%}"
            )
    print()
    fleetport, baseline = server_names
    for name in operations:
        a, b = medians[(name, fleetport)], medians[(name, baseline)]
        print(
            f"ratio {fleetport}/{baseline}, {name}: rps {ratio(a.rps, b.rps, '.2f')}, "
            f"p50 {ratio(a.p50_ms, b.p50_ms, '.1f', 'x')}, p99 {ratio(a.p99_ms, b.p99_ms, '.1f', 'x')}"
        )


def report_failures(failures: Failures, servers: dict[str, Process]) -> int:
    failing = {key: found for key, found in failures.items() if found}
    if not failing:
        return 0
    print("\nFAILED REQUESTS (the figures above are not valid); the first kinds seen, with counts:")
    for (name, server), found in failing.items():
        print(f"  {name} on {server}:")
        for failure, count in found.most_common(ERROR_SAMPLES):
            print(f"    {count:6d} x {failure}")
    for server in sorted({server for _, server in failing}):
        print(f"\nlast lines of the {server} server's log:\n{servers[server].log_tail()}")
    return 1


# --- entry point --------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per operation and run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of unmeasured load before each")
    parser.add_argument("--runs", type=int, default=3, help="measurements per operation; medians are shown")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients, one connection each")
    add_database_option(parser)
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.warmup < 0 or args.runs < 1 or args.concurrency < 1:
        parser.error(
            "--duration must be positive, --warmup not negative, --runs and --concurrency at least 1"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.serve_baseline is not None:
        serve_baseline(args.serve_baseline)
        return 0
    return run_benchmark("fleetport-bench-", lambda work_dir, servers: run(args, work_dir, servers))


if __name__ == "__main__":
    sys.exit(main())
