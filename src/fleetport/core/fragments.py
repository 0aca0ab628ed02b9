"""Fragments: pieces of machine configuration an organization keeps once and parts reuse.

A part's config names the fragments it uses in its ``"fragments"`` list, as ids or as objects
with an ``"id"``; ``Machines.set_config`` keeps the part_fragments table in step with it, and the
usage counts of a fragment come from there. A fragment is private (its organization's members
read it), public (anyone signed in reads it, and it shows in everyone's listings) or
public_unlisted (anyone signed in reads it by id; it shows only in its organization's listings).
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from fleetport.core import access, validate
from fleetport.core.errors import FailedPrecondition, Invalid, NotFound
from fleetport.core.ids import is_uuid, new_id
from fleetport.core.models import Row, as_utc, utcnow
from fleetport.core.pages import Listing, Page, PageRequest
from fleetport.core.permissions import Principal, deny
from fleetport.store import Store, Tx
from fleetport.store import catalog as c
from fleetport.store import queries as q

VISIBILITIES: tuple[str, ...] = ("private", "public", "public_unlisted")
HISTORY = Listing("fragment-history", default=10, maximum=1000)


@dataclass
class Fragment:
    id: str
    organization_id: str
    organization_name: str
    name: str
    config: dict[str, Any]
    visibility: str
    created_at: datetime
    updated_at: datetime
    robot_part_count: int
    organization_count: int
    only_used_by_owner: bool

    @property
    def public(self) -> bool:
        return self.visibility == "public"

    @classmethod
    def from_row(cls, r: Row, usage: tuple[int, int, int] = (0, 0, 0)) -> Fragment:
        parts, orgs, foreign = usage
        return cls(
            r["id"],
            r["organization_id"],
            r["organization_name"],
            r["name"],
            r["config"] or {},
            r["visibility"],
            as_utc(r["created_at"]),
            as_utc(r["updated_at"]),
            parts,
            orgs,
            foreign == 0,
        )


@dataclass
class FragmentRevision:
    """One entry of a fragment's history: the fragment as it was before an edit."""

    id: str
    fragment_id: str
    previous_name: str
    previous_config: dict[str, Any]
    previous_visibility: str
    edited_by: str
    edited_at: datetime

    @classmethod
    def from_row(cls, r: Row) -> FragmentRevision:
        return cls(
            r["id"],
            r["fragment_id"],
            r["previous_name"],
            r["previous_config"] or {},
            r["previous_visibility"],
            r["edited_by"],
            as_utc(r["edited_at"]),
        )


class FragmentHistory(NamedTuple):
    """A fragment as it is now and a page of its edits, newest first."""

    fragment: Fragment
    revisions: Page[FragmentRevision]


def check_visibility(value: str) -> str:
    if value not in VISIBILITIES:
        raise Invalid(f"visibility must be one of {', '.join(VISIBILITIES)}, got {value!r}")
    return value


def fragment_ids_in(config: dict[str, Any]) -> set[str]:
    """The fragment ids a part's config lists under ``"fragments"`` (ids, or objects with an
    ``"id"``). Entries that cannot be fragment ids are ignored: a config may name fragments this
    server does not know."""
    listed = config.get("fragments")
    if not isinstance(listed, list):
        return set()
    ids: set[str] = set()
    for entry in listed:
        value = entry.get("id") if isinstance(entry, dict) else entry
        if isinstance(value, str) and is_uuid(value) and len(value) == 36:
            ids.add(value.lower())
    return ids


def record_part_fragments(conn: Tx, part_id: str, config: dict[str, Any]) -> None:
    """Keeps the part_fragments table in step with a part's new config. The fragments it names are
    locked (after the part), so that a fragment is not deleted while a config comes to use it."""
    used = sorted(fragment_ids_in(config))
    q.lock_rows(conn, "fragments", used)
    c.set_part_fragments(conn, part_id, used)


