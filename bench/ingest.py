"""Telemetry through the One Platform dialect: ingest rate, read latency and ``wait`` wake-up latency,
against InfluxDB 1.x and raw SQLite on the same machine.

Starts real Fleetport servers (``python -m fleetport.cli serve``, subprocesses, free loopback ports):
one on SQLite and, unless ``--skip-pg``, one on a fresh PostgreSQL database; and ``influxd`` (InfluxDB
1.x, a subprocess with a generated configuration in the temporary directory) when it is installed.

1. **ingest**: ``recordbatch`` calls of 10,000 float points each, POSTed to /onep:v1/rpc/process, and
   the same points as line protocol to InfluxDB's /write, by 1 and 4 concurrent writers; points per
   second, the median over several runs. Raw ``sqlite3`` ``executemany`` into a row-per-point table
   of the benchmark's own, one transaction per 10,000 points, is the ceiling of a store that keeps
   one row per point.
2. **read**: a dataport holding N points (10,000,000 by default, filled with recordbatch over HTTP),
   read with ``[{"alias": ...}, {"limit": 1000, "sort": "desc"}]`` over and over; p50/p99 latency,
   against the newest 1,000 rows of that row-per-point table holding N points (``sqlite3``) and
   ``SELECT ... ORDER BY time DESC LIMIT 1000`` on InfluxDB.
3. **wait**: many concurrent ``wait`` calls on one dataport, then one ``write``; the time from the
   write's send to each waiter's answer.

Prints numbers; asserts nothing about timings. Exit status: 2 when the benchmark could not run or a
server answered anything but success (a recordbatch status other than "ok", a failed read, a server
that died), 1 when waiters were left unanswered, 130 when interrupted.

    .venv/bin/python bench/ingest.py [--quick] [--skip-pg] [--runs 5] [--points-read N] [--waiters N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import resource
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from harness import (
    PHASE_GRACE,
    BenchFailure,
    Database,
    Process,
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

BATCH = 10_000  # points per recordbatch call, per line-protocol POST and per raw SQLite transaction
FIRST_TIMESTAMP = 1_600_000_000  # the ingest's points: one per second from here (September 2020)
READ_LIMIT = 1000
READ_BUDGET = 60.0  # seconds of measured reads per store at most (but 10 reads at least)
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
RPC_PATH = "/onep:v1/rpc/process"
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
INFLUX_DB = "bench"
RAW_SERIES = 1  # the one series of the raw SQLite baseline
SQLITE_PRAGMAS = (  # what fleetport.store.engine sets on every SQLite connection
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)
REQUEST_TIMEOUT = 120.0

Point = tuple[int, float]


def point_value(i: int) -> float:
    """The value of the i-th point: a float with a few decimals, the same for every store."""
    return round(20.0 + 15.0 * math.sin(i / 500.0) + (i % 7) * 0.01, 4)


def points(first: int, count: int, start_index: int = 0) -> list[Point]:
    return [(first + k, point_value(start_index + k)) for k in range(count)]


def batches(items: Sequence[Point], size: int = BATCH) -> list[Sequence[Point]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# --- Fleetport ----------------------------------------------------------------------------------


@dataclass
class Fleetport:
    """One Fleetport server under test and the One Platform client key the benchmark acts with."""

    name: str  # fleetport-sqlite, fleetport-pg
    server: Process
    database: Database
    cik: str = ""
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.server.base_url, timeout=REQUEST_TIMEOUT)

    def rpc(self, *calls: tuple[str, list[Any]]) -> list[dict[str, Any]]:
        envelope = {
            "auth": {"cik": self.cik},
            "calls": [{"id": i, "procedure": p, "arguments": a} for i, (p, a) in enumerate(calls)],
        }
        response = self.http.post(RPC_PATH, content=orjson.dumps(envelope), headers=JSON_HEADERS)
        answer = response.json() if response.status_code == 200 else None
        if not isinstance(answer, list):
            raise BenchFailure(
                f"{self.name}: {calls[0][0]} answered {response.status_code}: {response.text[:500]}\n"
                f"{self.server.log_tail()}"
            )
        return answer

    def ok(self, procedure: str, arguments: list[Any]) -> Any:
        (answer,) = self.rpc((procedure, arguments))
        if answer.get("status") != "ok":
            raise BenchFailure(f"{self.name}: {procedure} {str(arguments)[:200]} answered {answer}")
        return answer.get("result")

    def set_up(self, api_key: str) -> None:
        """The root client's CIK of a new organization, through the native API."""
        admin = {"Authorization": f"Bearer {api_key}"}
        org = self.http.post("/api/v1/organizations", json={"name": "bench org"}, headers=admin)
        if not org.is_success:
            raise BenchFailure(
                f"{self.name}: creating an organization answered {org.status_code}: {org.text}"
            )
        root = self.http.get(f"/api/v1/organizations/{org.json()['id']}/telemetry/root-client", headers=admin)
        if not root.is_success:
            raise BenchFailure(f"{self.name}: root-client answered {root.status_code}: {root.text}")
        self.cik = root.json()["cik"]

    def dataport(self, alias: str) -> str:
        desc = {"format": "float", "retention": {"count": "infinity", "duration": "infinity"}}
        rid = self.ok("create", ["dataport", desc])
        self.ok("map", ["alias", rid, alias])
        return str(rid)

    def recordbatch_body(self, alias: str, batch: Sequence[Point]) -> bytes:
        call = {"id": 0, "procedure": "recordbatch", "arguments": [{"alias": alias}, batch]}
        return orjson.dumps({"auth": {"cik": self.cik}, "calls": [call]})


