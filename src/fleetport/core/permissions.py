"""Who may do what.

An authorization is a role (``owner`` or ``operator``) held on an organization, a location or a
robot. A role held on a resource covers everything below it: an organization's locations, a
location's nested locations and machines. ``owner`` grants every permission; ``operator`` grants
reading and controlling.

A location shared with another organization (a guest) stays its owner's: a role on the guest
organization reaches the shared location, its nested locations and machines only with the
``GUEST_PERMISSIONS`` (using them: reading, controlling, reading configs and logs), whatever the
role. Changing, moving, deleting, sharing them on and reading their secrets stay with the owning
organization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from fleetport.core.errors import Invalid, PermissionDenied
from fleetport.store import Tx
from fleetport.store import queries as q

Role = Literal["owner", "operator"]
ResourceType = Literal["organization", "location", "robot"]

ROLES: tuple[str, ...] = ("owner", "operator")
RESOURCE_TYPES: tuple[str, ...] = ("organization", "location", "robot")
# Which kind of credential authenticated a principal (see core.credentials).
Via = Literal["session", "api_key", "part_secret", "cik", "grant_token", "vendor_token"]

OPERATOR_PERMISSIONS = frozenset(
    {
        "read_organization",
        "read_location",
        "read_robot",
        "read_robot_config",
        "read_robot_logs",
        "control_robot",
    }
)
OWNER_ONLY_PERMISSIONS = frozenset(
    {
        "update_organization",
        "delete_organization",
        "manage_organization_members",
        "manage_api_keys",
        "create_location",
        "update_location",
        "delete_location",
        "manage_location_secrets",
        "create_robot",
        "update_robot",
        "update_robot_config",
        "write_robot_logs",
        "delete_robot",
        "manage_robot_secrets",
    }
)
ALL_PERMISSIONS = OPERATOR_PERMISSIONS | OWNER_ONLY_PERMISSIONS
# what a role on an organization grants on the locations shared with it
GUEST_PERMISSIONS = OPERATOR_PERMISSIONS - {"read_organization"}
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {"owner": ALL_PERMISSIONS, "operator": OPERATOR_PERMISSIONS}


@dataclass(frozen=True)
class Grant:
    role: str
    resource_type: str
    resource_id: str
    organization_id: str


@dataclass
class Scope:
    """What a principal reaches with one permission: whole organizations, locations (already
    expanded to nested ones and, for the ``GUEST_PERMISSIONS``, to shared ones) and single robots."""

    everything: bool = False
    organizations: frozenset[str] = frozenset()
    locations: frozenset[str] = frozenset()
    robots: frozenset[str] = frozenset()

    def covers_organization(self, org_id: str) -> bool:
        return self.everything or org_id in self.organizations

    def covers_location(self, location_id: str, org_id: str) -> bool:
        return self.everything or org_id in self.organizations or location_id in self.locations

    def covers_robot(self, robot_id: str, location_id: str, org_id: str) -> bool:
        return self.covers_location(location_id, org_id) or robot_id in self.robots


@dataclass
class Principal:
    """The caller of a core service, as authenticated by identity.

    What it may do comes from its kind and facts (grants, the part or telemetry client it is, a
    token's permissions); ``via`` says which kind of credential it presented, for the few rules
    that depend on it (the vendor token is not shown to itself). None for principals the core
    makes itself (``SYSTEM``, a fleet caller acting as a machine's device client)."""

    kind: Literal["user", "api_key", "part", "system", "client"]
    id: str
    display: str  # an email, a key name: who edited a config, who sent an invite
    is_admin: bool = False
    user_id: str | None = None
    api_key_id: str | None = None
    part_id: str | None = None
    client_rid: str | None = None  # kind "client": the telemetry client acting (a One Platform CIK)
    # kind "client" through a token from grant: the procedures allowed, by the RID of the sub-tree
    token_permissions: dict[str, frozenset[str]] | None = None
    grants: tuple[Grant, ...] = ()
    via: Via | None = None
    _scopes: dict[str, Scope] = field(default_factory=dict, repr=False, compare=False)

    def holds(self, permission: str) -> list[Grant]:
        return [g for g in self.grants if permission in ROLE_PERMISSIONS[g.role]]

    def scope(self, conn: Tx, permission: str) -> Scope:
        if permission not in ALL_PERMISSIONS:
            raise ValueError(f"unknown permission {permission}")
        cached = self._scopes.get(permission)
        if cached is not None:
            return cached
        if self.is_admin:
            scope = Scope(everything=True)
        else:
            grants = self.holds(permission)
            orgs = {g.resource_id for g in grants if g.resource_type == "organization"}
            roots = {g.resource_id for g in grants if g.resource_type == "location"}
            if permission in GUEST_PERMISSIONS:
                roots |= q.locations_shared_with(conn, orgs)
            scope = Scope(
                organizations=frozenset(orgs),
                locations=frozenset(q.location_descendants(conn, roots)),
                robots=frozenset(g.resource_id for g in grants if g.resource_type == "robot"),
            )
        self._scopes[permission] = scope
        return scope

    def reaches_organization(self, permission: str, org_id: str) -> bool:
        """Whether the caller holds the permission on anything in the organization."""
        return self.is_admin or any(g.organization_id == org_id for g in self.holds(permission))


SYSTEM = Principal(kind="system", id="system", display="fleetport", is_admin=True)


def deny(permission: str, what: str) -> PermissionDenied:
    return PermissionDenied(f"this credential lacks {permission} on {what}")


def validate_grant(role: str, resource_type: str) -> None:
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    if resource_type not in RESOURCE_TYPES:
        raise Invalid(f"resource_type must be one of {', '.join(RESOURCE_TYPES)}, got {resource_type!r}")
