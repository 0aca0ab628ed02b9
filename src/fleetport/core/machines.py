"""Machines (robots) and their parts: config with full history, part secrets, restart flag."""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from fleetport.bus import Bus, Codec, wire
from fleetport.core import access, validate
from fleetport.core.errors import Conflict, FailedPrecondition, Invalid, NotFound
from fleetport.core.fragments import record_part_fragments
from fleetport.core.identity import PART_SECRET_PREFIX
from fleetport.core.ids import hash_secret, new_id, new_secret
from fleetport.core.models import (
    ConfigRevision,
    Machine,
    MachineSummary,
    Part,
    PartDetails,
    PartHistory,
    Secret,
    as_utc,
    is_online,
    utcnow,
)
from fleetport.core.pages import Listing, Page, PageRequest
from fleetport.core.permissions import Principal, deny
from fleetport.store import Row, Store, Tx
from fleetport.store import agents as agents_store
from fleetport.store import queries as q
from fleetport.store.fleet import Within, machines_page, machines_with_parts

DOMAIN = "fleetport.local"
MACHINES = Listing("machines")
PARTS = Listing("parts")
CONFIG_HISTORY = Listing("config-history")


def _label(value: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[:40] or "part"


def _addresses(machine_name: str, part_name: str, location_id: str) -> dict[str, str]:
    dns = f"{_label(machine_name)}-{_label(part_name)}"
    zone = location_id.replace("-", "")[:10]
    return {"dns_name": dns, "fqdn": f"{dns}.{zone}.{DOMAIN}", "local_fqdn": f"{dns}.{zone}.local.{DOMAIN}"}


def config_topic(part_id: str) -> str:
    """The bus topic of a part's config changes."""
    return f"part-config:{part_id}"


@dataclass(frozen=True)
class PartConfigChanged:
    """Published after a transaction that replaced a part's config committed."""

    part_id: str
    updated_at: datetime


def _decode_config_changed(data: object) -> PartConfigChanged:
    return PartConfigChanged(wire.field(data, "part_id", str), wire.timestamp(data, "updated_at"))


CONFIG_CODEC = Codec(
    "part-config", lambda e: {"part_id": e.part_id, "updated_at": e.updated_at}, _decode_config_changed
)


class Machines:
    def __init__(self, store: Store, bus: Bus | None = None) -> None:
        self.store = store
        self.bus = bus
        if bus is not None:
            bus.define(CONFIG_CODEC)

    def _config_changed(self, part: Part) -> None:
        """After commit: whoever follows the part's config (its connected agent) hears of it."""
        topic = config_topic(part.id)
        if self.bus is not None and part.config_updated_at is not None and self.bus.wanted(topic):
            self.bus.publish(topic, PartConfigChanged(part.id, part.config_updated_at))

    # --- machines -------------------------------------------------------------------------

    def create(
        self,
        p: Principal,
        location_id: str,
        name: str,
        *,
        metadata: dict[str, Any] | None = None,
        main_part_name: str | None = None,
    ) -> Machine:
        """A new machine, with its main part."""
        now = utcnow()
        row = {
            "id": new_id(),
            "name": validate.name(name, "machine name"),
            "metadata": validate.json_object(metadata or {}, "metadata"),
            "created_at": now,
        }
        with self.store.write() as conn:
            loc = access.location(conn, p, "create_robot", location_id)
            q.lock_rows(conn, "locations", [loc["id"]])  # not deleted meanwhile (parents first)
            row.update(organization_id=loc["organization_id"], location_id=loc["id"])
            q.insert_row(conn, "machines", **row)
            self._insert_part(conn, row, main_part_name or f"{row['name']}-main", main=True)
        return Machine.from_row(row)

    def get(self, p: Principal, machine_id: str) -> Machine:
        with self.store.read() as conn:
            row = agents_store.machine_with_presence(conn, validate.entity_id(machine_id, "machine"))
            if row is None:
                raise NotFound(f"machine {machine_id} not found")
            row = access.covered_machine(conn, p, "read_robot", row)
        return replace(
            Machine.from_row(row), online=is_online(row["online_until"]), last_seen=as_utc(row["last_seen"])
        )

    def list(
        self,
        p: Principal,
        page: PageRequest,
        *,
        location_id: str | None = None,
        organization_id: str | None = None,
    ) -> Page[Machine]:
        """Machines the caller may read, narrowed by location or organization. Naming a location
        or organization the caller has no access to at all is refused."""
        window = MACHINES.open(page)
        with self.store.read() as conn:
            within, where = self._listing(conn, p, location_id, organization_id)
            rows = machines_page(conn, within, limit=window.limit, after=window.after_text(), **where)
            page_ = MACHINES.page(rows, window, Machine.from_row)
            return Page(_with_presence(conn, page_.items), page_.next_cursor)

    def summaries(
        self,
        p: Principal,
        *,
        location_id: str | None = None,
        organization_id: str | None = None,
    ) -> builtins.list[MachineSummary]:
        """Every machine ``list`` would page through, each with its parts' last access and main part,
        read in one statement whatever their number."""
        with self.store.read() as conn:
            within, where = self._listing(conn, p, location_id, organization_id)
            return [_summary(row) for row in machines_with_parts(conn, within, **where)]

    def rentals(self, p: Principal, organization_id: str) -> builtins.list[MachineSummary]:
        """The machines of an organization offered for rent: those offered as deployments (for
        remote access), as ``summaries`` gives them, for callers who may read the organization
        itself."""
        with self.store.read() as conn:
            org = access.organization(conn, p, "read_organization", organization_id)
            within, where = self._listing(conn, p, None, org["id"])
            return [_summary(row) for row in machines_with_parts(conn, within, offered=True, **where)]

    def summary(self, p: Principal, machine_id: str) -> MachineSummary:
        with self.store.read() as conn:
            machine = access.machine(conn, p, "read_robot", machine_id)
            return _summary(machines_with_parts(conn, None, id=machine["id"])[0])

    def _listing(
        self,
        conn: Tx,
        p: Principal,
        location_id: str | None,
        organization_id: str | None,
    ) -> tuple[Within | None, dict[str, Any]]:
        """The machines a listing reaches: the caller's scope and the columns asked for."""
        scope = p.scope(conn, "read_robot")
        where: dict[str, Any] = {}
        if location_id is not None:
            loc = q.get(conn, "locations", validate.entity_id(location_id, "location"))
            if loc is None:
                raise NotFound(f"location {location_id} not found")
            # a caller granted single robots may look for them by location; others need the location
            if not (scope.covers_location(loc["id"], loc["organization_id"]) or scope.robots):
                raise deny("read_robot", f"location {location_id}")
            where["location_id"] = loc["id"]
        if organization_id is not None:
            org_id = validate.entity_id(organization_id, "organization")
            if q.get(conn, "organizations", org_id) is None:
                raise NotFound(f"organization {organization_id} not found")
            if not p.reaches_organization("read_robot", org_id):
                raise deny("read_robot", f"organization {organization_id}")
            where["organization_id"] = org_id
        within = None if scope.everything else Within(scope.organizations, scope.locations, scope.robots)
        return within, where

    def update(
        self,
        p: Principal,
        machine_id: str,
        *,
        name: str | None = None,
        location_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Machine:
        with self.store.write() as conn:
            return self._update(conn, p, machine_id, name=name, location_id=location_id, metadata=metadata)

    def edit(
        self, p: Principal, machine_id: str, *, name: str | None = None, location_id: str | None = None
    ) -> MachineSummary:
        """``update``, answered with the machine as ``summary`` gives it, in one transaction."""
        with self.store.write() as conn:
            machine = self._update(conn, p, machine_id, name=name, location_id=location_id)
            return _summary(machines_with_parts(conn, None, id=machine.id)[0])

    def _update(
        self,
        conn: Tx,
        p: Principal,
        machine_id: str,
        *,
        name: str | None = None,
        location_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Machine:
        found = access.machine(conn, p, "update_robot", machine_id)
        if location_id is not None:  # the new location before the machine (parents first)
            q.lock_rows(conn, "locations", [validate.entity_id(location_id, "location")])
        row = self._locked_machine(conn, found["id"])
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = validate.name(name, "machine name")
        if location_id is not None and location_id != row["location_id"]:
            target = access.location(conn, p, "create_robot", location_id)
            if target["organization_id"] != row["organization_id"]:
                raise Invalid(
                    f"machine {row['id']} can only move to a location of its own organization"
                    f" {row['organization_id']}"
                )
            changes["location_id"] = target["id"]
        if metadata is not None:
            changes["metadata"] = validate.json_object(metadata, "metadata")
        if changes:
            q.update_row(conn, "machines", row["id"], **changes)
            row.update(changes)
            if "name" in changes or "location_id" in changes:
                for part in q.find(conn, "parts", machine_id=row["id"]):
                    q.update_row(
                        conn,
                        "parts",
                        part["id"],
                        **_addresses(row["name"], part["name"], row["location_id"]),
                    )
        (machine,) = _with_presence(conn, [Machine.from_row(row)])
        return machine

    def delete(self, p: Principal, machine_id: str) -> None:
        with self.store.write() as conn:
            row = access.machine(conn, p, "delete_robot", machine_id)
            q.delete_rows(conn, "authorizations", resource_id=row["id"])
            q.delete_rows(conn, "machines", id=row["id"])

    # --- parts ----------------------------------------------------------------------------

    def _locked_machine(self, conn: Tx, machine_id: str) -> dict[str, Any]:
        """Locks a machine whose row or parts (their names, which one is main) are read and then
        changed (``store.locks``: the machine before its parts); its row once locked."""
        row = q.get_locked(conn, "machines", machine_id)
        if row is None:
            raise NotFound(f"machine {machine_id} was deleted meanwhile")
        return dict(row)

    def _part_to_change(
        self, conn: Tx, p: Principal, action: str, part_id: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The part and its machine, the machine locked and both read once it is."""
        found, machine = access.part(conn, p, action, part_id)
        locked_machine = self._locked_machine(conn, machine["id"])
        row = q.get(conn, "parts", found["id"])
        if row is None:
            raise NotFound(f"part {part_id} was deleted meanwhile")
        return dict(row), locked_machine

    def _insert_part(self, conn: Tx, machine: Row | dict[str, Any], name: str, main: bool) -> dict[str, Any]:
        name = validate.name(name, "part name")
        if q.find_one(conn, "parts", machine_id=machine["id"], name=name):
            raise Conflict(f"machine {machine['id']} already has a part named {name!r}")
        row = {
            "id": new_id(),
            "machine_id": machine["id"],
            "name": name,
            "main_part": main,
            "restart_required": False,
            "config": {},
            "config_updated_at": None,
            "last_access": None,
            "metadata": {},
            "created_at": utcnow(),
            **_addresses(machine["name"], name, machine["location_id"]),
        }
        q.insert_row(conn, "parts", **row)
        _insert_secret(conn, row["id"])  # a new part comes with one secret to connect with
        return row

    def create_part(self, p: Principal, machine_id: str, name: str) -> Part:
        with self.store.write() as conn:
            machine = self._locked_machine(conn, access.machine(conn, p, "update_robot", machine_id)["id"])
            return Part.from_row(self._insert_part(conn, machine, name, main=False))

    def get_part(self, p: Principal, part_id: str) -> Part:
        with self.store.read() as conn:
            row, _ = access.part(conn, p, "read_robot", part_id)
        return Part.from_row(row)

    def part_details(self, p: Principal, part_id: str) -> PartDetails:
        """A part, its machine and its secrets, in one read; the secrets only for callers who
        may manage them (others get an empty list)."""
        with self.store.read() as conn:
            return self._details(conn, p, part_id)

    def _details(self, conn: Tx, p: Principal, part_id: str) -> PartDetails:
        row, machine = access.part(conn, p, "read_robot", part_id)
        secrets = []
        if _manages_secrets(conn, p, machine):
            secrets = [Secret.from_row(r) for r in q.find(conn, "part_secrets", part_id=row["id"])]
        return PartDetails(Part.from_row(row), Machine.from_row(machine), secrets)

    def parts_details(self, p: Principal, machine_id: str) -> builtins.list[PartDetails]:
        """Every part of the machine as ``part_details`` gives it, in one read of three statements."""
        with self.store.read() as conn:
            row = access.machine(conn, p, "read_robot", machine_id)
            machine = Machine.from_row(row)
            parts = [Part.from_row(r) for r in q.find(conn, "parts", machine_id=machine.id)]
            secrets: dict[str, builtins.list[Secret]] = {part.id: [] for part in parts}
            if parts and _manages_secrets(conn, p, row):
                for r in q.find(conn, "part_secrets", part_id=list(secrets)):
                    secrets[r["part_id"]].append(Secret.from_row(r))
        return [PartDetails(part, machine, secrets[part.id]) for part in parts]

    def parts(self, p: Principal, machine_id: str) -> builtins.list[Part]:
        with self.store.read() as conn:
            machine = access.machine(conn, p, "read_robot", machine_id)
            return [Part.from_row(r) for r in q.find(conn, "parts", machine_id=machine["id"])]

    def list_parts(self, p: Principal, machine_id: str, page: PageRequest) -> Page[Part]:
        """A machine's parts, a page at a time, oldest first."""
        window = PARTS.open(page)
        with self.store.read() as conn:
            machine = access.machine(conn, p, "read_robot", machine_id)
            rows = q.page(
                conn, "parts", limit=window.limit, after=window.after_text(), machine_id=machine["id"]
            )
        return PARTS.page(rows, window, Part.from_row)

    def update_part(
        self,
        p: Principal,
        part_id: str,
        *,
        name: str | None = None,
        main_part: bool | None = None,
        metadata: dict[str, Any] | None = None,
        restart_required: bool | None = None,
    ) -> Part:
        """``main_part=True`` makes this the main part; the previous main part stops being one."""
        with self.store.write() as conn:
            return self._update_part(
                conn,
                p,
                part_id,
                name=name,
                main_part=main_part,
                metadata=metadata,
                restart_required=restart_required,
            )

    def edit_part(
        self,
        p: Principal,
        part_id: str,
        *,
        name: str | None = None,
        config: dict[str, Any] | None = None,
        unchanged_since: datetime | None = None,
    ) -> PartDetails:
        """Renames the part and replaces its config (the one it replaces goes into the history), in
        one transaction: both happen or neither does. With ``unchanged_since``, a config that
        changed after that time refuses the whole edit. Returns the part as it is then, with its
        machine and secrets."""
        if config is not None:
            config = validate.json_object(config, "config", validate.CONFIG_MAX_BYTES)
        with self.store.write() as conn:
            self._update_part(conn, p, part_id, name=name)
            if config is not None:
                self._replace_config(conn, p, part_id, config, unchanged_since)
            details = self._details(conn, p, part_id)
        if config is not None:
            self._config_changed(details.part)
        return details

    def _update_part(
        self,
        conn: Tx,
        p: Principal,
        part_id: str,
        *,
        name: str | None = None,
        main_part: bool | None = None,
        metadata: dict[str, Any] | None = None,
        restart_required: bool | None = None,
    ) -> Part:
        row, machine = self._part_to_change(conn, p, "update_robot", part_id)
        changes: dict[str, Any] = {}
        if name is not None and name != row["name"]:
            changes["name"] = validate.name(name, "part name")
            if q.find_one(conn, "parts", machine_id=machine["id"], name=changes["name"]):
                raise Conflict(f"machine {machine['id']} already has a part named {changes['name']!r}")
            changes.update(_addresses(machine["name"], changes["name"], machine["location_id"]))
        if main_part is not None and main_part != row["main_part"]:
            if not main_part:
                raise FailedPrecondition("a machine needs a main part: mark another part main instead")
            q.update_where(conn, "parts", {"machine_id": machine["id"]}, main_part=False)
            changes["main_part"] = True
        if metadata is not None:
            changes["metadata"] = validate.json_object(metadata, "metadata")
        if restart_required is not None:
            changes["restart_required"] = restart_required
        if changes:
            q.update_row(conn, "parts", row["id"], **changes)
            row.update(changes)
        return Part.from_row(row)

    def delete_part(self, p: Principal, part_id: str) -> None:
        with self.store.write() as conn:
            row, _ = self._part_to_change(conn, p, "update_robot", part_id)
            if row["main_part"]:
                raise FailedPrecondition("the main part cannot be deleted: mark another part main first")
            q.delete_rows(conn, "parts", id=row["id"])

    def mark_restart(self, p: Principal, part_id: str) -> Part:
        with self.store.write() as conn:
            row, _ = access.part(conn, p, "control_robot", part_id)
            q.update_row(conn, "parts", row["id"], restart_required=True)
        return Part.from_row({**row, "restart_required": True})

    # --- config ---------------------------------------------------------------------------

    def get_config(self, p: Principal, part_id: str) -> dict[str, Any]:
        with self.store.read() as conn:
            row, _ = access.part(conn, p, "read_robot_config", part_id)
        if p.kind == "part":
            with self.store.write() as conn:
                q.update_row(conn, "parts", row["id"], last_access=utcnow())
        return dict(row["config"] or {})

    def set_config(
        self, p: Principal, part_id: str, config: dict[str, Any], *, unchanged_since: datetime | None = None
    ) -> Part:
        """Replaces the part's config; the config it replaces goes into the history. With
        ``unchanged_since``, refused when the config changed after that time."""
        config = validate.json_object(config, "config", validate.CONFIG_MAX_BYTES)
        with self.store.write() as conn:
            part = self._replace_config(conn, p, part_id, config, unchanged_since)
        self._config_changed(part)
        return part

    def _replace_config(
        self, conn: Tx, p: Principal, part_id: str, config: dict[str, Any], unchanged_since: datetime | None
    ) -> Part:
        now = utcnow()
        found, _ = access.part(conn, p, "update_robot_config", part_id)
        row = q.get_locked(conn, "parts", found["id"])  # the config it replaces goes to the history
        if row is None:
            raise NotFound(f"part {part_id} was deleted meanwhile")
        last_change = row["config_updated_at"] or row["created_at"]
        validate.unchanged_since(last_change, unchanged_since, f"the config of part {part_id}")
        q.insert_row(
            conn,
            "part_config_history",
            id=new_id(),
            part_id=row["id"],
            previous_config=row["config"] or {},
            edited_by=p.display,
            edited_at=now,
        )
        q.update_row(conn, "parts", row["id"], config=config, config_updated_at=now)
        record_part_fragments(conn, row["id"], config)
        return Part.from_row({**row, "config": config, "config_updated_at": now})

    def config_history(self, p: Principal, part_id: str, page: PageRequest) -> Page[ConfigRevision]:
        """Newest edit first."""
        window = CONFIG_HISTORY.open(page)
        with self.store.read() as conn:
            row, _ = access.part(conn, p, "read_robot_config", part_id)
            rows = q.page_desc(
                conn, "part_config_history", limit=window.limit, before=window.after_text(), part_id=row["id"]
            )
        return CONFIG_HISTORY.page(rows, window, ConfigRevision.from_row)

    def part_history(
        self,
        p: Principal,
        part_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> PartHistory:
        """The part, its machine and its config revisions edited from ``start`` until before ``end``,
        newest first, at most ``limit`` of them, in one read."""
        with self.store.read() as conn:
            row, machine = access.part(conn, p, "read_robot_config", part_id)
            rows = q.find(conn, "part_config_history", part_id=row["id"])
        revisions = []
        for revision in map(ConfigRevision.from_row, reversed(rows)):
            if (start and revision.edited_at < start) or (end and revision.edited_at >= end):
                continue
            revisions.append(revision)
            if limit and len(revisions) >= limit:
                break
        return PartHistory(Part.from_row(row), Machine.from_row(machine), revisions)

    # --- secrets --------------------------------------------------------------------------

    def create_secret(self, p: Principal, part_id: str) -> Secret:
        with self.store.write() as conn:
            part, _ = access.part(conn, p, "manage_robot_secrets", part_id)
            return _insert_secret(conn, part["id"])

    def add_secret(self, p: Principal, part_id: str) -> PartDetails:
        """``create_secret``, answered with the part as ``part_details`` gives it (its secrets with
        the new one), in one transaction."""
        with self.store.write() as conn:
            part, _ = access.part(conn, p, "manage_robot_secrets", part_id)
            _insert_secret(conn, part["id"])
            return self._details(conn, p, part["id"])

    def secrets(self, p: Principal, part_id: str) -> builtins.list[Secret]:
        with self.store.read() as conn:
            part, _ = access.part(conn, p, "manage_robot_secrets", part_id)
            return [Secret.from_row(r) for r in q.find(conn, "part_secrets", part_id=part["id"])]

    def delete_secret(self, p: Principal, part_id: str, secret_id: str) -> None:
        with self.store.write() as conn:
            part, _ = access.part(conn, p, "manage_robot_secrets", part_id)
            sid = validate.entity_id(secret_id, "part secret")
            if not q.delete_rows(conn, "part_secrets", id=sid, part_id=part["id"]):
                raise NotFound(f"secret {secret_id} not found on part {part['id']}")


def _with_presence(conn: Tx, machines: builtins.list[Machine]) -> builtins.list[Machine]:
    """The machines with their agents' presence (online, last seen), read in one statement."""
    presence = agents_store.machines_presence(conn, [m.id for m in machines])
    found = []
    for machine in machines:
        until, last = presence.get(machine.id, (None, None))
        found.append(replace(machine, online=is_online(until), last_seen=as_utc(last)))
    return found


def _manages_secrets(conn: Tx, p: Principal, machine: Row) -> bool:
    """Whether the caller may manage the secrets of the machine's parts (``access.part`` with
    ``manage_robot_secrets``, on rows already read): a part's own secret never may."""
    if p.kind == "part":
        return False
    scope = p.scope(conn, "manage_robot_secrets")
    return scope.covers_robot(machine["id"], machine["location_id"], machine["organization_id"])


def _summary(row: Row) -> MachineSummary:
    last_access = row["last_access"]
    return MachineSummary(
        Machine.from_row(row), as_utc(last_access) if last_access else None, row["main_part_id"]
    )


def _insert_secret(conn: Tx, part_id: str) -> Secret:
    secret = new_secret(PART_SECRET_PREFIX)
    row = {"id": new_id(), "secret": secret, "created_at": utcnow()}
    q.insert_row(conn, "part_secrets", part_id=part_id, secret_hash=hash_secret(secret), **row)
    return Secret.from_row(row)