OK_ANSWER = [{"id": 0, "status": "ok"}]


def check_recordbatch(target: Fleetport) -> Callable[[httpx.Response], None]:
    def check(response: httpx.Response) -> None:
        if response.status_code != 200 or orjson.loads(response.content) != OK_ANSWER:
            raise BenchFailure(
                f"{target.name}: recordbatch answered {response.status_code} {response.text[:500]} "
                f"(expected {OK_ANSWER}): the figures would be invalid\n{target.server.log_tail()}"
            )

    return check


def start_fleetport(
    name: str,
    work_dir: Path,
    api_key: str,
    database: Database,
    processes: list[Process],
    *,
    sqlite_synchronous: str = "NORMAL",
) -> Fleetport:
    port = free_port()
    data_dir = work_dir / name
    env = fleetport_env(data_dir, api_key, database.url, http_port=port)
    env["FLEETPORT_SQLITE_SYNCHRONOUS"] = sqlite_synchronous
    server = start_process(
        name,
        [sys.executable, "-m", "fleetport.cli", "serve"],
        env,
        port,
        work_dir,
    )
    processes.append(server)
    wait_healthy(server)
    target = Fleetport(name, server, database)
    target.set_up(api_key)
    return target


# --- InfluxDB -----------------------------------------------------------------------------------

INFLUX_MISSING = (
    "influxdb:     baseline missing: `influxd` (InfluxDB 1.x) is not on PATH; install it with "
    "`sudo apt-get install influxdb` (Debian/Ubuntu) and run again"
)


@dataclass
class Influx:
    server: Process
    version: str
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.server.base_url, timeout=REQUEST_TIMEOUT)

    def query(self, q: str, *, epoch: str = "s") -> Any:
        response = self.http.post("/query", params={"db": INFLUX_DB, "q": q, "epoch": epoch})
        if response.status_code != 200:
            raise BenchFailure(f"influxdb: {q} answered {response.status_code}: {response.text[:500]}")
        return orjson.loads(response.content)


