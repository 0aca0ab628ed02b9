"""Fixtures of the concurrency tests: real servers on SQLite, on PostgreSQL, and two server
processes sharing one PostgreSQL database; a fresh machine for each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.concurrency.helpers import Machine, Servers, new_machine, running_servers


@pytest.fixture(scope="package", params=["sqlite", "postgres", "postgres-two-servers"])
def servers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    database, _, two = str(request.param).partition("-")
    with running_servers(database, Path(tmp_path_factory.mktemp("concurrent")), 2 if two else 1) as found:
        yield found


@pytest.fixture(autouse=True)
def _log_mark(servers: Servers) -> None:
    """Each test checks only what the servers logged while it ran."""
    servers.mark()


@pytest.fixture
def machine(servers: Servers) -> Machine:
    return new_machine(servers)
