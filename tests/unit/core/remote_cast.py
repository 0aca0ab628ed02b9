"""The people and things the remote-access tests share: an organization with a machine offered as a
deployment, its owner and operator, users given or denied launching by access rules, and the owner
of another organization."""

from __future__ import annotations

from dataclasses import dataclass

from fleetport.core.credentials import BearerToken
from fleetport.core.fleet import Fleet
from fleetport.core.models import GrantSpec, Machine, Organization
from fleetport.core.permissions import Principal
from fleetport.core.remote.model import Deployment


@dataclass
class RemoteCast:
    org: Organization
    machine: Machine
    deployment: Deployment
    owner: Principal
    operator: Principal
    ruled_in: Principal  # no role; a CAP_INSTANTIATE rule names them
    ruled_out: Principal  # operator of the organization; a CAP_NO_INSTANTIATE rule names them
    other: Principal  # owner of another organization


def user(
    fleet: Fleet, admin: Principal, name: str, org: Organization | None = None, role: str = ""
) -> Principal:
    made = fleet.identity.create_user(admin, f"{name}@example.com", name, "password1")
    if org is not None:
        fleet.identity.add_authorization(
            admin, org.id, "user", made.id, GrantSpec(role, "organization", org.id)
        )
    session = fleet.identity.login(f"{name}@example.com", "password1")
    return fleet.identity.authenticate(BearerToken(session.token))


def remote_cast(fleet: Fleet, admin: Principal, addons: tuple[str, ...] = ("cam", "drive")) -> RemoteCast:
    org = fleet.organizations.create(admin, "rovers")
    elsewhere = fleet.organizations.create(admin, "diggers")
    owner = user(fleet, admin, "olive", org, "owner")
    operator = user(fleet, admin, "otto", org, "operator")
    ruled_in = user(fleet, admin, "rita")
    ruled_out = user(fleet, admin, "rex", org, "operator")
    other = user(fleet, admin, "oscar", elsewhere, "owner")
    lab = fleet.locations.create(owner, org.id, "lab")
    machine = fleet.machines.create(owner, lab.id, "misty")
    deployment = fleet.remote.deployments.create(
        owner, machine.id, "fixed_misty2", "us:cali", list(addons), {"cam": {"device": 0}}
    )
    fleet.remote.deployments.add_rule(owner, deployment.id, "CAP_INSTANTIATE", "rita@example.com")
    fleet.remote.deployments.add_rule(owner, deployment.id, "CAP_NO_INSTANTIATE", "rex@example.com")
    return RemoteCast(org, machine, deployment, owner, operator, ruled_in, ruled_out, other)