def influx_config(work_dir: Path, http_port: int, rpc_port: int) -> Path:
    """Debian's defaults (``influxd config``) with the directories in ``work_dir``, loopback ports,
    no usage reporting, no internal monitoring database, no HTTP access log and no query log. The WAL's
    settings are the defaults: ``wal-fsync-delay = "0s"``, an fsync on every write."""
    home = work_dir / "influxdb"
    home.mkdir()
    path = home / "influxdb.conf"
    path.write_text(
        f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{home}/meta"

[data]
  dir = "{home}/data"
  wal-dir = "{home}/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
"""
    )
    return path


def start_influx(work_dir: Path, processes: list[Process]) -> Influx | None:
    influxd = shutil.which("influxd")
    if influxd is None:
        return None
    version = subprocess.run([influxd, "version"], capture_output=True, text=True, timeout=30).stdout.strip()
    http_port, rpc_port = free_port(), free_port()
    while rpc_port == http_port:  # two free ports, not the same one twice
        rpc_port = free_port()
    config = influx_config(work_dir, http_port, rpc_port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}
    server = start_process("influxd", [influxd, "run", "-config", str(config)], env, http_port, work_dir)
    processes.append(server)
    wait_healthy(server, "/ping", 204)
    influx = Influx(server, version)
    influx.query(f"CREATE DATABASE {INFLUX_DB}")
    return influx


def line_body(measurement: str, batch: Sequence[Point]) -> bytes:
    return "".join([f"{measurement} value={v!r} {ts}\n" for ts, v in batch]).encode()


def check_influx_write(response: httpx.Response) -> None:
    if response.status_code != 204:
        raise BenchFailure(f"influxdb: /write answered {response.status_code}: {response.text[:500]}")


# --- raw SQLite ---------------------------------------------------------------------------------


RAW_DDL = (
    "CREATE TABLE points (id INTEGER PRIMARY KEY, series INTEGER NOT NULL, timestamp INTEGER NOT NULL, "
    "value_float REAL, value_int INTEGER, value_text TEXT)",
    "CREATE INDEX ix_points_series_timestamp ON points (series, timestamp)",
)
RAW_INSERT = (
    "INSERT INTO points (series, timestamp, value_float, value_int, value_text) VALUES (?, ?, ?, ?, ?)"
)
RAW_NEWEST = (
    "SELECT timestamp, value_float FROM points WHERE series = ? ORDER BY timestamp DESC, id DESC LIMIT ?"
)

RawRow = tuple[int, int, float, None, None]


def sqlite_connect(path: Path) -> sqlite3.Connection:
    """A connection set up as Fleetport sets up its own: autocommit driver, WAL and the same pragmas."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    for pragma in SQLITE_PRAGMAS:
        conn.execute(pragma)
    return conn


class RawSqlite:
    """The ceiling of a row-per-point store: a table of the benchmark's own (one row per point: integer
    primary key, series, timestamp, a column per value type; an index on (series, timestamp)) in a
    file of its own, with Fleetport's pragmas; executemany, one transaction per batch. It does not
    depend on the server's schema (Fleetport stores blocks of points, one row per batch)."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite_connect(path)
        for statement in RAW_DDL:
            self.conn.execute(statement)

    @staticmethod
    def rows(batch: Sequence[Point]) -> list[RawRow]:
        return [(RAW_SERIES, ts, v, None, None) for ts, v in batch]

    def insert(self, rows: Iterable[RawRow]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany(RAW_INSERT, rows)
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


# --- ingest -------------------------------------------------------------------------------------


async def post_all(
    base_url: str,
    path: str,
    bodies: list[bytes],
    writers: int,
    check: Callable[[httpx.Response], None],
    *,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> float:
    """POSTs every body, ``writers`` at a time (each writer on its own keep-alive connection, taking
    the next body when its previous one is answered); returns the seconds until the last answer."""
    pending = iter(bodies)
    limits = httpx.Limits(max_connections=writers, max_keepalive_connections=writers)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=REQUEST_TIMEOUT) as client:
        await client.get("/ping" if path == "/write" else "/health")  # the connection, outside the timing

        async def writer() -> None:
            for body in pending:
                check(await client.post(path, content=body, headers=headers, params=params))

        started = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for _ in range(writers):
                group.create_task(writer())
        return time.perf_counter() - started


@dataclass(frozen=True)
class Measured:
    points_per_s: float
    server_cpu: float  # CPU seconds of the server process per second of the run (NaN: none)


def measure_post(
    runner: asyncio.Runner,
    server: Process,
    path: str,
    bodies: list[bytes],
    count: int,
    writers: int,
    check: Callable[[httpx.Response], None],
    **kwargs: Any,
) -> Measured:
    server.ensure_running()
    cpu = server.cpu_seconds()
    try:
        elapsed = runner.run(
            asyncio.wait_for(
                post_all(server.base_url, path, bodies, writers, check, **kwargs),
                len(bodies) * REQUEST_TIMEOUT + PHASE_GRACE,
            )
        )
    except httpx.TransportError as exc:
        server.ensure_running()
        raise BenchFailure(f"{server.name}: {type(exc).__name__}: {exc}\n{server.log_tail()}") from None
    return Measured(count / elapsed, (server.cpu_seconds() - cpu) / elapsed)


IngestResults = dict[tuple[int, str], list[Measured]]  # by (writers, target name)


def run_ingest(
    args: argparse.Namespace,
    runner: asyncio.Runner,
    fleetports: list[Fleetport],
    influx: Influx | None,
    raw: RawSqlite,
) -> IngestResults:
    for target in fleetports:
        target.dataport("x")
    results: IngestResults = {}
    next_ts = FIRST_TIMESTAMP
    total = args.runs * len(args.writers)
    number = 0
    for run in range(1, args.runs + 1):
        for writers in args.writers:
            number += 1
            data = points(next_ts, args.points, next_ts - FIRST_TIMESTAMP)
            next_ts += args.points
            chunks = batches(data, args.batch)
            measured: dict[str, Measured] = {}
            for target in fleetports:  # interleaved, so that drift in the machine's load hits all alike
                bodies = [target.recordbatch_body("x", chunk) for chunk in chunks]
                measured[target.name] = measure_post(
                    runner,
                    target.server,
                    RPC_PATH,
                    bodies,
                    len(data),
                    writers,
                    check_recordbatch(target),
                    headers=JSON_HEADERS,
                )
            if influx is not None:
                bodies = [line_body("m", chunk) for chunk in chunks]
                measured["influxdb"] = measure_post(
                    runner,
                    influx.server,
                    "/write",
                    bodies,
                    len(data),
                    writers,
                    check_influx_write,
                    params={"db": INFLUX_DB, "precision": "s"},
                )
            if writers == 1:  # one SQLite writer at a time anyway: the ceiling is one writer's
                rows = [raw.rows(chunk) for chunk in chunks]
                started = time.perf_counter()
                for chunk_rows in rows:
                    raw.insert(chunk_rows)
                measured["raw-sqlite"] = Measured(len(data) / (time.perf_counter() - started), math.nan)
            for name, m in measured.items():
                results.setdefault((writers, name), []).append(m)
            print(
                f"  ingest {number}/{total} (run {run}, {writers} writer{'s' if writers > 1 else ''}): "
                + ", ".join(f"{name} {m.points_per_s:,.0f} pts/s" for name, m in measured.items()),
                file=sys.stderr,
                flush=True,
            )
    return results


# --- read ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float
    requests: int  # measured
    fill: str  # how the data got there


def timed(requests: int, warmup: int, once: Callable[[], None]) -> tuple[float, float, int]:
    """p50 and p99 in ms of ``requests`` calls of ``once`` after ``warmup`` unmeasured ones, and how
    many were measured: a store that takes seconds a read gets READ_BUDGET seconds, at least 10 reads."""
    for _ in range(warmup):
        once()
    samples: list[float] = []
    deadline = time.perf_counter() + READ_BUDGET
    while len(samples) < requests and (len(samples) < 10 or time.perf_counter() < deadline):
        started = time.perf_counter()
        once()
        samples.append(time.perf_counter() - started)
    samples.sort()
    return percentile(samples, 0.50) * 1000, percentile(samples, 0.99) * 1000, len(samples)


def fill_fleetport(runner: asyncio.Runner, target: Fleetport, n: int) -> str:
    """Fills dataport ``r`` with ``n`` points over HTTP with recordbatch, 4 writers, in batches of
    BATCH (the bodies are made half a million points at a time: bounded memory)."""
    first = int(time.time()) - n - 60
    check = check_recordbatch(target)
    started = time.perf_counter()
    for chunk_start in range(0, n, 50 * BATCH):
        data = points(first + chunk_start, min(50 * BATCH, n - chunk_start), chunk_start)
        bodies = [target.recordbatch_body("r", chunk) for chunk in batches(data)]
        measure_post(runner, target.server, RPC_PATH, bodies, len(data), 4, check, headers=JSON_HEADERS)
    elapsed = time.perf_counter() - started
    return f"recordbatch over HTTP, 4 writers, {elapsed:.0f} s ({n / elapsed:,.0f} pts/s)"


def read_fleetport(args: argparse.Namespace, target: Fleetport) -> tuple[float, float]:
    body = orjson.dumps(
        {
            "auth": {"cik": target.cik},
            "calls": [
                {
                    "id": 0,
                    "procedure": "read",
                    "arguments": [{"alias": "r"}, {"limit": READ_LIMIT, "sort": "desc"}],
                }
            ],
        }
    )
    expected = min(READ_LIMIT, args.points_read)

    def once() -> None:
        response = target.http.post(RPC_PATH, content=body, headers=JSON_HEADERS)
        answer = orjson.loads(response.content) if response.status_code == 200 else None
        if not (
            isinstance(answer, list)
            and answer[0].get("status") == "ok"
            and len(answer[0]["result"]) == expected
        ):
            raise BenchFailure(f"{target.name}: read answered {response.status_code} {response.text[:500]}")

    return timed(args.reads, 3, once)


def fill_raw(raw: RawSqlite, n: int) -> str:
    """Fills the raw table with ``n`` points (executemany, 500,000 rows per transaction)."""
    first = int(time.time()) - n - 60
    started = time.perf_counter()
    for chunk_start in range(0, n, 50 * BATCH):
        stop = min(n, chunk_start + 50 * BATCH)
        raw.insert((RAW_SERIES, first + k, point_value(k), None, None) for k in range(chunk_start, stop))
    raw.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    elapsed = time.perf_counter() - started
    return f"its own row-per-point table, sqlite3 executemany in this process, {elapsed:.0f} s"


def read_raw(args: argparse.Namespace, raw: RawSqlite) -> tuple[float, float]:
    expected = min(READ_LIMIT, args.points_read)

    def once() -> None:
        rows = raw.conn.execute(RAW_NEWEST, (RAW_SERIES, READ_LIMIT)).fetchall()
        if len(rows) != expected:
            raise BenchFailure(f"raw sqlite3: the read found {len(rows)} points, not {expected}")

    return timed(args.reads, 3, once)


def fill_influx(runner: asyncio.Runner, influx: Influx, n: int) -> str:
    first = int(time.time()) - n - 60
    started = time.perf_counter()
    for chunk_start in range(0, n, 50 * BATCH):
        data = points(first + chunk_start, min(50 * BATCH, n - chunk_start), chunk_start)
        bodies = [line_body("r", chunk) for chunk in batches(data)]
        measure_post(
            runner,
            influx.server,
            "/write",
            bodies,
            len(data),
            4,
            check_influx_write,
            params={"db": INFLUX_DB, "precision": "s"},
        )
    return f"line protocol over HTTP, 4 writers, {time.perf_counter() - started:.0f} s"


def read_influx(args: argparse.Namespace, influx: Influx) -> tuple[float, float]:
    q = f"SELECT * FROM r ORDER BY time DESC LIMIT {READ_LIMIT}"
    expected = min(READ_LIMIT, args.points_read)

    def once() -> None:
        answer = influx.query(q)
        series = answer["results"][0].get("series") or [{"values": []}]
        if len(series[0]["values"]) != expected:
            raise BenchFailure(
                f"influxdb: the read found {len(series[0]['values'])} points: {str(answer)[:300]}"
            )

    return timed(args.reads, 3, once)


def run_read(
    args: argparse.Namespace,
    runner: asyncio.Runner,
    fleetports: list[Fleetport],
    influx: Influx | None,
    work_dir: Path,
) -> dict[str, Latency]:
    results: dict[str, Latency] = {}
    for target in fleetports:
        target.dataport("r")
        fill = fill_fleetport(runner, target, args.points_read)
        print(f"  read: {target.name} filled with {args.points_read:,} points: {fill}", file=sys.stderr)
        results[target.name] = Latency(*read_fleetport(args, target), fill)
    raw = RawSqlite(work_dir / "raw-read.db")
    try:
        fill = fill_raw(raw, args.points_read)
        print(f"  read: raw sqlite3 filled with {args.points_read:,} points: {fill}", file=sys.stderr)
        results["raw sqlite3"] = Latency(*read_raw(args, raw), fill)
    finally:
        raw.close()
    if influx is not None:
        fill = fill_influx(runner, influx, args.points_read)
        print(f"  read: influxdb filled with {args.points_read:,} points: {fill}", file=sys.stderr)
        results["influxdb"] = Latency(*read_influx(args, influx), fill)
    for name, latency in results.items():
        print(
            f"  read: {name} p50 {latency.p50_ms:.2f} ms p99 {latency.p99_ms:.2f} ms",
            file=sys.stderr,
            flush=True,
        )
    return results


# --- wait ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WaitResult:
    supported: bool
    waiters: int
    answered: int = 0  # status ok with the written point
    other: dict[str, int] = field(default_factory=dict)  # other answers, by status or error
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    min_ms: float = math.nan
    write_ms: float = math.nan  # the write's own answer, from its send
    settle_s: float = math.nan  # from the last wait sent until the server's CPU went quiet
    alive: bool = True  # the server answered /health afterwards


def raw_request(port: int, body: bytes) -> bytes:
    return (
        f"POST {RPC_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return status, await reader.readexactly(int(value))
    raise BenchFailure(f"an answer without Content-Length: {head[:300]!r}")


async def settle(server: Process, *, quiet: float = 0.10, longest: float = 60.0) -> float:
    """Waits until the server process has used less than ``quiet`` of a core over two half-second
    periods in a row (it has taken in every wait), at least one second, at most ``longest``; returns
    the seconds waited."""
    started = time.perf_counter()
    await asyncio.sleep(1.0)
    calm = 0
    while calm < 2 and time.perf_counter() - started < longest:
        cpu = server.cpu_seconds()
        await asyncio.sleep(0.5)
        calm = calm + 1 if server.cpu_seconds() - cpu < quiet * 0.5 else 0
    return time.perf_counter() - started


async def wait_all(target: Fleetport, count: int) -> WaitResult:
    port = target.server.port
    wait_body = orjson.dumps(
        {
            "auth": {"cik": target.cik},
            "calls": [{"id": 0, "procedure": "wait", "arguments": [{"alias": "w"}, {"timeout": 180000}]}],
        }
    )
    request = raw_request(port, wait_body)
    connect_gate = asyncio.Semaphore(64)

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with connect_gate:
            return await asyncio.open_connection("127.0.0.1", port)

    connections = await asyncio.gather(*(connect() for _ in range(count)))
    arrivals: list[float] = [math.nan] * count
    answers: list[Any] = [None] * count

    async def waiter(i: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(request)
        await writer.drain()
        status, body = await read_answer(reader)
        arrivals[i] = time.perf_counter()
        answers[i] = orjson.loads(body) if status == 200 else f"HTTP {status}"

    tasks = [asyncio.create_task(waiter(i, r, w)) for i, (r, w) in enumerate(connections)]
    try:
        settled = await settle(target.server)  # every request sent, parsed and subscribed
        early = sum(1 for a in answers if a is not None)
        if early:
            raise BenchFailure(
                f"{target.name}: {early} of {count} waits answered before the write: {answers}"
            )
        # a write in a later second than every wait's arrival, whichever of the two a server compares
        last_sent = time.time()
        await asyncio.sleep(max(0.0, math.floor(last_sent) + 1.05 - time.time()))
        value = 4242.5
        write_body = orjson.dumps(
            {
                "auth": {"cik": target.cik},
                "calls": [{"id": 0, "procedure": "write", "arguments": [{"alias": "w"}, value]}],
            }
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        sent = time.perf_counter()
        writer.write(raw_request(port, write_body))
        await writer.drain()
        status, body = await read_answer(reader)
        write_ms = (time.perf_counter() - sent) * 1000
        writer.close()
        if status != 200 or orjson.loads(body) != OK_ANSWER:
            raise BenchFailure(f"{target.name}: the write answered {status} {body[:300]!r}")
        await asyncio.wait(tasks, timeout=30.0)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, w in connections:
            w.close()
    delays: list[float] = []
    other: dict[str, int] = {}
    for arrival, answer in zip(arrivals, answers, strict=True):
        if isinstance(answer, list) and answer[0].get("status") == "ok":
            result = answer[0].get("result")
            if isinstance(result, list) and len(result) == 2 and result[1] == value:
                delays.append((arrival - sent) * 1000)
                continue
        key = "no answer in 30 s" if answer is None else str(answer)[:120]
        other[key] = other.get(key, 0) + 1
    delays.sort()
    return WaitResult(
        True,
        count,
        len(delays),
        other,
        percentile(delays, 0.50),
        percentile(delays, 0.99),
        delays[-1] if delays else math.nan,
        delays[0] if delays else math.nan,
        write_ms,
        settled,
    )


def run_wait(args: argparse.Namespace, runner: asyncio.Runner, target: Fleetport) -> WaitResult:
    target.dataport("w")
    (probe,) = target.rpc(("wait", [{"alias": "w"}, {"timeout": 200}]))
    if probe.get("status") != "expire":
        print(f"  wait: {target.name}: a 200 ms wait answered {probe}", file=sys.stderr)
        return WaitResult(False, args.waiters)
    try:
        result = runner.run(wait_all(target, args.waiters))
    except OSError as exc:
        target.server.ensure_running()
        raise BenchFailure(f"{target.name}: wait: {type(exc).__name__}: {exc}") from None
    alive = target.server.process.poll() is None
    if alive:
        try:
            alive = target.http.get("/health").status_code == 200
        except httpx.TransportError:
            alive = False
    result = WaitResult(**{**result.__dict__, "alive": alive})
    print(
        f"  wait: {target.name}: {result.answered}/{result.waiters} answered, p50 {result.p50_ms:.1f} ms "
        f"p99 {result.p99_ms:.1f} ms max {result.max_ms:.1f} ms, server alive: {alive}",
        file=sys.stderr,
        flush=True,
    )
    return result


def raise_open_files(needed: int) -> str:
    """Raises this process's soft limit on open files to at least ``needed`` when the hard limit
    allows; the servers, started afterwards, inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return f"{soft} open files (soft limit, inherited by the servers)"


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Report:
    ingest: IngestResults = field(default_factory=dict)
    read: dict[str, Latency] = field(default_factory=dict)
    wait: dict[str, WaitResult] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)  # the ingest columns, in order


