"""Shared fixtures: a Fleet on SQLite or on PostgreSQL, the ASGI app in front of it, and a real
server process for end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fleetport.core.fleet import Fleet
from fleetport.core.permissions import SYSTEM, Principal
from fleetport.server import create_app, open_fleet
from fleetport.settings import Settings

ADMIN_KEY = "test-admin-key-" + "x" * 30
PG_URL = os.environ.get("FLEETPORT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# Redis for the bus between server processes; each test uses channels of its own prefix
REDIS_URL = os.environ.get("FLEETPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A database of its own on the PostgreSQL server, dropped afterwards. Set
    FLEETPORT_TEST_PG_URL to an empty string to leave PostgreSQL out."""
    if not PG_URL:
        pytest.skip("FLEETPORT_TEST_PG_URL is empty: PostgreSQL tests left out on purpose")
    name = f"fleetport_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """A PostgreSQL database for this test run's in-process tests."""
    with fresh_pg_database() as url:
        yield url


def _reset_postgres(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "postgres":
        url = request.getfixturevalue("pg_server_url")
        _reset_postgres(url)
        return Settings(data_dir=tmp_path, database_url=url)
    return Settings(data_dir=tmp_path)


@pytest.fixture
def fleet(settings: Settings) -> Iterator[Fleet]:
    f = open_fleet(settings)
    f.identity.bootstrap("admin@example.com", "admin-password", ADMIN_KEY)
    yield f
    f.store.dispose()


@pytest.fixture
def admin(fleet: Fleet) -> Principal:
    return fleet.identity.authenticate(ADMIN_KEY)


@pytest.fixture
def system() -> Principal:
    return SYSTEM


@pytest.fixture
def api(fleet: Fleet) -> Iterator[TestClient]:
    """The native API through the ASGI app, authenticated as the administrator."""
    with TestClient(create_app(fleet), headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        yield client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """Distinct free ports: the sockets stay bound until all are chosen, so none comes twice."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            s = stack.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
        return ports


@dataclass
class RunningServer:
    url: str
    https_url: str | None
    grpc_port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def start_server(
    data_dir: Path, *, https: bool = False, env: dict[str, str] | None = None, timeout: float = 30.0
) -> RunningServer:
    port, https_port, grpc_port = free_ports(3)
    https_port = https_port if https else 0
    environ = {
        **os.environ,
        "FLEETPORT_DATA_DIR": str(data_dir),
        "FLEETPORT_HTTP_PORT": str(port),
        "FLEETPORT_HTTPS_PORT": str(https_port),
        "FLEETPORT_GRPC_PORT": str(grpc_port),
        "FLEETPORT_ADMIN_API_KEY": ADMIN_KEY,
        "FLEETPORT_ADMIN_PASSWORD": "admin-password",
        "FLEETPORT_ADMIN_EMAIL": "admin@example.com",
        **(env or {}),
    }
    log = data_dir / "server.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "fleetport.cli", "serve"],
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError(f"server did not become healthy in {timeout}s:\n{log.read_text()}")
    https_url = f"https://127.0.0.1:{https_port}" if https else None
    return RunningServer(url, https_url, grpc_port, data_dir, process, log)


@contextmanager
def serving(database: str, data_dir: Path, env: dict[str, str] | None = None) -> Iterator[RunningServer]:
    """A real server on ``database`` ("sqlite", or "postgres" on a fresh database of its own),
    stopped afterwards."""
    with contextlib.ExitStack() as stack:
        environ = dict(env or {})
        if database != "sqlite":
            environ["FLEETPORT_DATABASE_URL"] = stack.enter_context(fresh_pg_database())
        server = start_server(data_dir, env=environ)
        stack.callback(stop_server, server)
        yield server


def stop_server(server: RunningServer) -> int:
    server.process.terminate()
    try:
        return server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        return server.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real `fleetport serve` process on SQLite, shared by a test module."""
    running = start_server(tmp_path_factory.mktemp("server"))
    yield running
    stop_server(running)
