"""The migration that stores part log entries' folded message and logger name, on a database holding
entries from before it (more than one batch of them), on each database."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from fleetport.core.credentials import BearerToken
from fleetport.core.ids import new_id
from fleetport.core.pages import PageRequest
from fleetport.server import open_fleet
from fleetport.settings import Settings
from fleetport.store import tables as t
from tests.conftest import ADMIN_KEY

from .helpers import store_before

REVISION = "0009"
ENTRIES = 12_001  # more than two of the migration's batches
T0 = dt.datetime(2030, 5, 1, 12, 0, tzinfo=dt.UTC)


def _table(name: str, *columns: str, json: tuple[str, ...] = ()) -> sa.TableClause:
    return sa.table(name, *(sa.column(c) for c in columns), *(sa.column(c, sa.JSON()) for c in json))


def _message(i: int) -> tuple[str, str]:
    """The message and logger name of the i-th entry: a few stand out from the noise."""
    if i % 1000 == 7:
        return f"Straße {i} GESPERRT", "Verkehr"
    if i % 1000 == 500:
        return f"noise {i}", "ΣΟΦΙΑ"
    return f"noise {i} 100%", "rdk"


def test_entries_stored_before_it_get_their_folded_text_and_filters_find_them(settings: Settings) -> None:
    store = store_before(settings, REVISION)

    org, location, machine, part = new_id(), new_id(), new_id(), new_id()
    now = dt.datetime.now(dt.UTC)
    old_logs = _table(
        "part_logs", "part_id", "time", "level", "logger_name", "message", "host", "stack", "received_at"
    )
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(
                _table("organizations", "id", "name", "region", "cid", "created_at", json=("metadata",))
            ),
            {"id": org, "name": "Acme", "region": "", "cid": "", "metadata": {}, "created_at": now},
        )
        conn.execute(
            sa.insert(_table("locations", "id", "organization_id", "name", "created_at", json=("metadata",))),
            {"id": location, "organization_id": org, "name": "Lab", "metadata": {}, "created_at": now},
        )
        conn.execute(
            sa.insert(
                _table(
                    "machines",
                    "id",
                    "organization_id",
                    "location_id",
                    "name",
                    "rentable",
                    "created_at",
                    json=("metadata",),
                )
            ),
            {
                "id": machine,
                "organization_id": org,
                "location_id": location,
                "name": "rover",
                "rentable": False,
                "metadata": {},
                "created_at": now,
            },
        )
        conn.execute(
            sa.insert(
                _table(
                    "parts",
                    "id",
                    "machine_id",
                    "name",
                    "main_part",
                    "restart_required",
                    "fqdn",
                    "local_fqdn",
                    "dns_name",
                    "created_at",
                    json=("config", "metadata"),
                )
            ),
            {
                "id": part,
                "machine_id": machine,
                "name": "main",
                "main_part": True,
                "restart_required": False,
                "fqdn": "",
                "local_fqdn": "",
                "dns_name": "",
                "config": {},
                "metadata": {},
                "created_at": now,
            },
        )
        conn.execute(
            sa.insert(old_logs),
            [
                {
                    "part_id": part,
                    "time": T0 + dt.timedelta(seconds=i),
                    "level": "info",
                    "message": message,
                    "logger_name": logger_name,
                    "host": "",
                    "stack": "",
                    "received_at": now,
                }
                for i in range(ENTRIES)
                for message, logger_name in [_message(i)]
            ],
        )

    store.migrate()  # what the server does on start
    with store.engine.connect() as conn:
        pl = t.part_logs
        stored = conn.execute(
            sa.select(pl.c.message, pl.c.logger_name, pl.c.message_folded, pl.c.logger_name_folded)
        ).all()
    store.dispose()
    assert len(stored) == ENTRIES
    assert all(
        (message_folded, logger_name_folded) == (message.casefold(), logger_name.casefold())
        for message, logger_name, message_folded, logger_name_folded in stored
    )

    fleet = open_fleet(settings)
    try:
        fleet.identity.bootstrap("admin@example.com", "admin-password", ADMIN_KEY)
        admin = fleet.identity.authenticate(BearerToken(ADMIN_KEY))

        def found(text: str) -> list[str]:
            page = fleet.logs.query(admin, part, PageRequest(10_000), filter=text, order="asc")
            assert page.next_cursor is None
            return [e.message for e in page.items]

        assert found("STRASSE") == [f"Straße {i} GESPERRT" for i in range(7, ENTRIES, 1000)]
        assert found("σοφια") == [f"noise {i}" for i in range(500, ENTRIES, 1000)]  # in the logger name
        assert found("gesperrt 1") == []  # each field on its own
        assert found("NOISE 1200") == ["noise 1200 100%", "noise 12000 100%"]  # the first and last batch
    finally:
        fleet.store.dispose()