def run(args: argparse.Namespace, work_dir: Path, processes: list[Process]) -> int:
    limit = raise_open_files(args.waiters + 256)
    api_key = secrets.token_urlsafe(30)
    report = Report()
    pg_url = None if args.skip_pg else args.database_url
    with (
        bench_database(None) as sqlite_db,
        bench_database(pg_url) if pg_url else contextlib.nullcontext() as pg_db,
        asyncio.Runner(loop_factory=event_loop_factory()) as runner,
    ):
        try:
            fleetports = [
                start_fleetport(
                    sqlite_target_name(synchronous),
                    work_dir,
                    api_key,
                    sqlite_db,
                    processes,
                    sqlite_synchronous=synchronous,
                )
                for synchronous in args.sqlite_synchronous
            ]
            if pg_db is not None:
                fleetports.append(start_fleetport("fleetport-pg", work_dir, api_key, pg_db, processes))
            influx = None if args.skip_influx else start_influx(work_dir, processes)
            report.names = [t.name for t in fleetports] + (["influxdb"] if influx else []) + ["raw-sqlite"]
            print_header(args, fleetports, influx, limit)
            if "ingest" in args.only:
                raw = RawSqlite(work_dir / "raw-ingest.db")
                try:
                    report.ingest = run_ingest(args, runner, fleetports, influx, raw)
                finally:
                    raw.close()
            if "read" in args.only:
                report.read = run_read(args, runner, fleetports, influx, work_dir)
            if "wait" in args.only:
                for target in fleetports:
                    report.wait[target.name] = run_wait(args, runner, target)
        finally:
            for process in processes:  # before the PostgreSQL database goes
                process.stop()
    print_report(args, report)
    waits = report.wait.values()
    return 1 if any(w.supported and (w.answered < w.waiters or not w.alive) for w in waits) else 0


