"""Telemetry: the One Platform resource tree (clients owning clients, dataports, datarules and
dispatches) and the points of its series.

Every organization has a root client, made on first use; a machine may own a device client under
it. Resources are named by 40-hex RIDs; each client has a 40-hex key (a CIK) that authenticates
as that client, with full control of its sub-tree. A caller authenticated by a key is a
``Principal`` of kind ``client``; it reaches a resource when its client is the resource or one of
the resource's ancestors, and reads (only) resources shared with it by a share code it activated.
A token from ``grant`` acts as one client, limited to some procedures on some sub-trees. Aliases
name resources under the client that made them.

Points carry a timestamp in Unix seconds and a value of the resource's format. A dataport keeps
the points its retention allows (a count and an age, either unlimited), enforced on write and by
``sweep``. A new point flows to the resources subscribed to its resource: a dataport stores it
(after its preprocess steps), a datarule evaluates its rule and stores the outcome, a dispatch
sends it over HTTP. New points are published on the bus (topic ``points:<rid>``) after commit.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from fleetport.core import access
from fleetport.core.errors import Conflict, Invalid, NotFound, PermissionDenied, Unauthenticated
from fleetport.core.ids import hash_secret
from fleetport.core.permissions import Principal
from fleetport.core.telemetry import values as tv
from fleetport.core.telemetry.model import (
    ALIAS_MAX,
    CONSUMABLES,
    DISPATCH_METHODS,
    FORMATS,
    LISTING_TYPES,
    MAX_TOKEN_TTL,
    META_MAX,
    NAME_MAX,
    RESOURCE_TYPES,
    SERIES_TYPES,
    SHARED_ACTIONS,
    TAG_MAX,
    TOKEN_PERMISSIONS,
    UNSENT_METHODS,
    ClientKey,
    Effects,
    NewResource,
    Ref,
    Resource,
    ResourceChanges,
    ResourceInfo,
    Share,
    ShareInvalid,
    Storage,
    Unsupported,
    check_retention,
    check_text,
    client_principal,
    client_row,
    is_rid,
    new_rid,
    now,
    resource_row,
    series_of,
)
from fleetport.core.telemetry.points import Points
from fleetport.store import Row, Tx
from fleetport.store import queries as q
from fleetport.store import series as series_store
from fleetport.store import telemetry as st


class Telemetry(Points):
    """The telemetry service: the tree, its codes and tokens, usage, and (from ``Points``) points."""

    # --- entry points from the rest of the fleet --------------------------------------------

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

    # --- the tree --------------------------------------------------------------------------

    def create(
        self, p: Principal, spec: NewResource, *, under: Ref | None = None, alias: str | None = None
    ) -> str:
        """Creates a resource owned by the calling client (or by ``under``, a client in its tree);
        its RID. With ``alias`` the owner also names it, in the same transaction (Conflict when
        the alias is taken)."""
        if spec.type not in RESOURCE_TYPES:
            raise Invalid(f"type must be one of {', '.join(RESOURCE_TYPES)}")
        values: dict[str, Any] = {
            "name": check_text(spec.name, "name", NAME_MAX),
            "meta": check_text(spec.meta, "meta", META_MAX),
        }
        if not isinstance(spec.public, bool):
            raise Invalid("public must be true or false")
        values["public"] = spec.public
        description = dict(spec.description)
        if spec.type in SERIES_TYPES:
            fmt = spec.format
            if fmt is None and spec.type != "dataport":
                fmt = "integer" if spec.type == "datarule" else "string"
            if fmt not in FORMATS:
                raise Invalid(f"format must be one of {', '.join(FORMATS)}")
            values["format"] = fmt
            values["retention_count"] = check_retention(spec.retention_count, "count")
            values["retention_seconds"] = check_retention(spec.retention_seconds, "duration")
            description["preprocess"] = tv.check_preprocess(spec.preprocess)
        if spec.type == "datarule":
            try:
                tv.parse_rule(spec.rule)
            except tv.ScriptRule as exc:
                raise Unsupported(str(exc)) from None
            description["rule"] = spec.rule
        if spec.type == "dispatch":
            if spec.method in UNSENT_METHODS:
                raise Unsupported(
                    f"dispatch method {spec.method} is not supported: "
                    f"use one of {', '.join(DISPATCH_METHODS)}"
                )
            if spec.method not in DISPATCH_METHODS:
                raise Invalid(f"method must be one of {', '.join(DISPATCH_METHODS)}")
            if not isinstance(spec.recipient, str) or not spec.recipient.startswith(("http://", "https://")):
                raise Invalid("an http dispatch's recipient is an http:// or https:// URL")
            for what in ("message", "subject"):
                check_text(getattr(spec, what), what, META_MAX)
            description.update(
                method=spec.method, recipient=spec.recipient, message=spec.message, subject=spec.subject
            )
        effects = Effects()
        with self.store.write() as conn:
            if under is None:
                owner, owner_row = self._own(conn, p, "create")
            else:
                _, owner_row = self._resolve(conn, p, under, "create")
                owner = str(owner_row["rid"])
            if owner_row["type"] != "client":
                raise Invalid(f"resource {owner} is a {owner_row['type']}: only clients own resources")
            if spec.subscribe is not None:
                _, source = self._resolve(conn, p, spec.subscribe, "read")
                values["subscribe_rid"] = source["rid"]
            rid, at = self._insert(conn, spec.type, owner_row, {**values, "description": description})
            if alias is not None:
                alias = check_text(alias, "alias", ALIAS_MAX)
                if not alias:
                    raise Invalid("an alias may not be empty")
                st.lock(conn, [owner])  # the same alias asked for at once is given once
                if st.alias_target(conn, owner, alias) is not None:
                    raise Conflict(f"alias {alias!r} is already mapped")
                st.add_alias(conn, owner, alias, rid)
            if spec.type == "datarule":
                self._arm(conn, rid, tv.parse_rule(spec.rule), at)
        self._after(effects)
        return rid

    def _insert(
        self, conn: Tx, kind: str, owner: Mapping[Any, Any], values: Mapping[Any, Any]
    ) -> tuple[str, int]:
        """Inserts a resource under ``owner`` with a fresh RID (and series, and key)."""
        at = now()
        for _ in range(8):
            rid = new_rid()
            if kind == "client":
                row = client_row(rid, owner["organization_id"], owner["rid"], at)
            else:
                row = {**resource_row(rid, kind, owner["organization_id"], owner["rid"], at)}
                row["series"] = series_of(rid)
                if st.series_taken(conn, row["series"]):
                    continue
            st.insert_resource(conn, {**row, **values})
            return rid, at
        raise Conflict("could not find a free resource id")  # pragma: no cover - 2**60 space

    def _arm(self, conn: Tx, rid: str, rule: tv.Rule, at: int) -> None:
        """A timeout rule starts its clock when it is made."""
        if rule.kind == "timeout":
            assert rule.timeout is not None
            st.update_resource(conn, rid, {"deadline": at + rule.timeout, "state": {}})

    def info(self, p: Principal, ref: Ref) -> ResourceInfo:
        with self.store.read() as conn:
            client, row = self._resolve(conn, p, ref, "info")
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
            _, row = self._resolve(conn, p, ref, "listing")
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

    def lookup_alias(self, p: Principal, alias: str, *, under: Ref | None = None) -> str:
        """The RID an alias names, among the aliases of ``under`` (the calling client by default);
        ``""`` names that client itself."""
        alias = check_text(alias, "alias", ALIAS_MAX)
        with self.store.read() as conn:
            owner = self._owner(conn, p, under, "lookup")
            if alias == "":
                return owner
            target = st.alias_target(conn, owner, alias)
            if target is None:
                raise NotFound(f"no alias {alias!r} under client {owner}")
            return target

    def aliases(self, p: Principal, under: Ref | None = None) -> dict[str, list[str]]:
        """The aliases the calling client (or ``under``) made, by the RID they name."""
        with self.store.read() as conn:
            return st.aliases_under(conn, self._owner(conn, p, under, "info"))

    def lookup_shared(self, p: Principal, code: str) -> str:
        """The RID a share code shares."""
        with self.store.read() as conn:
            self._own(conn, p, "lookup")
            share = st.share(conn, code) if isinstance(code, str) else None
            if share is None:
                raise NotFound("no share has this code")
            return str(share["rid"])

    def lookup_owner(self, p: Principal, ref: Ref) -> str:
        with self.store.read() as conn:
            client, row = self._resolve(conn, p, ref, "lookup")
            if row["parent_rid"] is None or row["rid"] == client:
                raise PermissionDenied("the owner of the calling client is outside its tree")
            return str(row["parent_rid"])

    def map_alias(self, p: Principal, ref: Ref, alias: str, *, under: Ref | None = None) -> None:
        alias = check_text(alias, "alias", ALIAS_MAX)
        if not alias:
            raise Invalid("an alias may not be empty")
        with self.store.write(conflict=f"alias {alias!r} is already mapped") as conn:
            owner = self._owner(conn, p, under, "map")
            _, row = self._resolve(conn, p, ref, "map")
            if st.alias_target(conn, owner, alias) is not None:
                raise Conflict(f"alias {alias!r} is already mapped")
            st.add_alias(conn, owner, alias, row["rid"])

    def unmap_alias(self, p: Principal, alias: str, *, under: Ref | None = None) -> None:
        alias = check_text(alias, "alias", ALIAS_MAX)
        with self.store.write() as conn:
            owner = self._owner(conn, p, under, "unmap")
            if st.remove_alias(conn, owner, alias) == 0:
                raise NotFound(f"no alias {alias!r} under client {owner}")

    def drop(self, p: Principal, ref: Ref) -> None:
        """Deletes a resource the caller owns, with its whole sub-tree and points."""
        with self.store.write() as conn:
            client, row = self._resolve(conn, p, ref, "drop")
            if row["rid"] == client:
                raise PermissionDenied("a client may not drop itself")
            if row["parent_rid"] is None:
                raise PermissionDenied("a root client cannot be dropped")
            st.delete_resource(conn, row["rid"])

    def move(self, p: Principal, ref: Ref, destination: Ref, *, aliases: bool = True) -> None:
        """Gives a resource a new owner client in the caller's tree. With ``aliases`` the old owner's
        aliases of it move along; otherwise they are removed."""
        with self.store.write() as conn:
            client, row = self._resolve(conn, p, ref, "move")
            _, dest = self._resolve(conn, p, destination, "move")
            # the resource and the destination's line locked before the line is walked: two
            # crossing moves queue, and the second sees the first's result (no cycle)
            locked = st.lock(conn, [str(row["rid"]), *self._ancestors(conn, str(dest["rid"]))])
            if str(row["rid"]) not in locked or str(dest["rid"]) not in locked:
                raise NotFound("the resource or its destination was dropped meanwhile")
            row, dest = locked[str(row["rid"])], locked[str(dest["rid"])]
            rid, old_owner = str(row["rid"]), row["parent_rid"]
            if rid == client:
                raise PermissionDenied("a resource may not move itself")
            if dest["type"] != "client":
                raise Invalid("resources move to a client")
            if self.reaches(conn, rid, str(dest["rid"])):
                raise Invalid("a resource cannot move under itself")
            if dest["rid"] == old_owner:
                return
            st.update_resource(conn, rid, {"parent_rid": dest["rid"], "modified_at": now()})
            if old_owner is not None:
                st.move_aliases(conn, rid, str(old_owner), str(dest["rid"]), keep=aliases)

    def update(self, p: Principal, ref: Ref, changes: ResourceChanges) -> None:
        with self.store.write() as conn:
            client, row = self._resolve(conn, p, ref, "update")
            if row["rid"] == client:
                raise PermissionDenied("a resource may not update itself")
            row = self._locked(conn, row)  # its description is merged with the changes
            values: dict[str, Any] = {}
            if changes.name is not None:
                values["name"] = check_text(changes.name, "name", NAME_MAX)
            if changes.meta is not None:
                values["meta"] = check_text(changes.meta, "meta", META_MAX)
            if changes.public is not None:
                if not isinstance(changes.public, bool):
                    raise Invalid("public must be true or false")
                values["public"] = changes.public
            if changes.format is not None and changes.format != row["format"]:
                raise Invalid("the format of a resource cannot change")
            description = {**(row["description"] or {}), **changes.description}
            if row["type"] in SERIES_TYPES:
                if changes.unlimited_count:
                    values["retention_count"] = None
                elif changes.retention_count is not None:
                    values["retention_count"] = check_retention(changes.retention_count, "count")
                if changes.unlimited_seconds:
                    values["retention_seconds"] = None
                elif changes.retention_seconds is not None:
                    values["retention_seconds"] = check_retention(changes.retention_seconds, "duration")
                if changes.preprocess is not None:
                    description["preprocess"] = tv.check_preprocess(changes.preprocess)
                if changes.unsubscribe:
                    values["subscribe_rid"] = None
                elif changes.subscribe is not None:
                    _, source = self._resolve(conn, p, changes.subscribe, "read")
                    if source["rid"] == row["rid"]:
                        raise Invalid("a resource cannot subscribe to itself")
                    values["subscribe_rid"] = source["rid"]
            if row["type"] == "datarule" and changes.rule is not None:
                try:
                    rule = tv.parse_rule(changes.rule)
                except tv.ScriptRule as exc:
                    raise Unsupported(str(exc)) from None
                description["rule"] = changes.rule
                values["state"] = None
                values["deadline"] = None
            values["description"] = description
            values["modified_at"] = now()
            st.update_resource(conn, row["rid"], values)
            if row["type"] == "datarule" and changes.rule is not None:
                self._arm(conn, row["rid"], rule, now())
            if row["type"] in SERIES_TYPES:
                self._enforce_retention(conn, {**row, **values}, now())

    def tag(self, p: Principal, ref: Ref, action: str, name: str) -> None:
        """Adds or removes a tag on a resource in the caller's tree."""
        name = check_text(name, "tag", TAG_MAX)
        if not name:
            raise Invalid("a tag may not be empty")
        if action not in ("add", "remove"):
            raise Invalid("tag action is add or remove")
        with self.store.write() as conn:
            _, row = self._resolve(conn, p, ref, "tag")
            tags = list(self._locked(conn, row)["tags"] or [])
            if action == "add" and name not in tags:
                tags.append(name)
            elif action == "remove":
                if name not in tags:
                    raise NotFound(f"resource {row['rid']} has no tag {name!r}")
                tags.remove(name)
            st.update_resource(conn, row["rid"], {"tags": tags, "modified_at": now()})

    def clone(
        self,
        p: Principal,
        *,
        rid: str | None = None,
        code: str | None = None,
        aliases: bool = True,
        historical: bool = True,
    ) -> str:
        """Copies a client and its sub-tree (resources, aliases unless not ``aliases``, points
        unless not ``historical``) under the calling client; the copy's RID. The original is named
        by RID (in the caller's tree) or by a share code."""
        with self.store.write() as conn:
            _, owner_row = self._own(conn, p, "create")
            return self.clone_into(
                conn, p, owner_row, rid=rid, code=code, aliases=aliases, historical=historical
            )

    def clone_into(
        self,
        conn: Tx,
        p: Principal | None,
        owner: Mapping[Any, Any],
        *,
        rid: str | None = None,
        code: str | None = None,
        aliases: bool = True,
        historical: bool = True,
        status: str = "activated",
    ) -> str:
        """``clone`` inside a transaction; ``p`` None skips the caller's access check (the
        provisioning service checked it). The new client gets ``status``."""
        if (rid is None) == (code is None):
            raise Invalid("clone takes an rid or a share code")
        if code is not None:
            share = st.share(conn, code) if isinstance(code, str) else None
            if share is None:
                raise NotFound("no share has this code")
            source = st.get(conn, share["rid"])
        else:
            if p is not None:
                _, source = self._resolve(conn, p, str(rid), "read")
            else:
                source = st.get(conn, str(rid))
        if source is None or source["type"] != "client":
            raise Invalid("only a client can be cloned")
        if self.reaches(conn, source["rid"], owner["rid"]):
            raise Invalid("a client cannot be cloned under itself")
        nodes = st.subtree(conn, source["rid"])  # parents before children
        mapping: dict[str, str] = {}
        for old_rid, _kind in nodes:
            old = st.get(conn, old_rid)
            assert old is not None
            parent = owner if old_rid == source["rid"] else {"rid": mapping[old["parent_rid"]]}
            copy = {
                k: old[k]
                for k in (
                    "name",
                    "meta",
                    "public",
                    "tags",
                    "description",
                    "format",
                    "retention_count",
                    "retention_seconds",
                    "state",
                    "deadline",
                )
            }
            copy["subscribe_rid"] = old["subscribe_rid"]
            new, _ = self._insert(
                conn, old["type"], {"rid": parent["rid"], "organization_id": owner["organization_id"]}, copy
            )
            if old["type"] == "client":
                st.update_resource(conn, new, {"status": status if old_rid == source["rid"] else "activated"})
            mapping[old_rid] = new
            if historical and old["series"] is not None:
                series_store.copy(conn, old["series"], series_of(new))
        for old_rid, new_rid_ in mapping.items():
            row = st.get(conn, new_rid_)
            assert row is not None
            if row["subscribe_rid"] in mapping:
                st.update_resource(conn, new_rid_, {"subscribe_rid": mapping[row["subscribe_rid"]]})
            if aliases:
                for target, names in st.aliases_under(conn, old_rid).items():
                    if target in mapping:
                        for name in names:
                            st.add_alias(conn, new_rid_, name, mapping[target])
        return mapping[source["rid"]]

    # --- codes: shares and keys ------------------------------------------------------------

    def share(self, p: Principal, ref: Ref, *, meta: str | None = None, code: str | None = None) -> str:
        """A share code for a resource in the caller's tree; with ``code``, updates that share's meta."""
        meta_text = check_text(meta if meta is not None else "", "meta", META_MAX)
        with self.store.write() as conn:
            client, row = self._resolve(conn, p, ref, "share")
            if code is not None:
                existing = st.share(conn, code) if isinstance(code, str) else None
                if existing is None or existing["rid"] != row["rid"]:
                    raise NotFound("no share of this resource has this code")
                if meta is not None:
                    st.update_share(conn, code, {"meta": meta_text})
                return code
            new_code = secrets.token_hex(20)
            st.insert_share(
                conn,
                {
                    "code": new_code,
                    "rid": row["rid"],
                    "owner_rid": client,
                    "meta": meta_text,
                    "created_at": now(),
                },
            )
            st.use(conn, client, "share", now())
            return new_code

    def activate(self, p: Principal, codetype: str, code: str, *, under: Ref | None = None) -> None:
        """``client``: activates a key of a client the caller owns (made not activated by
        provisioning); ``share``: the caller (or ``under``) may read the shared resource from now on."""
        with self.store.write() as conn:
            client = self._owner(conn, p, under, "activate")
            if codetype == "client":
                row = st.by_cik(conn, code) if is_rid(code) else None
                row = None if row is None else st.lock(conn, [str(row["rid"])]).get(str(row["rid"]))
                if row is None or row["cik"] != code or row["status"] != "notactivated":
                    raise ShareInvalid("no client awaits activation with this key")
                if row["parent_rid"] != client:
                    raise Unauthenticated("the calling client does not own this client")
                if not st.activate_client(conn, row["rid"], now()):  # activated meanwhile
                    raise ShareInvalid("no client awaits activation with this key")
            elif codetype == "share":
                share = st.share(conn, code, lock=True) if isinstance(code, str) else None
                if share is None or share["activator_rid"] is not None:
                    raise ShareInvalid("no share awaits activation with this code")
                if share["owner_rid"] == client:
                    raise ShareInvalid("a share is activated by another client than its owner")
                st.update_share(conn, code, {"activator_rid": client, "activated_at": now()})
            else:
                raise Invalid("codetype is client or share")

    def deactivate(self, p: Principal, codetype: str, code: str, *, under: Ref | None = None) -> None:
        """``client``: the key stops working (the client expires); ``share``: the caller's
        activation of the share ends."""
        with self.store.write() as conn:
            client = self._owner(conn, p, under, "deactivate")
            if codetype == "client":
                row = st.by_cik(conn, code) if is_rid(code) else None
                if row is None:
                    raise ShareInvalid("no client has this key")
                if row["parent_rid"] is None or not self.reaches(conn, client, str(row["parent_rid"])):
                    raise Unauthenticated("the calling client does not own this client")
                st.update_resource(conn, row["rid"], {"status": "expired", "modified_at": now()})
            elif codetype == "share":
                share = st.share(conn, code, lock=True) if isinstance(code, str) else None
                if share is None or share["activator_rid"] != client:
                    raise ShareInvalid("the calling client has not activated this share")
                st.update_share(conn, code, {"activator_rid": None, "activated_at": None})
            else:
                raise Invalid("codetype is client or share")

    def revoke(self, p: Principal, codetype: str, code: str) -> str | None:
        """``client``: gives the client of that key a new key (returned); ``share``: deletes the
        share; ``token``: deletes the token (given itself, or by the id ``listing`` shows)."""
        with self.store.write() as conn:
            client, _ = self._own(conn, p, "revoke")
            if codetype == "client":
                row = st.by_cik(conn, code) if is_rid(code) else None
                if row is None:
                    raise ShareInvalid("no client has this key")
                if row["parent_rid"] is None or not self.reaches(conn, client, str(row["parent_rid"])):
                    raise Unauthenticated("the calling client does not own this client")
                new_key = secrets.token_hex(20)
                st.update_resource(conn, row["rid"], {"cik": new_key, "modified_at": now()})
                return new_key
            if codetype == "share":
                share = st.share(conn, code) if isinstance(code, str) else None
                if share is None:
                    raise ShareInvalid("no share has this code")
                if not self.reaches(conn, client, str(share["owner_rid"])):
                    raise Unauthenticated("the calling client did not make this share")
                st.delete_share(conn, code)
                return None
            if codetype == "token":
                token = (
                    (st.token_by_hash(conn, hash_secret(code)) or st.token_by_id(conn, code))
                    if is_rid(code)
                    else None
                )
                if token is None:
                    raise ShareInvalid("no token has this code")
                if not self.reaches(conn, client, str(token["client_rid"])):
                    raise Unauthenticated("the token acts as a client outside the caller's tree")
                st.delete_token(conn, token["id"])
                return None
            raise Invalid("codetype is client, share or token")

    def regenerate_key(self, conn: Tx, rid: str, *, status: str) -> str:
        """A new key for a client, with a status (provisioning: ``notactivated`` until activated)."""
        key = secrets.token_hex(20)
        st.update_resource(conn, rid, {"cik": key, "status": status, "modified_at": now()})
        return key

    def grant(
        self, p: Principal, ref: Ref, permissions: Mapping[str, Sequence[str]], *, ttl: int | None = None
    ) -> str:
        """A token that acts as client ``ref`` (in the caller's tree) with ``permissions``: the
        procedures allowed on each sub-tree (by RID, or by alias of that client). ``ttl`` in seconds."""
        if not isinstance(permissions, Mapping) or not permissions:
            raise Invalid("permissions map resources to lists of procedures")
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 < ttl <= MAX_TOKEN_TTL
        ):
            raise Invalid(f"ttl is a number of seconds between 1 and {MAX_TOKEN_TTL}")
        with self.store.write() as conn:
            _, row = self._resolve(conn, p, ref, "grant")
            if row["type"] != "client":
                raise Invalid("a token acts as a client")
            client = str(row["rid"])
            granted: dict[str, list[str]] = {}
            for key, actions in permissions.items():
                target = (
                    key
                    if is_rid(key)
                    else st.alias_target(conn, client, key)
                    if isinstance(key, str)
                    else None
                )
                if target is None or not self.reaches(conn, client, target):
                    raise PermissionDenied(f"{key!r} is not in the token client's tree")
                if not isinstance(actions, list) or not all(a in TOKEN_PERMISSIONS for a in actions):
                    raise Invalid(
                        f"permissions are lists of procedures: {', '.join(sorted(TOKEN_PERMISSIONS))}"
                    )
                if p.token_permissions is not None:
                    for action in actions:
                        self._permit(conn, p, action, target)
                granted[target] = sorted(set(actions))
            token = secrets.token_hex(20)  # shown once, here; the database keeps its SHA-256
            at = now()
            st.insert_token(
                conn,
                {
                    "id": secrets.token_hex(20),
                    "token_hash": hash_secret(token),
                    "client_rid": client,
                    "permissions": granted,
                    "expires_at": None if ttl is None else at + ttl,
                    "created_at": at,
                },
            )
            return token

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
            _, row = self._resolve(conn, p, ref, "usage")
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