class Fragments:
    def __init__(self, store: Store) -> None:
        self.store = store

    # --- loading and checking ----------------------------------------------------------------

    def _load(self, conn: Tx, fragment_id: str) -> Row:
        row = c.fragment(conn, validate.entity_id(fragment_id, "fragment"))
        if row is None:
            raise NotFound(f"fragment {fragment_id} not found")
        return row

    def _readable(self, conn: Tx, p: Principal, fragment_id: str) -> Row:
        """Public and unlisted fragments are readable by anyone signed in; private ones with
        read_organization on their organization, or by a part whose config uses them."""
        row = self._load(conn, fragment_id)
        if row["visibility"] in ("public", "public_unlisted"):
            return row
        if p.scope(conn, "read_organization").covers_organization(row["organization_id"]):
            return row
        if p.kind == "part" and p.part_id and c.part_uses_fragment(conn, p.part_id, row["id"]):
            return row
        raise deny("read_organization", f"the organization of fragment {fragment_id}")

    def _writable(self, conn: Tx, p: Principal, fragment_id: str) -> Row:
        row = self._load(conn, fragment_id)
        if not p.scope(conn, "update_organization").covers_organization(row["organization_id"]):
            # whoever cannot even read it learns no more than that
            self._readable(conn, p, fragment_id)
            raise deny("update_organization", f"the organization of fragment {fragment_id}")
        return row

    def _writable_locked(self, conn: Tx, p: Principal, fragment_id: str) -> Row:
        """``_writable``, the fragment locked and read once it is (``store.locks``)."""
        q.lock_rows(conn, "fragments", [self._writable(conn, p, fragment_id)["id"]])
        return self._writable(conn, p, fragment_id)

    @staticmethod
    def _build(conn: Tx, rows: Sequence[Row]) -> builtins.list[Fragment]:
        usage = c.fragment_usage(conn, [r["id"] for r in rows])
        return [Fragment.from_row(r, usage.get(r["id"], (0, 0, 0))) for r in rows]

    # --- operations ---------------------------------------------------------------------------

    def create(
        self,
        p: Principal,
        organization_id: str,
        name: str,
        config: dict[str, Any] | None = None,
        visibility: str = "private",
    ) -> Fragment:
        now = utcnow()
        row: dict[str, Any] = {
            "id": new_id(),
            "name": validate.name(name, "fragment name"),
            "config": validate.json_object(
                {} if config is None else config, "fragment config", validate.CONFIG_MAX_BYTES
            ),
            "visibility": check_visibility(visibility),
            "created_at": now,
            "updated_at": now,
        }
        with self.store.write() as conn:
            org = access.organization(conn, p, "update_organization", organization_id)
            row["organization_id"] = org["id"]
            q.insert_row(conn, "fragments", **row)
        return Fragment.from_row({**row, "organization_name": org["name"]})

    def get(self, p: Principal, fragment_id: str) -> Fragment:
        with self.store.read() as conn:
            return self._build(conn, [self._readable(conn, p, fragment_id)])[0]

    def list(
        self,
        p: Principal,
        organization_id: str,
        *,
        show_public: bool = True,
        visibilities: builtins.list[str] | None = None,
    ) -> builtins.list[Fragment]:
        """The organization's fragments and, with ``show_public``, public fragments of every
        organization (never the unlisted ones of others), narrowed to ``visibilities`` if any are
        given (an empty list, like None, narrows nothing)."""
        wanted = [check_visibility(v) for v in visibilities] if visibilities else None
        with self.store.read() as conn:
            org = access.organization(conn, p, "read_organization", organization_id)
            rows = c.fragments_of(conn, org["id"], include_public=show_public, visibilities=wanted)
            return self._build(conn, rows)

    def update(
        self,
        p: Principal,
        fragment_id: str,
        *,
        name: str,
        config: dict[str, Any] | None = None,
        visibility: str | None = None,
        unchanged_since: datetime | None = None,
    ) -> Fragment:
        """Renames the fragment and replaces its config and visibility where given; the previous
        name, config and visibility go into its history with who edited and when. With
        ``unchanged_since``, refused when the fragment changed after that time."""
        changes: dict[str, Any] = {"name": validate.name(name, "fragment name")}
        if config is not None:
            changes["config"] = validate.json_object(config, "fragment config", validate.CONFIG_MAX_BYTES)
        if visibility is not None:
            changes["visibility"] = check_visibility(visibility)
        now = changes["updated_at"] = utcnow()
        with self.store.write() as conn:
            row = self._writable_locked(conn, p, fragment_id)  # what it was goes to the history
            validate.unchanged_since(row["updated_at"], unchanged_since, f"fragment {fragment_id}")
            q.insert_row(
                conn,
                "fragment_history",
                id=new_id(),
                fragment_id=row["id"],
                previous_name=row["name"],
                previous_config=row["config"] or {},
                previous_visibility=row["visibility"],
                edited_by=p.display,
                edited_at=now,
            )
            q.update_row(conn, "fragments", row["id"], **changes)
            return self._build(conn, [{**row, **changes}])[0]

    def delete(self, p: Principal, fragment_id: str) -> None:
        """Refused while any part's config uses the fragment."""
        with self.store.write() as conn:
            row = self._writable_locked(conn, p, fragment_id)
            used = c.parts_using_fragment(conn, row["id"])
            if used:
                raise FailedPrecondition(
                    f"fragment {fragment_id} is used by {used} machine part(s): remove it from their "
                    "configs first"
                )
            q.delete_rows(conn, "fragment_history", fragment_id=row["id"])
            q.delete_rows(conn, "fragments", id=row["id"])

    def history(self, p: Principal, fragment_id: str, page: PageRequest) -> Page[FragmentRevision]:
        """The fragment's edits, newest first, each holding the fragment as it was before it
        (10 a page unless the request says otherwise)."""
        with self.store.read() as conn:
            return self._history(conn, p, fragment_id, page).revisions

    def history_of(self, p: Principal, fragment_id: str, page: PageRequest) -> FragmentHistory:
        """``history`` with the fragment as it is now, in one read."""
        with self.store.read() as conn:
            return self._history(conn, p, fragment_id, page, current=True)

    def _history(
        self, conn: Tx, p: Principal, fragment_id: str, page: PageRequest, *, current: bool = False
    ) -> FragmentHistory:
        window = HISTORY.open(page)
        row = self._readable(conn, p, fragment_id)
        rows = q.page_desc(
            conn, "fragment_history", limit=window.limit, before=window.after_text(), fragment_id=row["id"]
        )
        fragment = self._build(conn, [row])[0] if current else Fragment.from_row(row)
        return FragmentHistory(fragment, HISTORY.page(rows, window, FragmentRevision.from_row))
