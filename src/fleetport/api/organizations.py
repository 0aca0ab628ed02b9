"""Organizations, members and invites."""

from __future__ import annotations

from fleetport.api import schemas as s
from fleetport.api.deps import Caller, FleetDep, PagingDep
from fleetport.api.routing import api_router
from fleetport.client import models as m

router = api_router(tags=["organizations"])


@router.get("/organizations", response_model=m.Page[m.Organization])
async def list_organizations(fleet: FleetDep, caller: Caller, paging: PagingDep) -> object:
    return await caller(fleet.organizations.list, paging)


@router.post("/organizations", response_model=m.Organization, status_code=201)
async def create_organization(body: s.OrganizationIn, fleet: FleetDep, caller: Caller) -> object:
    """The creating user becomes the organization's owner."""
    return await caller(
        fleet.organizations.create,
        body.name,
        public_namespace=body.public_namespace,
        region=body.region,
        metadata=body.metadata,
    )


@router.get("/organizations/{org_id}", response_model=m.Organization)
async def get_organization(org_id: str, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.organizations.get, org_id)


@router.patch("/organizations/{org_id}", response_model=m.Organization)
async def update_organization(
    org_id: str, body: s.OrganizationPatch, fleet: FleetDep, caller: Caller
) -> object:
    """``public_namespace`` can be set once."""
    return await caller(fleet.organizations.update, org_id, **body.model_dump(exclude_unset=True))


@router.delete("/organizations/{org_id}", status_code=204, response_model=None)
async def delete_organization(org_id: str, fleet: FleetDep, caller: Caller) -> None:
    await caller(fleet.organizations.delete, org_id)


@router.get("/organizations/{org_id}/members", response_model=m.Page[m.Member])
async def list_members(org_id: str, fleet: FleetDep, caller: Caller, paging: PagingDep) -> object:
    return await caller(fleet.organizations.members, org_id, paging)


@router.delete("/organizations/{org_id}/members/{user_id}", status_code=204, response_model=None)
async def remove_member(org_id: str, user_id: str, fleet: FleetDep, caller: Caller) -> None:
    await caller(fleet.organizations.remove_member, org_id, user_id)


@router.get("/organizations/{org_id}/invites", response_model=m.Page[m.Invite])
async def list_invites(org_id: str, fleet: FleetDep, caller: Caller, paging: PagingDep) -> object:
    return await caller(fleet.organizations.invites, org_id, paging)


@router.post("/organizations/{org_id}/invites", response_model=m.Invite, status_code=201)
async def create_invite(org_id: str, body: s.InviteIn, fleet: FleetDep, caller: Caller) -> object:
    """Stores an invite; the invited user accepts it once logged in. No mail is sent."""
    return await caller(
        fleet.organizations.invite, org_id, body.email, [g.spec() for g in body.authorizations]
    )


@router.patch("/organizations/{org_id}/invites/{invite_id}", response_model=m.Invite)
async def update_invite(
    org_id: str, invite_id: str, body: s.InvitePatch, fleet: FleetDep, caller: Caller
) -> object:
    return await caller(
        fleet.organizations.update_invite,
        org_id,
        invite_id,
        add=[g.spec() for g in body.add],
        remove=[g.spec() for g in body.remove],
    )


@router.post("/organizations/{org_id}/invites/{invite_id}/resend", response_model=m.Invite)
async def resend_invite(org_id: str, invite_id: str, fleet: FleetDep, caller: Caller) -> object:
    return await caller(fleet.organizations.resend_invite, org_id, invite_id)


@router.delete("/organizations/{org_id}/invites/{invite_id}", status_code=204, response_model=None)
async def delete_invite(org_id: str, invite_id: str, fleet: FleetDep, caller: Caller) -> None:
    await caller(fleet.organizations.delete_invite, org_id, invite_id)


@router.post("/invites/{invite_id}/accept", response_model=list[m.Authorization])
async def accept_invite(invite_id: str, fleet: FleetDep, caller: Caller) -> object:
    """Accepted by the invited user's own session; answers the authorizations it gave."""
    return await caller(fleet.organizations.accept_invite, invite_id)
