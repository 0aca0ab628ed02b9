"""The pytest plugin of :mod:`fleetport.testing`, registered through the ``pytest11`` entry point
when fleetport is installed.

Fixture ``fleetport_server``: one real server for the test session (SQLite in a temporary
directory), a :class:`fleetport.testing.FleetportServer`. ``--fleetport-database-url`` (or the
``FLEETPORT_TESTING_DATABASE_URL`` variable) runs it on a database of your own, PostgreSQL say;
``--fleetport-in-process`` (or ``FLEETPORT_TESTING_IN_PROCESS=1``) runs it on a thread of the pytest
process instead of a subprocess.
Without the server extra installed, the fixture fails with how to install it; nothing else changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from fleetport.testing import FleetportServer, server

DATABASE_URL_VARIABLE = "FLEETPORT_TESTING_DATABASE_URL"
IN_PROCESS_VARIABLE = "FLEETPORT_TESTING_IN_PROCESS"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fleetport", "Fleetport test server")
    group.addoption(
        "--fleetport-database-url",
        default=os.environ.get(DATABASE_URL_VARIABLE) or None,
        help="SQLAlchemy URL of the database the fleetport_server fixture runs on "
        f"(env {DATABASE_URL_VARIABLE}; default: SQLite in a temporary directory)",
    )
    group.addoption(
        "--fleetport-in-process",
        action="store_true",
        default=os.environ.get(IN_PROCESS_VARIABLE, "").lower() in ("1", "true", "yes"),
        help=f"run the fleetport_server fixture's server on a thread of this process, not a subprocess "
        f"(env {IN_PROCESS_VARIABLE}=1)",
    )


@pytest.fixture(scope="session")
def fleetport_server(request: pytest.FixtureRequest) -> Iterator[FleetportServer]:
    """A real Fleetport server for this test session; ``fleetport_server.client`` is the native SDK
    as the administrator."""
    database_url = request.config.getoption("--fleetport-database-url")
    in_process = bool(request.config.getoption("--fleetport-in-process"))
    with server(database_url=database_url, in_process=in_process) as running:
        yield running
