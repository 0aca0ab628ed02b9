"""The migration that makes rover rentals come from deployments, on a database holding machines
flagged rentable from before it (with and without a deployment), on each database; and back."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from fleetport.core.credentials import BearerToken
from fleetport.core.ids import new_id
from fleetport.server import open_fleet
from fleetport.settings import Settings
from fleetport.store import Store
from fleetport.store.engine import MIGRATIONS
from tests.conftest import ADMIN_KEY

from .helpers import store_before

REVISION = "0016"


def _table(name: str, *columns: str, json: tuple[str, ...] = ()) -> sa.TableClause:
    return sa.table(name, *(sa.column(c) for c in columns), *(sa.column(c, sa.JSON()) for c in json))


def test_machines_flagged_rentable_stay_rentals_as_deployments(settings: Settings) -> None:
    store = store_before(settings, REVISION)
    org, location = new_id(), new_id()
    flagged, offered, plain = new_id(), new_id(), new_id()
    kept_deployment, part = new_id(), new_id()
    now = dt.datetime.now(dt.UTC)
    machines = _table(
        "machines",
        "id",
        "organization_id",
        "location_id",
        "name",
        "rentable",
        "created_at",
        json=("metadata",),
    )
    deployments = _table(
        "deployments",
        "id",
        "machine_id",
        "organization_id",
        "type",
        "region",
        "locked_out",
        "instance_count",
        "created_at",
        json=("addons", "addons_config"),
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
            sa.insert(machines),
            [
                {"id": machine, "organization_id": org, "location_id": location, "name": name}
                | {"rentable": rentable, "metadata": {}, "created_at": now}
                for machine, name, rentable in (
                    (flagged, "flagged", True),
                    (offered, "offered", True),
                    (plain, "plain", False),
                )
            ],
        )
        parts = _table(
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
        conn.execute(
            sa.insert(parts),
            {"id": part, "machine_id": flagged, "name": "main", "main_part": True, "restart_required": False}
            | {"fqdn": "", "local_fqdn": "", "dns_name": "", "config": {}, "metadata": {}, "created_at": now},
        )
        conn.execute(
            sa.insert(deployments),
            {"id": kept_deployment, "machine_id": offered, "organization_id": org, "type": "fixed_misty2"}
            | {"region": "us:cali", "locked_out": True, "instance_count": 4, "created_at": now}
            | {"addons": ["cam"], "addons_config": {}},
        )

    store.migrate()  # what the server does on start
    store.dispose()
    fleet = open_fleet(settings)
    try:
        fleet.identity.bootstrap("admin@example.com", "admin-password", ADMIN_KEY)
        admin = fleet.identity.authenticate(BearerToken(ADMIN_KEY))
        assert sorted(s.machine.id for s in fleet.machines.rentals(admin, org)) == sorted([flagged, offered])
        (rental,) = [s for s in fleet.machines.rentals(admin, org) if s.machine.id == flagged]
        assert rental.main_part_id == part  # the machine's parts stayed (no table rebuild)
        made = fleet.remote.deployments.of_machine(admin, flagged)
        assert (made.type, made.region, made.addons, made.locked_out, made.instance_count) == (
            "generic",
            "",
            [],
            False,
            0,
        )
        kept = fleet.remote.deployments.of_machine(admin, offered)
        assert (kept.id, kept.type, kept.locked_out, kept.instance_count) == (
            kept_deployment,
            "fixed_misty2",
            True,
            4,
        )
        with fleet.store.engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("machines")}
        assert "rentable" not in columns
        fleet.remote.deployments.delete(admin, made.id)  # no longer offered: rentable no more
    finally:
        fleet.store.dispose()

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    back = Store(settings.resolved_database_url)
    config.attributes["connection_engine"] = back.engine
    command.downgrade(config, "0015")
    with back.engine.connect() as conn:
        flags = dict(conn.execute(sa.select(machines.c.id, machines.c.rentable)).all())
    back.dispose()
    assert flags == {flagged: False, offered: True, plain: False}
