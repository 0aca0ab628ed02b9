"""Organizations, members and invites."""

from __future__ import annotations

from fastapi import APIRouter

from fleetport.api import schemas as s
from fleetport.api.deps import Caller, FleetDep, PagingDep
from fleetport.client import models as m

router = APIRouter(tags=["organizations"])


@router.get("/organizations", response_model=m.Page[m.Organization])
def list_organizations(fleet: FleetDep, caller: Caller, paging: PagingDep) -> object:
    return fleet.organizations.list(caller, paging.limit, paging.cursor)


@router.post("/organizations", response_model=m.Organization, status_code=201)
def create_organization(body: s.OrganizationIn, fleet: FleetDep, caller: Caller) -> object:
    """The creating user becomes the organization's owner."""
    return fleet.organizations.create(
        caller, body.name, public_namespace=body.public_namespace, region=body.region, metadata=body.metadata
    )


@router.get("/organizations/{org_id}", response_model=m.Organization)
def get_organization(org_id: str, fleet: FleetDep, caller: Caller) -> object:
    return fleet.organizations.get(caller, org_id)


@router.patch("/organizations/{org_id}", response_model=m.Organization)
def update_organization(org_id: str, body: s.OrganizationPatch, fleet: FleetDep, caller: Caller) -> object:
    """``public_namespace`` can be set once."""
    return fleet.organizations.update(caller, org_id, **body.model_dump(exclude_unset=True))


@router.delete("/organizations/{org_id}", status_code=204, response_model=None)
def delete_organization(org_id: str, fleet: FleetDep, caller: Caller) -> None:
    fleet.organizations.delete(caller, org_id)


@router.get("/organizations/{org_id}/members", response_model=m.Page[m.Member])
def list_members(org_id: str, fleet: FleetDep, caller: Caller, paging: PagingDep) -> object:
    return fleet.organizations.members(caller, org_id, paging.limit, paging.cursor)


@router.delete("/organizations/{org_id}/members/{user_id}", status_code=204, response_model=None)
def remove_member(org_id: str, user_id: str, fleet: FleetDep, caller: Caller) -> None:
    fleet.organizations.remove_member(caller, org_id, user_id)


@router.get("/organizations/{org_id}/invites", response_model=m.Page[m.Invite])
def list_invites(org_id: str, fleet: FleetDep, caller: Caller, paging: PagingDep) -> object:
    return fleet.organizations.invites(caller, org_id, paging.limit, paging.cursor)


@router.post("/organizations/{org_id}/invites", response_model=m.Invite, status_code=201)
def create_invite(org_id: str, body: s.InviteIn, fleet: FleetDep, caller: Caller) -> object:
    """Stores an invite; the invited user accepts it once logged in. No mail is sent."""
    return fleet.organizations.invite(caller, org_id, body.email, [g.spec() for g in body.authorizations])


@router.patch("/organizations/{org_id}/invites/{invite_id}", response_model=m.Invite)
def update_invite(
    org_id: str, invite_id: str, body: s.InvitePatch, fleet: FleetDep, caller: Caller
) -> object:
    return fleet.organizations.update_invite(
        caller, org_id, invite_id, add=[g.spec() for g in body.add], remove=[g.spec() for g in body.remove]
    )


@router.post("/organizations/{org_id}/invites/{invite_id}/resend", response_model=m.Invite)
def resend_invite(org_id: str, invite_id: str, fleet: FleetDep, caller: Caller) -> object:
    return fleet.organizations.resend_invite(caller, org_id, invite_id)


@router.delete("/organizations/{org_id}/invites/{invite_id}", status_code=204, response_model=None)
def delete_invite(org_id: str, invite_id: str, fleet: FleetDep, caller: Caller) -> None:
    fleet.organizations.delete_invite(caller, org_id, invite_id)


@router.post("/invites/{invite_id}/accept", response_model=list[m.Authorization])
def accept_invite(invite_id: str, fleet: FleetDep, caller: Caller) -> object:
    """Accepted by the invited user's own session; answers the authorizations it gave."""
    return fleet.organizations.accept_invite(caller, invite_id)
