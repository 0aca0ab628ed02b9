"""Organizations, their members and invites."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from fleetport.core import access, validate
from fleetport.core.errors import Conflict, FailedPrecondition, Invalid, NotFound, PermissionDenied
from fleetport.core.ids import new_id
from fleetport.core.models import (
    Authorization,
    GrantSpec,
    Invite,
    Member,
    Organization,
    Roster,
    User,
    utcnow,
)
from fleetport.core.pages import Listing, Page, PageRequest
from fleetport.core.permissions import Principal, validate_grant
from fleetport.store import Store, Tx
from fleetport.store import queries as q
from fleetport.store.fleet import Within, organizations_page

_UNSET: Any = object()

ORGANIZATIONS = Listing("organizations")
MEMBERS = Listing("members")
INVITES = Listing("invites")


class Organizations:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(
        self,
        p: Principal,
        name: str,
        *,
        public_namespace: str | None = None,
        region: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> Organization:
        if p.user_id is None and not p.is_admin:
            raise PermissionDenied("only users and administrator keys create organizations")
        row = {
            "id": new_id(),
            "name": validate.name(name, "organization name"),
            "public_namespace": validate.namespace(public_namespace) if public_namespace else None,
            "region": validate.bounded_text(region or "", "region", validate.ORG_TAG_MAX),
            "cid": "",
            "metadata": validate.json_object(metadata or {}, "metadata"),
            "created_at": utcnow(),
        }
        taken = f"public namespace {row['public_namespace']!r} is taken"
        with self.store.write(conflict=taken) as conn:  # or taken by another request at the same moment
            if row["public_namespace"] and q.find_one(
                conn, "organizations", public_namespace=row["public_namespace"]
            ):
                raise Conflict(taken)
            q.insert_row(conn, "organizations", **row)
            if p.user_id is not None:
                q.insert_row(
                    conn,
                    "authorizations",
                    id=new_id(),
                    subject_type="user",
                    subject_id=p.user_id,
                    role="owner",
                    resource_type="organization",
                    resource_id=row["id"],
                    organization_id=row["id"],
                    created_at=row["created_at"],
                )
        return Organization.from_row(row)

    def get(self, p: Principal, org_id: str) -> Organization:
        with self.store.read() as conn:
            return Organization.from_row(access.organization(conn, p, "read_organization", org_id))

    def list(self, p: Principal, page: PageRequest) -> Page[Organization]:
        window = ORGANIZATIONS.open(page)
        with self.store.read() as conn:
            scope = p.scope(conn, "read_organization")
            if not (scope.everything or scope.organizations):
                return Page([], None)
            within = None if scope.everything else Within(scope.organizations)
            rows = organizations_page(conn, within, limit=window.limit, after=window.after_text())
        return ORGANIZATIONS.page(rows, window, Organization.from_row)

    def list_all(self, p: Principal) -> builtins.list[Organization]:
        """Every organization ``list`` would page through, in one statement."""
        with self.store.read() as conn:
            scope = p.scope(conn, "read_organization")
            if scope.everything:
                rows = q.find(conn, "organizations")
            else:
                rows = q.find(conn, "organizations", id=scope.organizations) if scope.organizations else []
        return [Organization.from_row(r) for r in rows]

    def update(
        self,
        p: Principal,
        org_id: str,
        *,
        name: str | None = None,
        public_namespace: str | None = None,
        region: str | None = None,
        cid: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Organization:
        taken = f"public namespace {public_namespace!r} is taken"
        with self.store.write(conflict=taken) as conn:  # or taken by another request at the same moment
            found = access.organization(conn, p, "update_organization", org_id)
            row = dict(q.get_locked(conn, "organizations", found["id"]) or found)  # namespace set once
            changes: dict[str, Any] = {}
            if name is not None:
                changes["name"] = validate.name(name, "organization name")
            if public_namespace is not None and public_namespace != row["public_namespace"]:
                if row["public_namespace"]:
                    raise FailedPrecondition(
                        f"public namespace is already set to {row['public_namespace']!r} and cannot change"
                    )
                changes["public_namespace"] = validate.namespace(public_namespace)
                if q.find_one(conn, "organizations", public_namespace=public_namespace):
                    raise Conflict(taken)
            if region is not None:
                changes["region"] = validate.bounded_text(region, "region", validate.ORG_TAG_MAX)
            if cid is not None:
                changes["cid"] = validate.bounded_text(cid, "cid", validate.ORG_TAG_MAX)
            if metadata is not None:
                changes["metadata"] = validate.json_object(metadata, "metadata")
            if changes:
                q.update_row(conn, "organizations", row["id"], **changes)
                row.update(changes)
        return Organization.from_row(row)

    def delete(self, p: Principal, org_id: str) -> None:
        """Deletes the organization with its locations, machines, keys and invites."""
        with self.store.write() as conn:
            row = access.organization(conn, p, "delete_organization", org_id)
            q.delete_rows(conn, "organizations", id=row["id"])

    def list_for_user(self, p: Principal, user_id: str) -> builtins.list[Organization]:
        """The organizations a user belongs to, as far as the caller may see them."""
        with self.store.read() as conn:
            user_id = validate.entity_id(user_id, "user")
            if q.get(conn, "users", user_id) is None:
                raise NotFound(f"user {user_id} not found")
            scope = p.scope(conn, "read_organization")
            org_ids = {a["organization_id"] for a in q.authorizations_of(conn, "user", [user_id])}
            if not scope.everything:
                org_ids &= scope.organizations
            rows = q.find(conn, "organizations", id=org_ids)
        return [Organization.from_row(r) for r in rows]

    def namespace_available(self, p: Principal, public_namespace: str) -> bool:
        validate.namespace(public_namespace)
        with self.store.read() as conn:
            return q.find_one(conn, "organizations", public_namespace=public_namespace) is None

    # --- members --------------------------------------------------------------------------

    def members(self, p: Principal, org_id: str, page: PageRequest) -> Page[Member]:
        window = MEMBERS.open(page)
        with self.store.read() as conn:
            org = access.organization(conn, p, "read_organization", org_id)
            rows = q.members_of(conn, org["id"], limit=window.limit, after=window.after_text())
            members = MEMBERS.page(rows, window, lambda r: Member(User.from_row(r), []))
            by_user = {m.user.id: m.authorizations for m in members.items}
            for a in q.authorizations_of(conn, "user", by_user):
                if a["organization_id"] == org["id"]:
                    by_user[a["subject_id"]].append(Authorization.from_row(a))
        return members

    def roster(self, p: Principal, org_id: str) -> Roster:
        """Every member of the organization with their authorizations in it, and every pending
        invite, in one read (``members`` and ``invites`` without pages)."""
        with self.store.read() as conn:
            org = access.organization(conn, p, "read_organization", org_id)
            members = [Member(User.from_row(r), []) for r in q.all_members_of(conn, org["id"])]
            by_user = {m.user.id: m.authorizations for m in members}
            for a in q.find(conn, "authorizations", organization_id=org["id"], subject_type="user"):
                if a["subject_id"] in by_user:
                    by_user[a["subject_id"]].append(Authorization.from_row(a))
            invites = [Invite.from_row(r) for r in q.find(conn, "invites", organization_id=org["id"])]
        return Roster(members, invites)

    def remove_member(self, p: Principal, org_id: str, user_id: str) -> None:
        with self.store.write() as conn:
            org = access.organization(conn, p, "manage_organization_members", org_id)
            q.lock_rows(conn, "organizations", [org["id"]])  # two removals cannot both leave no owner
            user_id = validate.entity_id(user_id, "user")
            owner_grant = {"organization_id": org["id"], "role": "owner", "resource_type": "organization"}
            was_owner = q.find_one(
                conn, "authorizations", subject_type="user", subject_id=user_id, **owner_grant
            )
            removed = q.delete_rows(
                conn, "authorizations", organization_id=org["id"], subject_type="user", subject_id=user_id
            )
            if removed == 0:
                raise NotFound(f"user {user_id} is not a member of organization {org['id']}")
            if was_owner and not q.find_one(conn, "authorizations", subject_type="user", **owner_grant):
                raise FailedPrecondition(
                    "this is the organization's last owner: make another member owner first"
                )

    # --- invites --------------------------------------------------------------------------
    # An invite is named by its id or, as some dialects do, by the email address it was sent to
    # (an organization holds one invite per address); either way the change is one transaction.

    def _check_grants(
        self, conn: Tx, org_id: str, grants: builtins.list[GrantSpec]
    ) -> builtins.list[dict[str, str]]:
        if not grants:
            raise Invalid("an invite needs at least one authorization")
        for g in grants:
            validate_grant(g.role, g.resource_type)
            if access.resource_organization(conn, g.resource_type, g.resource_id) != org_id:
                raise Invalid(f"{g.resource_type} {g.resource_id} does not belong to organization {org_id}")
        return [_stored_grant(g) for g in grants]

    def invite(self, p: Principal, org_id: str, email: str, grants: builtins.list[GrantSpec]) -> Invite:
        """An invite to the organization for someone not yet a member; without authorizations, the
        invitee joins as an operator of the whole organization."""
        email = validate.email(email)
        with self.store.write() as conn:
            org = access.organization(conn, p, "manage_organization_members", org_id)
            stored = self._check_grants(
                conn, org["id"], grants or [GrantSpec("operator", "organization", org["id"])]
            )
            q.lock_rows(conn, "organizations", [org["id"]])  # one invite per email, however many ask
            if q.find_one(conn, "invites", organization_id=org["id"], email=email):
                raise Conflict(f"{email} already has an invite to this organization; resend it instead")
            user = q.find_one(conn, "users", email=email)
            if user is not None and q.find_one(
                conn, "authorizations", subject_type="user", subject_id=user["id"], organization_id=org["id"]
            ):
                raise Conflict(f"{email} is already a member of this organization")
            now = utcnow()
            row = {
                "id": new_id(),
                "organization_id": org["id"],
                "email": email,
                "authorizations": stored,
                "invited_by": p.user_id,
                "sent_count": 1,
                "last_sent_at": now,
                "created_at": now,
            }
            q.insert_row(conn, "invites", **row)
        return Invite.from_row(row)

    def invites(self, p: Principal, org_id: str, page: PageRequest) -> Page[Invite]:
        window = INVITES.open(page)
        with self.store.read() as conn:
            org = access.organization(conn, p, "read_organization", org_id)
            rows = q.page(
                conn, "invites", limit=window.limit, after=window.after_text(), organization_id=org["id"]
            )
        return INVITES.page(rows, window, Invite.from_row)

    def _invite_row(self, conn: Any, org_id: str, invite_id: str) -> dict[str, Any]:
        """The invite, locked (it is read and then changed, ``store.locks``)."""
        row = q.get_locked(conn, "invites", validate.entity_id(invite_id, "invite"))
        if row is None or row["organization_id"] != org_id:
            raise NotFound(f"invite {invite_id} not found in organization {org_id}")
        return dict(row)

    def _invite_row_to(self, conn: Tx, org_id: str, email: str) -> dict[str, Any]:
        """The organization's invite to the email address, locked."""
        found = q.find_one(conn, "invites", organization_id=org_id, email=validate.email(email))
        if found is None:
            raise NotFound(f"organization {org_id} has no invite for {email}")
        return self._invite_row(conn, org_id, found["id"])

    def resend_invite(self, p: Principal, org_id: str, invite_id: str) -> Invite:
        with self.store.write() as conn:
            org = access.organization(conn, p, "manage_organization_members", org_id)
            return _resend(conn, self._invite_row(conn, org["id"], invite_id))

    def resend_invite_to(self, p: Principal, org_id: str, email: str) -> Invite:
        """``resend_invite`` of the invite to the email address."""
        with self.store.write() as conn:
            org = access.organization(conn, p, "manage_organization_members", org_id)
            return _resend(conn, self._invite_row_to(conn, org["id"], email))

    def update_invite(
        self,
        p: Principal,
        org_id: str,
        invite_id: str,
        *,
        add: builtins.list[GrantSpec] = _UNSET,
        remove: builtins.list[GrantSpec] = _UNSET,
    ) -> Invite:
        return self._regrant_invite(
            p, org_id, lambda conn, org: self._invite_row(conn, org, invite_id), add, remove
        )

    def update_invite_to(
        self,
        p: Principal,
        org_id: str,
        email: str,
        *,
        add: builtins.list[GrantSpec] = _UNSET,
        remove: builtins.list[GrantSpec] = _UNSET,
    ) -> Invite:
        """``update_invite`` of the invite to the email address."""
        return self._regrant_invite(
            p, org_id, lambda conn, org: self._invite_row_to(conn, org, email), add, remove
        )

    def _regrant_invite(
        self,
        p: Principal,
        org_id: str,
        find: Callable[[Tx, str], dict[str, Any]],
        add: builtins.list[GrantSpec],
        remove: builtins.list[GrantSpec],
    ) -> Invite:
        with self.store.write() as conn:
            org = access.organization(conn, p, "manage_organization_members", org_id)
            added = self._check_grants(conn, org["id"], add) if add is not _UNSET and add else []
            return _regrant(conn, find(conn, org["id"]), added, [] if remove is _UNSET else remove)

    def delete_invite(self, p: Principal, org_id: str, invite_id: str) -> None:
        with self.store.write() as conn:
            org = access.organization(conn, p, "manage_organization_members", org_id)
            q.delete_rows(conn, "invites", id=self._invite_row(conn, org["id"], invite_id)["id"])

    def delete_invite_to(self, p: Principal, org_id: str, email: str) -> None:
        """``delete_invite`` of the invite to the email address."""
        with self.store.write() as conn:
            org = access.organization(conn, p, "manage_organization_members", org_id)
            q.delete_rows(conn, "invites", id=self._invite_row_to(conn, org["id"], email)["id"])

    def accept_invite(self, p: Principal, invite_id: str) -> builtins.list[Authorization]:
        """The invited user, logged in, takes the invite's authorizations."""
        if p.user_id is None:
            raise PermissionDenied("invites are accepted by the invited user's own login")
        with self.store.write() as conn:
            row = q.get_locked(conn, "invites", validate.entity_id(invite_id, "invite"))  # accepted once
            user = q.get(conn, "users", p.user_id)
            if row is None:
                raise NotFound(f"invite {invite_id} not found")
            if user is None or user["email"] != row["email"]:
                raise PermissionDenied("this invite was sent to another email address")
            auths = []
            for g in row["authorizations"]:
                existing = q.find_one(
                    conn,
                    "authorizations",
                    subject_type="user",
                    subject_id=user["id"],
                    role=g["role"],
                    resource_type=g["resource_type"],
                    resource_id=g["resource_id"],
                )
                grant = dict(existing) if existing else None
                if grant is None:
                    grant = {
                        "id": new_id(),
                        "subject_type": "user",
                        "subject_id": user["id"],
                        **g,
                        "organization_id": row["organization_id"],
                        "created_at": utcnow(),
                    }
                    q.insert_row(conn, "authorizations", **grant)
                auths.append(Authorization.from_row(grant))
            q.delete_rows(conn, "invites", id=row["id"])
        return auths


def _stored_grant(g: GrantSpec) -> dict[str, str]:
    return {"role": g.role, "resource_type": g.resource_type, "resource_id": g.resource_id.lower()}


def _resend(conn: Tx, row: dict[str, Any]) -> Invite:
    row.update(sent_count=row["sent_count"] + 1, last_sent_at=utcnow())
    q.update_row(conn, "invites", row["id"], sent_count=row["sent_count"], last_sent_at=row["last_sent_at"])
    return Invite.from_row(row)


def _regrant(
    conn: Tx, row: dict[str, Any], added: builtins.list[dict[str, str]], removed: builtins.list[GrantSpec]
) -> Invite:
    """The invite with ``removed`` taken from its authorizations and ``added`` given to it."""
    dropped = [_stored_grant(g) for g in removed]
    grants = [g for g in row["authorizations"] if g not in dropped]
    grants += [g for g in added if g not in grants]
    if not grants:
        raise Invalid("an invite must keep at least one authorization; delete the invite instead")
    q.update_row(conn, "invites", row["id"], authorizations=grants)
    row["authorizations"] = grants
    return Invite.from_row(row)
