"""How resources are named: the aliases a client makes, and lookups by alias, by owner and by share
code."""

from __future__ import annotations

from fleetport.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from fleetport.core.permissions import Principal
from fleetport.core.telemetry.model import (
    ALIAS_MAX,
    Ref,
    check_text,
)
from fleetport.core.telemetry.tree import Tree
from fleetport.store import Store
from fleetport.store import telemetry as st


class Names:
    """Aliases and lookups."""

    def __init__(self, store: Store, tree: Tree) -> None:
        self.store = store
        self.tree = tree

    def lookup_alias(self, p: Principal, alias: str, *, under: Ref | None = None) -> str:
        """The RID an alias names, among the aliases of ``under`` (the calling client by default);
        ``""`` names that client itself."""
        alias = check_text(alias, "alias", ALIAS_MAX)
        with self.store.read() as conn:
            owner = self.tree.owner(conn, p, under, "lookup")
            if alias == "":
                return owner
            target = st.alias_target(conn, owner, alias)
            if target is None:
                raise NotFound(f"no alias {alias!r} under client {owner}")
            return target

    def aliases(self, p: Principal, under: Ref | None = None) -> dict[str, list[str]]:
        """The aliases the calling client (or ``under``) made, by the RID they name."""
        with self.store.read() as conn:
            return st.aliases_under(conn, self.tree.owner(conn, p, under, "info"))

    def lookup_shared(self, p: Principal, code: str) -> str:
        """The RID a share code shares."""
        with self.store.read() as conn:
            self.tree.own(conn, p, "lookup")
            share = st.share(conn, code) if isinstance(code, str) else None
            if share is None:
                raise NotFound("no share has this code")
            return str(share["rid"])

    def lookup_owner(self, p: Principal, ref: Ref) -> str:
        with self.store.read() as conn:
            client, row = self.tree.resource(conn, p, ref, "lookup")
            if row["parent_rid"] is None or row["rid"] == client:
                raise PermissionDenied("the owner of the calling client is outside its tree")
            return str(row["parent_rid"])

    def map_alias(self, p: Principal, ref: Ref, alias: str, *, under: Ref | None = None) -> None:
        alias = check_text(alias, "alias", ALIAS_MAX)
        if not alias:
            raise Invalid("an alias may not be empty")
        with self.store.write(conflict=f"alias {alias!r} is already mapped") as conn:
            owner = self.tree.owner(conn, p, under, "map")
            _, row = self.tree.resource(conn, p, ref, "map")
            if st.alias_target(conn, owner, alias) is not None:
                raise Conflict(f"alias {alias!r} is already mapped")
            st.add_alias(conn, owner, alias, row["rid"])

    def unmap_alias(self, p: Principal, alias: str, *, under: Ref | None = None) -> None:
        alias = check_text(alias, "alias", ALIAS_MAX)
        with self.store.write() as conn:
            owner = self.tree.owner(conn, p, under, "unmap")
            if st.remove_alias(conn, owner, alias) == 0:
                raise NotFound(f"no alias {alias!r} under client {owner}")
