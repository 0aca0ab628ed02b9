"""What a client's tree holds: a resource's info, the listing of a client's resources, and usage."""

from __future__ import annotations

from collections.abc import Sequence

from fleetport.core.errors import Invalid
from fleetport.core.permissions import Principal
from fleetport.core.telemetry.model import (
    CONSUMABLES,
    LISTING_TYPES,
    RESOURCE_TYPES,
    Ref,
    Resource,
    ResourceInfo,
    Share,
    Storage,
    now,
)
from fleetport.core.telemetry.tree import Tree
from fleetport.store import Store
from fleetport.store import series as series_store
from fleetport.store import telemetry as st


class Inventory:
    """Reads what resources are, which a client holds, and what they use."""

    def __init__(self, store: Store, tree: Tree) -> None:
        self.store = store
        self.tree = tree

    def info(self, p: Principal, ref: Ref) -> ResourceInfo:
        with self.store.read() as conn:
            client, row = self.tree.resource(conn, p, ref, "info")
            resource = Resource.from_row(row)
            owner_or_self = client in (resource.rid, resource.parent_rid)
            is_client = resource.type == "client"
            counts: dict[str, int] = {}
            usage: dict[str, int] = {}
            if is_client:
                counts = st.count_children(conn, resource.rid)
                counts.update(st.consumed(conn, [resource.rid]))
                subtree = st.subtree(conn, resource.rid)
                for _, kind in subtree[1:]:
                    usage[kind] = usage.get(kind, 0) + 1
                usage.update(st.consumed(conn, [rid for rid, _ in subtree]))
            storage = None
            if row["series"] is not None:
                count, first, last, size = series_store.storage(conn, row["series"])
                storage = Storage(count, first, last, size)
            shares = None
            if owner_or_self:
                shares = [
                    Share(s["code"], s["rid"], s["meta"], s["activator_rid"])
                    for s in st.shares_of(conn, resource.rid)
                ]
            return ResourceInfo(
                resource=resource,
                key=row["cik"] if is_client and client == resource.parent_rid else None,
                aliases=st.aliases_under(conn, resource.rid) if is_client and owner_or_self else None,
                counts=counts,
                usage=usage,
                storage=storage,
                shares=shares,
                subscribers=st.subscribers_of(conn, resource.rid),
            )

    def listing(
        self,
        p: Principal,
        ref: Ref,
        types: Sequence[str],
        *,
        owned: bool = False,
        public: bool = False,
        aliased: bool = False,
        activated: bool = False,
        tagged: Sequence[str] = (),
    ) -> dict[str, list[str]]:
        """The RIDs of the client's resources of each type. The flags select children that are
        owned, public, aliased by the client, or shared with it by a share it activated; several
        flags take the union, none means owned. ``tagged`` keeps resources carrying every given
        tag. The type ``token`` lists the ids of the client's unexpired tokens (not the tokens: only
        their hashes are kept)."""
        for kind in types:
            if kind not in LISTING_TYPES:
                raise Invalid(f"{kind!r} is not a resource type: use {', '.join(LISTING_TYPES)}")
        with self.store.read() as conn:
            _, row = self.tree.resource(conn, p, ref, "listing")
            if row["type"] != "client":
                raise Invalid("listing needs a client")
            client = str(row["rid"])
            if not (owned or public or aliased or activated):
                owned = True
            wanted = [k for k in types if k in RESOURCE_TYPES]
            kids = st.children(conn, client, wanted) if owned or public else []
            found: dict[str, dict[str, list[str]]] = {}  # type -> rid -> tags
            out: dict[str, list[str]] = {kind: [] for kind in types}
            picked: list[tuple[str, str, list[str]]] = []
            for kid in kids:
                if owned or kid["public"]:
                    picked.append((kid["rid"], kid["type"], list(kid["tags"] or [])))
            if aliased:
                picked.extend(
                    (r["rid"], r["type"], list(r["tags"] or [])) for r in st.aliased(conn, client, wanted)
                )
            if activated:
                picked.extend(
                    (r["rid"], r["type"], list(r["tags"] or [])) for r in st.activated(conn, client, wanted)
                )
            for rid, kind, tags in picked:
                if all(tag in tags for tag in tagged) and rid not in found.setdefault(kind, {}):
                    found[kind][rid] = tags
                    out[kind].append(rid)
            if "token" in types:
                out["token"] = st.tokens_of(conn, client, now())
            return out

    # --- usage -----------------------------------------------------------------------------

    def usage(self, p: Principal, ref: Ref, metric: str, start: int, end: int) -> int:
        """For an entity type, the entity-seconds its resources in the client's sub-tree existed
        within ``[start, end]``; for a consumable, the amount used in that window."""
        for what, number in (("starttime", start), ("endtime", end)):
            if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                raise Invalid(f"{what} must be a non-negative integer")
        if end < start:
            raise Invalid("endtime is before starttime")
        with self.store.read() as conn:
            _, row = self.tree.resource(conn, p, ref, "usage")
            if row["type"] != "client":
                raise Invalid("usage is measured on a client")
            subtree = st.subtree(conn, row["rid"])
            rids = [rid for rid, _ in subtree]
            if metric in RESOURCE_TYPES:
                at = now()
                total = 0
                for created in st.created_times(
                    conn, [r for r, kind in subtree if kind == metric and r != row["rid"]]
                ):
                    lo, hi = max(start, created), min(end, at)
                    total += max(0, hi - lo)
                return total
            if metric in CONSUMABLES:
                return st.consumed_between(conn, rids, metric, start, end)
            raise Invalid(f"metric is one of {', '.join((*RESOURCE_TYPES, *CONSUMABLES))}")
