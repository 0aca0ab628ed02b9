"""The migration that keeps grant tokens as SHA-256 (with an id) and moves a serial number's
activation to its client's status, on a database holding data from before it, on each database."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import pytest
import sqlalchemy as sa

from fleetport.core.credentials import GrantToken, ProvisioningKey
from fleetport.core.fleet import Fleet
from fleetport.core.ids import new_id
from fleetport.core.pages import PageRequest
from fleetport.core.telemetry.model import Expired, client_row
from fleetport.settings import Settings
from fleetport.store import tables as t

from .helpers import store_before

REVISION = "0008"


def test_tokens_are_hashed_and_go_on_working_and_serials_keep_their_state(settings: Settings) -> None:
    store = store_before(settings, REVISION)

    org, root, activated, waiting = (
        new_id(),
        secrets.token_hex(20),
        secrets.token_hex(20),
        secrets.token_hex(20),
    )
    token, expired = secrets.token_hex(20), secrets.token_hex(20)
    old_tokens = sa.table(
        "telemetry_tokens",
        *(sa.column(n) for n in ("token", "client_rid", "expires_at", "created_at")),
        sa.column("permissions", sa.JSON()),
    )
    old_serials = sa.table(
        "provision_serials",
        *(
            sa.column(n)
            for n in ("id", "model_id", "sn", "extra", "rid", "owner_rid", "enabled", "activated_at")
        ),
        sa.column("created_at"),
    )
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(t.organizations).values(id=org, name="Acme", created_at=dt.datetime.now(dt.UTC))
        )
        conn.execute(sa.insert(t.telemetry_resources).values(**client_row(root, org, None, 1), root_of=org))
        for rid, status in ((activated, "activated"), (waiting, "notactivated")):
            row = {**client_row(rid, org, root, 1), "status": status, "modified_at": 1234}
            conn.execute(sa.insert(t.telemetry_resources).values(**row))
        vendor, model = new_id(), new_id()
        conn.execute(
            sa.insert(t.provision_vendors).values(
                id=vendor, name="acme", client_rid=root, token=secrets.token_hex(20), created_at=1
            )
        )
        conn.execute(
            sa.insert(t.provision_models).values(
                id=model, vendor_id=vendor, name="m", template_rid=root, options=[], created_at=1
            )
        )
        for sn, rid, at in (("1", activated, 1234), ("2", waiting, None)):
            conn.execute(
                sa.insert(old_serials).values(
                    id=new_id(),
                    model_id=model,
                    sn=sn,
                    extra="",
                    rid=rid,
                    owner_rid=root,
                    enabled=True,
                    activated_at=at,
                    created_at=1,
                )
            )
        conn.execute(
            sa.insert(old_tokens),
            [
                {
                    "token": token,
                    "client_rid": root,
                    "permissions": {root: ["read"]},
                    "expires_at": None,
                    "created_at": 1,
                },
                {
                    "token": expired,
                    "client_rid": root,
                    "permissions": {root: ["read"]},
                    "expires_at": 2,
                    "created_at": 1,
                },
            ],
        )

    store.migrate()  # what the server does on start
    with store.engine.connect() as conn:
        kept = (
            conn.execute(sa.select(t.telemetry_tokens).order_by(t.telemetry_tokens.c.expires_at))
            .mappings()
            .all()
        )
        columns = {c["name"] for c in sa.inspect(conn).get_columns("telemetry_tokens")}
        serial_columns = {c["name"] for c in sa.inspect(conn).get_columns("provision_serials")}
    assert "token" not in columns and "activated_at" not in serial_columns
    assert {row["token_hash"] for row in kept} == {
        hashlib.sha256(x.encode()).hexdigest() for x in (token, expired)
    }
    assert all(len(row["id"]) == 40 and row["id"] not in (token, expired) for row in kept)
    assert all(token not in repr(dict(row)) and expired not in repr(dict(row)) for row in kept)

    fleet = Fleet(store, settings)
    try:
        principal = fleet.identity.authenticate(GrantToken(token))  # the token goes on working
        assert principal.client_rid == root and principal.token_permissions == {root: frozenset({"read"})}
        with pytest.raises(Expired):
            fleet.identity.authenticate(GrantToken(expired))
        with store.read() as conn:
            key = conn.execute(
                sa.select(t.telemetry_resources.c.cik).where(t.telemetry_resources.c.rid == root)
            )
            root_key = str(key.scalar())
        serials = fleet.provision.serials(
            fleet.identity.authenticate(ProvisioningKey(root_key)), "m", PageRequest()
        ).items
        assert [(s.sn, s.status) for s in serials] == [("1", "activated"), ("2", "notactivated")]
    finally:
        store.dispose()
