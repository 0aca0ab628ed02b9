"""The telemetry clients the rest of the fleet owns: an organization's root client, a machine's
device client (and the device client as a caller, how the native API reaches a machine's
dataports), and new keys for provisioning."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from fleetport.core import access
from fleetport.core.permissions import Principal
from fleetport.core.telemetry.model import (
    NAME_MAX,
    SHARED_ACTIONS,
    ClientKey,
    client_principal,
    client_row,
    new_rid,
    now,
)
from fleetport.core.telemetry.tree import Tree
from fleetport.store import Row, Store, Tx
from fleetport.store import queries as q
from fleetport.store import telemetry as st


class Clients:
    """The clients of organizations and machines, made on first use, and their keys."""

    def __init__(self, store: Store, tree: Tree) -> None:
        self.store = store
        self.tree = tree

    def root_client(self, p: Principal, organization_id: str) -> ClientKey:
        """The organization's root client, made on first use. Its key only for holders of
        update_organization."""
        with self.store.write() as conn:
            org = access.organization(conn, p, "read_organization", organization_id)
            row = self._root(conn, org["id"])
            may_see = p.scope(conn, "update_organization").covers_organization(org["id"])
            return ClientKey(row["rid"], row["cik"] if may_see else None)

    def device_client(self, p: Principal, machine_id: str) -> ClientKey:
        """The machine's device client (a child of its organization's root client), made on
        first use. Its key only for holders of update_robot."""
        with self.store.write() as conn:
            machine = access.machine(conn, p, "read_robot", machine_id)
            row = self._device(conn, machine)
            scope = p.scope(conn, "update_robot")
            may_see = scope.covers_robot(machine["id"], machine["location_id"], machine["organization_id"])
            return ClientKey(row["rid"], row["cik"] if may_see else None)

    def as_device(self, p: Principal, machine_id: str, *, write: bool) -> Principal:
        """The machine's device client as a caller, for a principal allowed to read (or, with
        ``write``, to control) the machine: how the native API reaches a machine's dataports."""
        permission = "update_robot" if write else "read_robot"
        with self.store.read() as conn:  # the device client exists, mostly: no write lock
            machine = access.machine(conn, p, permission, machine_id)
            row = st.of_machine(conn, machine["id"])
        if row is None:
            with self.store.write() as conn:
                row = self._device(conn, access.machine(conn, p, permission, machine_id))
        rid = str(row["rid"])
        actions = None if write else {rid: frozenset(SHARED_ACTIONS)}
        return client_principal(rid, display=f"{p.display} as client {rid}", permissions=actions)

    def device_in(self, conn: Tx, machine: Mapping[Any, Any], display: str) -> Principal:
        """The machine's device client as a writing caller, inside a transaction of the caller's
        that checked already who may write to the machine's dataports (a part agent, for its own
        machine)."""
        rid = str(self._device(conn, machine)["rid"])
        return client_principal(rid, display=f"{display} as client {rid}", permissions=None)

    def _device(self, conn: Tx, machine: Mapping[Any, Any]) -> Row:
        row = st.of_machine(conn, machine["id"])
        if row is None:
            root = self._root(conn, machine["organization_id"])
            q.lock_rows(conn, "machines", [machine["id"]])  # made once, however many ask at once
            row = st.of_machine(conn, machine["id"])
        if row is None:
            rid, at = new_rid(), now()
            st.insert_resource(
                conn,
                {
                    **client_row(rid, root["organization_id"], root["rid"], at),
                    "machine_id": machine["id"],
                    "name": machine["name"][:NAME_MAX],
                },
            )
            row = st.get(conn, rid)
            assert row is not None
        return row

    def _root(self, conn: Tx, organization_id: str) -> Row:
        row = st.root_of(conn, organization_id)
        if row is None:
            q.lock_rows(conn, "organizations", [organization_id])  # made once (organization first)
            row = st.root_of(conn, organization_id)
        if row is None:
            rid = new_rid()
            st.insert_resource(
                conn, {**client_row(rid, organization_id, None, now()), "root_of": organization_id}
            )
            row = st.get(conn, rid)
            assert row is not None
        return row

    def regenerate_key(self, conn: Tx, rid: str, *, status: str) -> str:
        """A new key for a client, with a status (provisioning: ``notactivated`` until activated)."""
        key = secrets.token_hex(20)
        st.update_resource(conn, rid, {"cik": key, "status": status, "modified_at": now()})
        return key
