"""Who reaches what in the telemetry resource tree: the calling client, its sub-tree, the resources
shared with it, and the limits of a token. Every other part of telemetry asks the ``Tree`` which
resource a reference names for a caller, inside its own transaction."""

from __future__ import annotations

from fleetport.core.errors import Invalid, NotFound, PermissionDenied
from fleetport.core.permissions import Principal
from fleetport.core.telemetry.model import (
    MAX_DEPTH,
    SERIES_TYPES,
    SHARED_ACTIONS,
    Alias,
    Ref,
    is_rid,
)
from fleetport.store import Row, Store, Tx
from fleetport.store import telemetry as st


class Tree:
    """Resolves references for a caller and checks its reach."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def caller(self, p: Principal) -> str:
        """The client a caller acts as; PermissionDenied for any other kind of caller."""
        if p.kind != "client" or not p.client_rid:
            raise PermissionDenied("the telemetry resource tree is reached through a client key")
        return p.client_rid

    def reaches(self, conn: Tx, client: str, rid: str) -> bool:
        """Whether ``client`` is ``rid`` or one of its ancestors."""
        return reaches(conn, client, rid)

    def ancestors(self, conn: Tx, rid: str) -> list[str]:
        """``rid`` and its ancestors, nearest first."""
        out: list[str] = []
        current: str | None = rid
        while current is not None and len(out) <= MAX_DEPTH:
            out.append(current)
            current = st.parent_of(conn, current)
        return out

    def permit(self, conn: Tx, p: Principal, action: str, rid: str) -> None:
        """A token allows ``action`` on ``rid`` when one of its grants covers ``rid``'s sub-tree."""
        if p.token_permissions is None:
            return
        line = set(self.ancestors(conn, rid))
        for granted, actions in p.token_permissions.items():
            if action in actions and granted in line:
                return
        raise PermissionDenied(f"this token does not allow {action} on {rid}")

    def target(self, conn: Tx, client: str, ref: Ref) -> str:
        """The RID a reference names among ``client``'s aliases (no reach checked)."""
        if isinstance(ref, Alias):
            if ref.name == "":
                return client
            target = st.alias_target(conn, client, ref.name)
            if target is None:
                raise NotFound(f"no alias {ref.name!r} under the calling client")
            return target
        if not is_rid(ref):
            raise Invalid("a resource is a 40-hex RID or an alias")
        return ref

    def resource(self, conn: Tx, p: Principal, ref: Ref, action: str) -> tuple[str, Row]:
        """The caller's client and the resource named, which the caller must reach (or, to read,
        have activated a share of)."""
        client = self.caller(p)
        rid = self.target(conn, client, ref)
        row = st.get(conn, rid)
        if row is None:
            raise PermissionDenied(f"resource {rid} is not in the calling client's tree")
        reachable = self.reaches(conn, client, rid) or (
            action in SHARED_ACTIONS and self.shared_with(conn, client, rid)
        )
        if not reachable:
            raise PermissionDenied(f"resource {rid} is not in the calling client's tree")
        self.permit(conn, p, action, rid)
        return client, row

    def series(self, conn: Tx, p: Principal, ref: Ref, action: str) -> Row:
        """The resource named, which must hold points (a dataport, datarule or dispatch)."""
        _, row = self.resource(conn, p, ref, action)
        if row["type"] not in SERIES_TYPES:
            raise Invalid(f"resource {row['rid']} is a {row['type']}, which holds no points")
        return row

    def own(self, conn: Tx, p: Principal, action: str) -> tuple[str, Row]:
        """The calling client, for procedures that act on it implicitly."""
        client = self.caller(p)
        row = st.get(conn, client)
        if row is None:
            raise PermissionDenied("the calling client no longer exists")
        self.permit(conn, p, action, client)
        return client, row

    def owner(self, conn: Tx, p: Principal, under: Ref | None, action: str) -> str:
        """The client whose aliases a call works on: ``under`` or the calling client."""
        if under is None:
            client, _ = self.own(conn, p, action)
            return client
        _, row = self.resource(conn, p, under, action)
        if row["type"] != "client":
            raise Invalid(f"resource {row['rid']} is a {row['type']}, not a client")
        return str(row["rid"])

    def shared_with(self, conn: Tx, client: str, rid: str) -> bool:
        """Whether ``client`` activated a share of ``rid`` or of one of its ancestors."""
        return st.shared_with(conn, client, self.ancestors(conn, rid))

    def locked(self, conn: Tx, row: Row) -> Row:
        """Locks a resource that is read and then changed (``store.locks``); its row once locked."""
        fresh = st.lock(conn, [str(row["rid"])]).get(str(row["rid"]))
        if fresh is None:
            raise NotFound(f"resource {row['rid']} was dropped meanwhile")
        return fresh

    def resolve(self, p: Principal, ref: Ref, action: str = "lookup") -> str:
        """The RID a reference names, if the caller reaches it."""
        with self.store.read() as conn:
            _, row = self.resource(conn, p, ref, action)
            return str(row["rid"])


def reaches(conn: Tx, client: str, rid: str) -> bool:
    """Whether ``client`` is ``rid`` or one of its ancestors."""
    current: str | None = rid
    for _ in range(MAX_DEPTH + 1):
        if current is None:
            return False
        if current == client:
            return True
        current = st.parent_of(conn, current)
    return False
