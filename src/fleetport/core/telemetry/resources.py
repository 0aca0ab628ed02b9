"""Making and changing resources of the tree: create (with its checks of formats, rules and
dispatches), update, tag, drop, move, and clone (which provisioning uses too)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fleetport.core.errors import Conflict, Invalid, NotFound, PermissionDenied
from fleetport.core.permissions import Principal
from fleetport.core.telemetry import values as tv
from fleetport.core.telemetry.flow import enforce_retention
from fleetport.core.telemetry.model import (
    ALIAS_MAX,
    DISPATCH_METHODS,
    FORMATS,
    META_MAX,
    NAME_MAX,
    RESOURCE_TYPES,
    SERIES_TYPES,
    TAG_MAX,
    UNSENT_METHODS,
    NewResource,
    Ref,
    ResourceChanges,
    Unsupported,
    check_retention,
    check_text,
    client_row,
    new_rid,
    now,
    resource_row,
    series_of,
)
from fleetport.core.telemetry.tree import Tree
from fleetport.store import Store, Tx
from fleetport.store import series as series_store
from fleetport.store import telemetry as st


class Resources:
    """Creates, changes, moves, copies and drops resources in the caller's tree."""

    def __init__(self, store: Store, tree: Tree) -> None:
        self.store = store
        self.tree = tree

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
        with self.store.write() as conn:
            if under is None:
                owner, owner_row = self.tree.own(conn, p, "create")
            else:
                _, owner_row = self.tree.resource(conn, p, under, "create")
                owner = str(owner_row["rid"])
            if owner_row["type"] != "client":
                raise Invalid(f"resource {owner} is a {owner_row['type']}: only clients own resources")
            if spec.subscribe is not None:
                _, source = self.tree.resource(conn, p, spec.subscribe, "read")
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

    def drop(self, p: Principal, ref: Ref) -> None:
        """Deletes a resource the caller owns, with its whole sub-tree and points."""
        with self.store.write() as conn:
            client, row = self.tree.resource(conn, p, ref, "drop")
            if row["rid"] == client:
                raise PermissionDenied("a client may not drop itself")
            if row["parent_rid"] is None:
                raise PermissionDenied("a root client cannot be dropped")
            st.delete_resource(conn, row["rid"])

    def move(self, p: Principal, ref: Ref, destination: Ref, *, aliases: bool = True) -> None:
        """Gives a resource a new owner client in the caller's tree. With ``aliases`` the old owner's
        aliases of it move along; otherwise they are removed."""
        with self.store.write() as conn:
            client, row = self.tree.resource(conn, p, ref, "move")
            _, dest = self.tree.resource(conn, p, destination, "move")
            # the resource and the destination's line locked before the line is walked: two
            # crossing moves queue, and the second sees the first's result (no cycle)
            locked = st.lock(conn, [str(row["rid"]), *self.tree.ancestors(conn, str(dest["rid"]))])
            if str(row["rid"]) not in locked or str(dest["rid"]) not in locked:
                raise NotFound("the resource or its destination was dropped meanwhile")
            row, dest = locked[str(row["rid"])], locked[str(dest["rid"])]
            rid, old_owner = str(row["rid"]), row["parent_rid"]
            if rid == client:
                raise PermissionDenied("a resource may not move itself")
            if dest["type"] != "client":
                raise Invalid("resources move to a client")
            if self.tree.reaches(conn, rid, str(dest["rid"])):
                raise Invalid("a resource cannot move under itself")
            if dest["rid"] == old_owner:
                return
            st.update_resource(conn, rid, {"parent_rid": dest["rid"], "modified_at": now()})
            if old_owner is not None:
                st.move_aliases(conn, rid, str(old_owner), str(dest["rid"]), keep=aliases)

    def update(self, p: Principal, ref: Ref, changes: ResourceChanges) -> None:
        with self.store.write() as conn:
            client, row = self.tree.resource(conn, p, ref, "update")
            if row["rid"] == client:
                raise PermissionDenied("a resource may not update itself")
            row = self.tree.locked(conn, row)  # its description is merged with the changes
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
                    _, source = self.tree.resource(conn, p, changes.subscribe, "read")
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
                enforce_retention(conn, {**row, **values}, now())

    def tag(self, p: Principal, ref: Ref, action: str, name: str) -> None:
        """Adds or removes a tag on a resource in the caller's tree."""
        name = check_text(name, "tag", TAG_MAX)
        if not name:
            raise Invalid("a tag may not be empty")
        if action not in ("add", "remove"):
            raise Invalid("tag action is add or remove")
        with self.store.write() as conn:
            _, row = self.tree.resource(conn, p, ref, "tag")
            tags = list(self.tree.locked(conn, row)["tags"] or [])
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
            _, owner_row = self.tree.own(conn, p, "create")
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
                _, source = self.tree.resource(conn, p, str(rid), "read")
            else:
                source = st.get(conn, str(rid))
        if source is None or source["type"] != "client":
            raise Invalid("only a client can be cloned")
        if self.tree.reaches(conn, source["rid"], owner["rid"]):
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
