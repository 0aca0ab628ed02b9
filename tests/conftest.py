"""Shared fixtures: a Fleet on SQLite or on PostgreSQL, the ASGI app in front of it, and a real
server process for end-to-end tests (started by :mod:`fleetport.testing`, whose names stay
importable from here)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from fleetport import testing
from fleetport.core.credentials import BearerToken
from fleetport.core.fleet import Fleet
from fleetport.core.permissions import SYSTEM, Principal
from fleetport.server import create_app, open_fleet
from fleetport.settings import Settings
from fleetport.testing import (
    ADMIN_KEY,
    RunningServer,
    free_port,
    free_ports,
    start_server,
    stop_server,
)

__all__ = ["ADMIN_KEY", "RunningServer", "free_port", "free_ports", "start_server", "stop_server"]

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
    return fleet.identity.authenticate(BearerToken(ADMIN_KEY))


@pytest.fixture
def system() -> Principal:
    return SYSTEM


@pytest.fixture
def api(fleet: Fleet) -> Iterator[TestClient]:
    """The native API through the ASGI app, authenticated as the administrator."""
    with TestClient(create_app(fleet), headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        yield client


@contextmanager
def serving(database: str, data_dir: Path, env: dict[str, str] | None = None) -> Iterator[RunningServer]:
    """A real server on ``database`` ("sqlite", or "postgres" on a fresh database of its own),
    stopped afterwards."""
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(fresh_pg_database()) if database != "sqlite" else None
        yield stack.enter_context(testing.server(database_url=database_url, data_dir=data_dir, env=env))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real `fleetport serve` process on SQLite, shared by a test module."""
    with testing.server(data_dir=tmp_path_factory.mktemp("server")) as running:
        yield running
