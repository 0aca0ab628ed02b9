"""Locations: nested, owned by one organization, shareable with others, with secrets."""

from __future__ import annotations

import builtins
from typing import Any

from fleetport.core import access, validate
from fleetport.core.errors import Conflict, FailedPrecondition, Invalid, NotFound
from fleetport.core.ids import new_id, new_secret
from fleetport.core.models import (
    Location,
    LocationSummary,
    Secret,
    utcnow,
)
from fleetport.core.pages import Listing, Page, PageRequest, Window
from fleetport.core.permissions import Principal, deny
from fleetport.store import Store, Tx
from fleetport.store import queries as q
from fleetport.store.fleet import Within, locations_page, robot_counts

SUMMARY_PAGE = 500  # locations read per statement while listing them all with their counts
LOCATIONS = Listing("locations")


class Locations:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(
        self,
        p: Principal,
        organization_id: str,
        name: str,
        *,
        parent_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Location:
        row = {
            "id": new_id(),
            "name": validate.name(name, "location name"),
            "parent_id": None,
            "metadata": validate.json_object(metadata or {}, "metadata"),
            "created_at": utcnow(),
        }
        with self.store.write() as conn:
            if parent_id:
                parent = access.location(conn, p, "update_location", parent_id)
                q.lock_rows(conn, "locations", [parent["id"]])  # not deleted meanwhile
                if parent["organization_id"] != validate.entity_id(organization_id, "organization"):
                    raise Invalid(f"parent location {parent_id} belongs to another organization")
                row["parent_id"] = parent["id"]
                row["organization_id"] = parent["organization_id"]
            else:
                row["organization_id"] = access.organization(conn, p, "create_location", organization_id)[
                    "id"
                ]
            q.insert_row(conn, "locations", **row)
            _insert_secret(conn, str(row["id"]))  # a new location comes with one secret
        return Location.from_row(row)

    def get(self, p: Principal, location_id: str) -> Location:
        with self.store.read() as conn:
            return self._get(conn, p, location_id)

    def _get(self, conn: Tx, p: Principal, location_id: str) -> Location:
        loc = Location.from_row(access.location(conn, p, "read_location", location_id))
        loc.shared_with = _guests_seen(conn, p, loc.id, loc.organization_id)
        return loc

    def summary(self, p: Principal, location_id: str) -> LocationSummary:
        """The location, with the organizations it is shared with, its number of machines and its
        secrets (only for callers who may manage them)."""
        with self.store.read() as conn:
            return self._summary(conn, p, location_id)

    def _summary(self, conn: Tx, p: Principal, location_id: str) -> LocationSummary:
        loc = self._get(conn, p, location_id)
        secrets = _secrets_seen(conn, p, [loc]).get(loc.id, [])
        return LocationSummary(loc, robot_counts(conn, [loc.id]).get(loc.id, 0), secrets)

    def list(self, p: Principal, page: PageRequest, *, organization_id: str | None = None) -> Page[Location]:
        """Locations the caller may read; with ``organization_id``, those owned by or shared with it
        (with the locations nested in them)."""
        window = LOCATIONS.open(page)
        with self.store.read() as conn:
            return self._page(conn, p, window, organization_id)

    def summaries(self, p: Principal, organization_id: str | None = None) -> builtins.list[LocationSummary]:
        """Every location ``list`` would page through, each with its number of machines and the
        secrets the caller may manage, in one read."""
        found: builtins.list[Location] = []
        window = Window(SUMMARY_PAGE, None)
        with self.store.read() as conn:
            while True:
                page = self._page(conn, p, window, organization_id)
                found += page.items
                if not page.next_cursor:
                    break
                window = Window(SUMMARY_PAGE, (found[-1].id,))
            counts = robot_counts(conn, [loc.id for loc in found])
            secrets = _secrets_seen(conn, p, found)
        return [LocationSummary(loc, counts.get(loc.id, 0), secrets.get(loc.id, [])) for loc in found]

    def _page(self, conn: Tx, p: Principal, window: Window, organization_id: str | None) -> Page[Location]:
        scope = p.scope(conn, "read_location")
        if organization_id is not None:
            org_id = validate.entity_id(organization_id, "organization")
            if q.get(conn, "organizations", org_id) is None:
                raise NotFound(f"organization {organization_id} not found")
            shared = q.location_descendants(conn, q.locations_shared_with(conn, [org_id]))
            if not (p.reaches_organization("read_location", org_id) or scope.locations & shared):
                raise deny("read_location", f"organization {org_id}")
        else:
            org_id, shared = None, set()
        within = None if scope.everything else Within(scope.organizations, scope.locations)
        rows = locations_page(
            conn, within, limit=window.limit, after=window.after_text(), organization_id=org_id, shared=shared
        )
        return LOCATIONS.page(rows, window, Location.from_row)

    def update(
        self,
        p: Principal,
        location_id: str,
        *,
        name: str | None = None,
        parent_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Location:
        """``parent_id`` moves the location under another one of its organization; pass "" to make it a
        top-level location."""
        with self.store.write() as conn:
            return self._update(conn, p, location_id, name=name, parent_id=parent_id, metadata=metadata)

    def edit(
        self, p: Principal, location_id: str, *, name: str | None = None, parent_id: str | None = None
    ) -> LocationSummary:
        """``update``, answered with the location as ``summary`` gives it, in one transaction."""
        with self.store.write() as conn:
            self._update(conn, p, location_id, name=name, parent_id=parent_id)
            return self._summary(conn, p, location_id)

    def _update(
        self,
        conn: Tx,
        p: Principal,
        location_id: str,
        *,
        name: str | None = None,
        parent_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Location:
        row = dict(access.location(conn, p, "update_location", location_id))
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = validate.name(name, "location name")
        if parent_id is not None:
            if parent_id == "":
                changes["parent_id"] = None
            else:
                parent = access.location(conn, p, "update_location", parent_id)
                if parent["organization_id"] != row["organization_id"]:
                    raise Invalid("a location can only be nested under a location of its own organization")
                # it and the new parent's line locked before the line is read: crossing moves queue
                line = [a["id"] for a in q.location_ancestors(conn, parent["id"])]
                q.lock_rows(conn, "locations", [row["id"], *line])
                if row["id"] in {a["id"] for a in q.location_ancestors(conn, parent["id"])}:
                    raise Invalid("a location cannot be nested under itself or one of its sub-locations")
                changes["parent_id"] = parent["id"]
        if metadata is not None:
            changes["metadata"] = validate.json_object(metadata, "metadata")
        if changes:
            q.update_row(conn, "locations", row["id"], **changes)
            row.update(changes)
        return Location.from_row(row)

    def delete(self, p: Principal, location_id: str) -> None:
        with self.store.write() as conn:
            row = access.location(conn, p, "delete_location", location_id)
            q.lock_rows(conn, "locations", [row["id"]])  # no machine or sub-location comes meanwhile
            if q.count(conn, "machines", location_id=row["id"]):
                raise FailedPrecondition(
                    f"location {row['id']} still has machines; move or delete them first"
                )
            if q.count(conn, "locations", parent_id=row["id"]):
                raise FailedPrecondition(f"location {row['id']} has sub-locations; delete or move them first")
            q.delete_rows(conn, "authorizations", resource_id=row["id"])
            q.delete_rows(conn, "locations", id=row["id"])

    # --- sharing --------------------------------------------------------------------------

    def share(self, p: Principal, location_id: str, organization_id: str) -> None:
        with self.store.write() as conn:
            row = access.location(conn, p, "update_location", location_id)
            org_id = validate.entity_id(organization_id, "organization")
            if q.get(conn, "organizations", org_id) is None:
                raise NotFound(f"organization {organization_id} not found")
            if org_id == row["organization_id"]:
                raise Invalid("a location is always visible to the organization that owns it")
            q.lock_rows(conn, "locations", [row["id"]])  # concurrent shares of it queue here
            if q.find_one(conn, "location_shares", location_id=row["id"], organization_id=org_id):
                raise Conflict(f"location {row['id']} is already shared with organization {org_id}")
            q.insert_row(
                conn, "location_shares", location_id=row["id"], organization_id=org_id, created_at=utcnow()
            )

    def unshare(self, p: Principal, location_id: str, organization_id: str) -> None:
        with self.store.write() as conn:
            row = access.location(conn, p, "update_location", location_id)
            org_id = validate.entity_id(organization_id, "organization")
            if not q.delete_rows(conn, "location_shares", location_id=row["id"], organization_id=org_id):
                raise NotFound(f"location {row['id']} is not shared with organization {org_id}")

    def organizations_with_access(self, p: Principal, location_id: str) -> builtins.list[tuple[str, str]]:
        """(id, name) of the owning organization, then of those the location is shared with."""
        with self.store.read() as conn:
            loc = access.location(conn, p, "read_location", location_id)
            shared = _guests_seen(conn, p, loc["id"], loc["organization_id"])
            names = {
                o["id"]: o["name"]
                for o in q.find(conn, "organizations", id=[loc["organization_id"], *shared])
            }
        return [(org_id, names[org_id]) for org_id in [loc["organization_id"], *shared]]

    # --- secrets --------------------------------------------------------------------------

    def create_secret(self, p: Principal, location_id: str) -> Secret:
        with self.store.write() as conn:
            loc = access.location(conn, p, "manage_location_secrets", location_id)
            return _insert_secret(conn, loc["id"])

    def add_secret(self, p: Principal, location_id: str) -> builtins.list[Secret]:
        """``create_secret``, answered with every secret of the location, in one transaction."""
        with self.store.write() as conn:
            loc = access.location(conn, p, "manage_location_secrets", location_id)
            _insert_secret(conn, loc["id"])
            return [Secret.from_row(r) for r in q.find(conn, "location_secrets", location_id=loc["id"])]

    def secrets(self, p: Principal, location_id: str) -> builtins.list[Secret]:
        with self.store.read() as conn:
            loc = access.location(conn, p, "manage_location_secrets", location_id)
            return [Secret.from_row(r) for r in q.find(conn, "location_secrets", location_id=loc["id"])]

    def delete_secret(self, p: Principal, location_id: str, secret_id: str) -> None:
        with self.store.write() as conn:
            loc = access.location(conn, p, "manage_location_secrets", location_id)
            sid = validate.entity_id(secret_id, "location secret")
            if not q.delete_rows(conn, "location_secrets", id=sid, location_id=loc["id"]):
                raise NotFound(f"secret {secret_id} not found on location {loc['id']}")


def _guests_seen(conn: Tx, p: Principal, location_id: str, owner_id: str) -> builtins.list[str]:
    """The organizations a location is shared with, as the caller may know them: every one for a
    role in the owning organization; for a guest, only the organizations it holds roles in (whom
    else the owner shares with is not the guest's business)."""
    shared = [
        s["organization_id"]
        for s in q.find(conn, "location_shares", order_by="created_at", location_id=location_id)
    ]
    if p.reaches_organization("read_location", owner_id):
        return shared
    return [org_id for org_id in shared if p.reaches_organization("read_location", org_id)]


def _secrets_seen(
    conn: Tx, p: Principal, locations: builtins.list[Location]
) -> dict[str, builtins.list[Secret]]:
    """The secrets of the locations the caller may manage them on, by location, in one statement
    (none when it may manage none of them)."""
    scope = p.scope(conn, "manage_location_secrets")
    managed = [loc.id for loc in locations if scope.covers_location(loc.id, loc.organization_id)]
    found: dict[str, builtins.list[Secret]] = {}
    if managed:
        for r in q.find(conn, "location_secrets", location_id=managed):
            found.setdefault(r["location_id"], []).append(Secret.from_row(r))
    return found


def _insert_secret(conn: Tx, location_id: str) -> Secret:
    row = {"id": new_id(), "secret": new_secret(), "created_at": utcnow()}
    q.insert_row(conn, "location_secrets", location_id=location_id, **row)
    return Secret.from_row(row)