def sqlite_target_name(synchronous: str) -> str:
    """fleetport-sqlite with the default synchronous=NORMAL; fleetport-sqlite-full with FULL."""
    return "fleetport-sqlite" if synchronous == "NORMAL" else f"fleetport-sqlite-{synchronous.lower()}"


def print_header(
    args: argparse.Namespace, fleetports: list[Fleetport], influx: Influx | None, limit: str
) -> None:
    print_machine(Database(None, "; ".join(f"{t.name}: {t.database.description}" for t in fleetports)))
    if influx is None:
        print(INFLUX_MISSING if not args.skip_influx else "influxdb:     skipped (--skip-influx)")
    else:
        print(f"influxdb:     {influx.version}, WAL fsync on every write (wal-fsync-delay 0s, the default)")
    print(f"limits:       {limit}")
    sys.stdout.flush()


def print_report(args: argparse.Namespace, report: Report) -> None:
    if report.ingest:
        names = [n for n in report.names if any(name == n for _, name in report.ingest)]
        print()
        print(
            f"ingest: {args.points:,} float points per run in POSTs of {args.batch:,} (recordbatch / line "
            f"protocol precision=s / one SQLite transaction), {args.runs} runs, median points/s "
            "(server process CPU in brackets)"
        )
        print(f"{'writers':<8}" + "".join(f"{n:>24}" for n in names))
        medians: dict[tuple[int, str], float] = {}
        for writers in args.writers:
            cells = []
            for name in names:
                measured = report.ingest.get((writers, name))
                if not measured:
                    cells.append(f"{'-':>24}")
                    continue
                rate = statistics.median(m.points_per_s for m in measured)
                cpu = statistics.median(m.server_cpu for m in measured)
                medians[(writers, name)] = rate
                cell = f"{rate:,.0f}" + (f" ({cpu:.0%})" if math.isfinite(cpu) else "")
                cells.append(f"{cell:>24}")
            print(f"{writers:<8}" + "".join(cells))
        for writers in args.writers:
            parts = []
            for name in names:
                if not name.startswith("fleetport"):
                    continue
                for base in ("influxdb", "raw-sqlite"):
                    if (writers, name) in medians and (writers, base) in medians:
                        value = ratio(medians[(writers, name)], medians[(writers, base)], ".3f")
                        parts.append(f"{name}/{base} {value}")
            if parts:
                print(f"ratio, {writers} writer{'s' if writers > 1 else ''}: " + ", ".join(parts))
    if report.read:
        print()
        print(
            f"read: [{{alias}}, {{limit: {READ_LIMIT}, sort: desc}}] on a dataport of "
            f"{args.points_read:,} points, up to {args.reads} requests one at a time (httpx, after 3 "
            f"unmeasured; at most {READ_BUDGET:.0f} s of them per store)"
        )
        print(f"{'store':<18} {'p50 ms':>8} {'p99 ms':>8} {'reads':>6}  filled by")
        for name, latency in report.read.items():
            figures = f"{latency.p50_ms:8.2f} {latency.p99_ms:8.2f} {latency.requests:6d}"
            print(f"{name:<18} {figures}  {latency.fill}")
    for name, w in report.wait.items():
        print()
        if not w.supported:
            print(f"wait ({name}): not supported by this server (a wait answers 'fail'; see stderr)")
            continue
        print(
            f"wait ({name}): {w.waiters} concurrent waits on one dataport, then one write: "
            f"{w.answered}/{w.waiters} answered with the point; from the write's send: "
            f"p50 {w.p50_ms:.1f} ms, p99 {w.p99_ms:.1f} ms, max {w.max_ms:.1f} ms (first {w.min_ms:.1f} ms; "
            f"the write's own answer {w.write_ms:.1f} ms); server alive afterwards: "
            f"{'yes' if w.alive else 'NO'}"
        )
        print(f"    the server took in the waits in {w.settle_s:.1f} s (until its CPU went quiet)")
        for key, count in w.other.items():
            print(f"    {count} x {key}")


