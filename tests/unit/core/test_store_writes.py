"""The store's side of every write: credential changes are noticed whoever writes them, and a unique
value taken by another write comes back as the core's Conflict."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import pytest
from sqlalchemy import ColumnElement, Table, delete, insert, update

from fleetport.core.credentials import BearerToken
from fleetport.core.errors import Conflict, Taken, Unauthenticated
from fleetport.core.fleet import Fleet
from fleetport.core.ids import new_id
from fleetport.core.permissions import Principal
from fleetport.store import queries as q
from fleetport.store import tables as t
from fleetport.store.credentials import CASCADING_TABLES, CREDENTIAL_COLUMNS, CREDENTIAL_TABLES


def _user(email: str) -> dict[str, object]:
    return {
        "id": new_id(),
        "email": email,
        "name": "",
        "password_hash": None,
        "is_admin": False,
        "created_at": datetime.now(UTC),
    }


def test_every_write_to_a_credential_table_drops_cached_credentials(fleet: Fleet) -> None:
    """Statements written straight against the tables, as a new named query would: no helper in
    between, and still each committed one is noticed."""
    store = fleet.store
    for name in sorted(CREDENTIAL_TABLES):
        table = t.metadata.tables[name]
        key = _key(table)
        for statement in (
            update(table).where(key == "nothing").values(created_at=table.c.created_at),
            delete(table).where(key == "nothing"),
        ):
            before = store.credentials_generation
            with store.write() as tx:
                tx.execute(statement)
            assert store.credentials_generation == before + 1, (name, str(statement))
    before = store.credentials_generation
    with store.write() as tx:
        tx.execute(insert(t.users).values(**_user("new@example.com")))
    assert store.credentials_generation == before + 1


def test_deleting_what_credentials_hang_off_drops_cached_credentials(fleet: Fleet) -> None:
    store = fleet.store
    for name in sorted(CASCADING_TABLES):
        table = t.metadata.tables[name]
        key = _key(table)
        before = store.credentials_generation
        with store.write() as tx:
            tx.execute(delete(table).where(key == "nothing"))
        assert store.credentials_generation == before + 1, name
        with store.write() as tx:  # changing them otherwise leaves credentials as they are
            tx.execute(update(table).where(key == "nothing").values(created_at=table.c.created_at))
        assert store.credentials_generation == before + 1, name


def test_updating_a_clients_key_status_or_place_drops_cached_credentials(fleet: Fleet) -> None:
    """A One Platform client's key, its status and its parent say who the key is; its name or a
    datarule's state do not. Values given in ``values`` and at execution both count."""
    store = fleet.store
    for name, columns in CREDENTIAL_COLUMNS.items():
        table = t.metadata.tables[name]
        key = _key(table)
        for column in sorted(columns):
            for statement, params in (
                (update(table).where(key == "nothing").values({column: table.c[column]}), None),
                (update(table).where(key == "nothing"), [{column: "x"}]),
            ):
                before = store.credentials_generation
                with store.write() as tx:
                    tx.execute(statement, params)
                assert store.credentials_generation == before + 1, (name, column)
    resources = t.telemetry_resources
    before = store.credentials_generation
    with store.write() as tx:
        tx.execute(update(resources).where(resources.c.rid == "nothing").values(name="n", state={}))
    assert store.credentials_generation == before


def _key(table: Table) -> ColumnElement[Any]:
    return next(iter(table.primary_key.columns))


def test_other_writes_and_rolled_back_ones_keep_cached_credentials(fleet: Fleet) -> None:
    store = fleet.store
    before = store.credentials_generation
    with store.write() as tx:
        q.update_where(tx, "registry_items", {"id": "nothing"}, description="")
        tx.execute(delete(t.part_logs).where(t.part_logs.c.part_id == "nothing"))
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.execute(delete(t.api_keys).where(t.api_keys.c.id == "nothing"))
        raise RuntimeError("rolled back")
    assert store.credentials_generation == before


def test_a_revoked_session_is_refused_at_once(fleet: Fleet, admin: Principal) -> None:
    """End to end: a session deleted by a plain statement no longer authenticates, though it was
    authenticated (and so cached) just before."""
    fleet.identity.create_user(admin, "sam@example.com", "Sam", "password1")
    token = fleet.identity.login("sam@example.com", "password1").token
    assert fleet.identity.authenticate(BearerToken(token)).user_id is not None
    with fleet.store.write() as tx:
        tx.execute(delete(t.sessions))
    with pytest.raises(Unauthenticated):
        fleet.identity.authenticate(BearerToken(token))


def test_a_taken_unique_value_is_a_conflict_with_the_message_core_gives(fleet: Fleet) -> None:
    with fleet.store.write() as tx:
        q.insert_row(tx, "users", **_user("dup@example.com"))
    message = "the email dup@example.com is someone's already"
    with pytest.raises(Taken, match=rf"^{re.escape(message)}$"), fleet.store.write(conflict=message) as tx:
        q.insert_row(tx, "users", **_user("dup@example.com"))
    with fleet.store.read() as tx:
        assert q.count(tx, "users", email="dup@example.com") == 1


def test_a_taken_unique_value_without_a_message_names_table_and_column(fleet: Fleet) -> None:
    with fleet.store.write() as tx:
        q.insert_row(tx, "users", **_user("twice@example.com"))
    with pytest.raises(Taken, match=r"^users already has a row with this email$"), fleet.store.write() as tx:
        q.insert_row(tx, "users", **_user("twice@example.com"))


def test_a_row_referring_to_a_removed_one_is_a_conflict(fleet: Fleet) -> None:
    session = {
        "id": new_id(),
        "token_hash": "0" * 64,
        "user_id": new_id(),
        "created_at": datetime.now(UTC),
        "expires_at": datetime.now(UTC) + timedelta(hours=1),
    }
    with pytest.raises(Conflict, match="removed meanwhile") as raised, fleet.store.write() as tx:
        q.insert_row(tx, "sessions", **session)
    assert not isinstance(raised.value, Taken)
    with fleet.store.read() as tx:
        assert q.count(tx, "sessions", id=session["id"]) == 0


def test_every_record_name_is_a_table() -> None:
    assert set(get_args(q.Record)) <= set(t.metadata.tables)
