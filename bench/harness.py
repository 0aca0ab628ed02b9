"""What the benchmarks share: free ports, the Fleetport server's environment, subprocesses (start,
health check, CPU use, stop), the PostgreSQL bench database, the report's common lines, and the
entry point's clean-up on success, failure, Ctrl-C and SIGTERM.

Imported by ``api.py`` and ``viam.py`` as a top-level module (``import harness``): run as scripts,
their folder is first on ``sys.path``. This module must not import the viam SDK (``viam.py`` imports
it before it takes that folder off ``sys.path``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

BENCH_DATABASE = "fleetport_bench"  # the PostgreSQL database created (and dropped) for one run
STARTUP_TIMEOUT = 60.0  # seconds for a server to answer its health check (viam.py: and a first RPC)
PHASE_GRACE = 30.0  # seconds a load phase may overrun its duration before it is abandoned
STOP_TIMEOUT = 10.0  # seconds a process gets to exit after SIGTERM before SIGKILL
LOG_TAIL_LINES = 40
ERROR_SAMPLES = 5


class BenchFailure(Exception):
    """The benchmark cannot go on (a server did not start, died, or set-up was refused)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- processes ----------------------------------------------------------------------------------


@dataclass
class Process:
    name: str
    port: int  # the port the benchmark drives (0: none, as for viam.py's writer)
    log_path: Path
    out_path: Path
    process: subprocess.Popen[bytes]
    http_port: int = 0  # where /health and the native API answer, when it is not ``port``

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port or self.port}"

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"

    def ensure_running(self) -> None:
        if self.process.poll() is not None:
            raise BenchFailure(
                f"the {self.name} process exited with status {self.process.returncode}:\n{self.log_tail()}"
            )

    def cpu_seconds(self) -> float:
        """User plus system CPU time the process has used so far (Linux; NaN elsewhere)."""
        try:
            with open(f"/proc/{self.process.pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            return math.nan
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)


def start_process(
    name: str, argv: list[str], env: dict[str, str], port: int, work_dir: Path, *, http_port: int = 0
) -> Process:
    """Starts ``argv`` with stderr going to ``<work_dir>/<name>.log`` and stdout to ``<name>.out``, in
    its own session so that a Ctrl-C in the terminal reaches only this process, which then stops it."""
    log_path, out_path = work_dir / f"{name}.log", work_dir / f"{name}.out"
    with log_path.open("wb") as log, out_path.open("wb") as out:
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=work_dir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=log,
            start_new_session=True,
        )
    return Process(name, port, log_path, out_path, process, http_port)


def wait_healthy(server: Process, path: str = "/health", status: int = 200) -> None:
    """Polls ``path`` until the server answers ``status`` (or dies, or the start-up time is up)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx.Client(base_url=server.base_url, timeout=2.0) as client:
        while True:
            server.ensure_running()
            with contextlib.suppress(httpx.TransportError):
                if client.get(path).status_code == status:
                    return
            if time.monotonic() > deadline:
                raise BenchFailure(
                    f"the {server.name} server did not answer {path} with {status} within "
                    f"{STARTUP_TIMEOUT:.0f} s:\n{server.log_tail()}"
                )
            time.sleep(0.1)


def fleetport_env(
    data_dir: Path, api_key: str, database_url: str | None, *, http_port: int, grpc_port: int = 0
) -> dict[str, str]:
    """The environment of a Fleetport server: this one's without its ``FLEETPORT_*`` variables, then
    a data directory, the ports (HTTPS off; gRPC off unless given), the admin API key, log level
    warning and, when given, the database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPORT_")}
    env |= {
        "FLEETPORT_DATA_DIR": str(data_dir),
        "FLEETPORT_HTTP_PORT": str(http_port),
        "FLEETPORT_HTTPS_PORT": "0",
        "FLEETPORT_GRPC_PORT": str(grpc_port),
        "FLEETPORT_ADMIN_API_KEY": api_key,
        "FLEETPORT_LOG_LEVEL": "warning",
    }
    if database_url:
        env["FLEETPORT_DATABASE_URL"] = database_url
    return env


# --- the database -------------------------------------------------------------------------------


@dataclass
class Database:
    url: str | None  # None: Fleetport's default, a SQLite file in its data directory
    description: str


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=None,
        help="Fleetport's database; a PostgreSQL URL gets a fresh database "
        f"'{BENCH_DATABASE}' on that server, dropped afterwards (default: SQLite)",
    )


@contextlib.contextmanager
def bench_database(url: str | None, name: str = BENCH_DATABASE) -> Iterator[Database]:
    """For PostgreSQL, a fresh database ``name`` (``fleetport_bench``) on the given server, dropped
    afterwards; any other URL is used as it is."""
    if not url:
        yield Database(None, "SQLite (file in a temporary directory, WAL)")
        return
    from sqlalchemy.engine import make_url

    given = make_url(url)
    if given.get_backend_name() != "postgresql":
        yield Database(url, f"{given.get_backend_name()} {given.render_as_string(hide_password=True)}")
        return
    import psycopg

    admin_db = given.database if given.database and given.database != name else "postgres"
    admin_url = given.set(drivername="postgresql", database=admin_db)
    admin_conninfo = admin_url.render_as_string(hide_password=False)

    def admin(statement: str) -> str:
        try:
            with psycopg.connect(admin_conninfo, autocommit=True, connect_timeout=10) as conn:
                cursor = conn.execute(statement)
                row = cursor.fetchone() if cursor.description else None
        except psycopg.Error as exc:
            raise BenchFailure(
                f"PostgreSQL at {admin_url.render_as_string(hide_password=True)}: {statement}: {exc}"
            ) from exc
        return str(row[0]) if row else ""

    version = admin("SHOW server_version")
    admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{name}"')
    try:
        bench_url = given.set(database=name)
        yield Database(
            bench_url.render_as_string(hide_password=False),
            f"PostgreSQL {version} at {bench_url.render_as_string(hide_password=True)} (fresh)",
        )
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the client and the report ------------------------------------------------------------------


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when it is installed (it comes with uvicorn[standard]): the leanest client loop."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def ratio(a: float, b: float, spec: str, unit: str = "") -> str:
    return format(a / b, spec) + unit if b > 0 and math.isfinite(a) and math.isfinite(b) else "n/a"


def print_machine(database: Database) -> None:
    """The report's first lines: a blank line, the database, the machine and Python."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print()
    print(f"database:     {database.description}")
    print(
        f"machine:      {cores} cores usable ({os.cpu_count()} online), {platform.machine()}, "
        f"{platform.system()} {platform.release()}"
    )
    print(f"python:       {platform.python_implementation()} {platform.python_version()}")


# --- the entry point ----------------------------------------------------------------------------


def _interrupt(_signum: int, _frame: object) -> None:
    """SIGTERM stops the benchmark as Ctrl-C does (asyncio turns SIGINT into a clean cancellation)."""
    signal.raise_signal(signal.SIGINT)


def run_benchmark(work_dir_prefix: str, run: Callable[[Path, list[Process]], int]) -> int:
    """Calls ``run(work_dir, processes)`` in a fresh temporary directory, with SIGTERM handled as
    Ctrl-C, and returns its exit status: 2 when it raised ``BenchFailure``, 130 when interrupted.
    Afterwards, whatever happened, stops every process ``run`` added to ``processes`` and removes the
    directory."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
    signal.signal(signal.SIGTERM, _interrupt)
    work_dir = Path(tempfile.mkdtemp(prefix=work_dir_prefix))
    processes: list[Process] = []
    try:
        return run(work_dir, processes)
    except BenchFailure as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        for process in processes:
            process.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