# --- entry point --------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a smoke run: small figures everywhere")
    parser.add_argument("--points", type=int, help="points ingested per run and target (500,000)")
    parser.add_argument("--runs", type=int, help="ingest runs; medians are shown (5)")
    parser.add_argument(
        "--batch", type=int, default=BATCH, help="points per ingest POST and raw SQLite transaction (10,000)"
    )
    parser.add_argument("--writers", help="concurrent writers to try, comma-separated (1,4)")
    parser.add_argument("--points-read", type=int, help="points in the dataport that is read (10,000,000)")
    parser.add_argument("--reads", type=int, help="measured reads per store (200)")
    parser.add_argument("--waiters", type=int, help="concurrent waits (1000)")
    parser.add_argument("--skip-pg", action="store_true", help="no PostgreSQL server")
    parser.add_argument("--skip-influx", action="store_true", help="no InfluxDB baseline")
    parser.add_argument("--only", default="ingest,read,wait", help="parts to run, comma-separated")
    parser.add_argument(
        "--sqlite-synchronous",
        default="NORMAL",
        help="FLEETPORT_SQLITE_SYNCHRONOUS of the SQLite server; NORMAL,FULL: a server with each (NORMAL)",
    )
    parser.add_argument(
        "--database-url",
        default=DEFAULT_PG,
        help="the PostgreSQL server; a fresh database 'fleetport_bench' is made there and dropped afterwards",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    defaults = {
        "points": 50_000 if quick else 500_000,
        "runs": 2 if quick else 5,
        "writers": "1,4",
        "points_read": 100_000 if quick else 10_000_000,
        "reads": 50 if quick else 200,
        "waiters": 100 if quick else 1000,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    try:
        args.writers = sorted({int(w) for w in str(args.writers).split(",")})
    except ValueError:
        parser.error("--writers takes numbers separated by commas, e.g. 1,4")
    args.only = {part.strip() for part in args.only.split(",")}
    chosen = (value.strip().upper() for value in args.sqlite_synchronous.split(","))
    args.sqlite_synchronous = list(dict.fromkeys(chosen))
    if set(args.sqlite_synchronous) - {"NORMAL", "FULL"}:
        parser.error("--sqlite-synchronous takes NORMAL, FULL or NORMAL,FULL")
    if args.only - {"ingest", "read", "wait"}:
        parser.error("--only takes ingest, read and wait")
    if min(args.points, args.runs, args.batch, args.points_read, args.reads, args.waiters, *args.writers) < 1:
        parser.error(
            "--points, --runs, --batch, --writers, --points-read, --reads and --waiters must be at least 1"
        )
    if args.batch > BATCH:
        parser.error(f"--batch is at most {BATCH:,} (the most points one recordbatch takes)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run_benchmark(
        "fleetport-bench-ingest-", lambda work_dir, processes: run(args, work_dir, processes)
    )


if __name__ == "__main__":
    sys.exit(main())
