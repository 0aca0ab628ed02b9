"""Users, organizations, their members and invites."""

from __future__ import annotations

from viam.proto import app as pb

from fleetport.core import models
from fleetport.core.calls import Call
from fleetport.dialects.viam import convert as cv
from fleetport.dialects.viam.rpc import Area, required, unary


class OrganizationRpcs(Area):
    @unary
    async def GetUserIDByEmail(
        self, call: Call, req: pb.GetUserIDByEmailRequest
    ) -> pb.GetUserIDByEmailResponse:
        user = await call(self.fleet.identity.user_by_email, req.email)
        return pb.GetUserIDByEmailResponse(user_id=user.id)

    @unary
    async def CreateOrganization(
        self, call: Call, req: pb.CreateOrganizationRequest
    ) -> pb.CreateOrganizationResponse:
        org = await call(self.fleet.organizations.create, req.name)
        return pb.CreateOrganizationResponse(organization=cv.organization(org))

    @unary
    async def ListOrganizations(
        self, call: Call, req: pb.ListOrganizationsRequest
    ) -> pb.ListOrganizationsResponse:
        orgs = await call(self.fleet.organizations.list_all)
        return pb.ListOrganizationsResponse(organizations=[cv.organization(o) for o in orgs])

    @unary
    async def GetOrganizationsWithAccessToLocation(
        self, call: Call, req: pb.GetOrganizationsWithAccessToLocationRequest
    ) -> pb.GetOrganizationsWithAccessToLocationResponse:
        found = await call(
            self.fleet.locations.organizations_with_access, required(req.location_id, "location_id")
        )
        return pb.GetOrganizationsWithAccessToLocationResponse(
            organization_identities=[pb.OrganizationIdentity(id=org_id, name=name) for org_id, name in found]
        )

    @unary
    async def ListOrganizationsByUser(
        self, call: Call, req: pb.ListOrganizationsByUserRequest
    ) -> pb.ListOrganizationsByUserResponse:
        orgs = await call(self.fleet.organizations.list_for_user, required(req.user_id, "user_id"))
        return pb.ListOrganizationsByUserResponse(
            orgs=[
                pb.OrgDetails(
                    org_id=o.id, org_name=o.name, org_cid=o.cid, public_namespace=o.public_namespace or ""
                )
                for o in orgs
            ]
        )

    @unary
    async def GetOrganization(self, call: Call, req: pb.GetOrganizationRequest) -> pb.GetOrganizationResponse:
        org = await call(self.fleet.organizations.get, required(req.organization_id, "organization_id"))
        return pb.GetOrganizationResponse(organization=cv.organization(org))

    @unary
    async def GetOrganizationNamespaceAvailability(
        self, call: Call, req: pb.GetOrganizationNamespaceAvailabilityRequest
    ) -> pb.GetOrganizationNamespaceAvailabilityResponse:
        available = await call(self.fleet.organizations.namespace_available, req.public_namespace)
        return pb.GetOrganizationNamespaceAvailabilityResponse(available=available)

    @unary
    async def UpdateOrganization(
        self, call: Call, req: pb.UpdateOrganizationRequest
    ) -> pb.UpdateOrganizationResponse:
        org = await call(
            self.fleet.organizations.update,
            required(req.organization_id, "organization_id"),
            name=req.name if req.HasField("name") else None,  # an empty name given is refused
            public_namespace=req.public_namespace or None,
            region=req.region or None,
            cid=req.cid or None,
        )
        return pb.UpdateOrganizationResponse(organization=cv.organization(org))

    @unary
    async def DeleteOrganization(
        self, call: Call, req: pb.DeleteOrganizationRequest
    ) -> pb.DeleteOrganizationResponse:
        await call(self.fleet.organizations.delete, required(req.organization_id, "organization_id"))
        return pb.DeleteOrganizationResponse()

    @unary
    async def ListOrganizationMembers(
        self, call: Call, req: pb.ListOrganizationMembersRequest
    ) -> pb.ListOrganizationMembersResponse:
        org_id = required(req.organization_id, "organization_id")
        roster = await call(self.fleet.organizations.roster, org_id)
        return pb.ListOrganizationMembersResponse(
            organization_id=org_id,
            members=[
                pb.OrganizationMember(
                    user_id=m.user.id,
                    emails=[m.user.email],
                    date_added=cv.ts(
                        min((a.created_at for a in m.authorizations), default=m.user.created_at)
                    ),
                )
                for m in roster.members
            ],
            invites=[cv.invite(i) for i in roster.invites],
        )

    @unary
    async def CreateOrganizationInvite(
        self, call: Call, req: pb.CreateOrganizationInviteRequest
    ) -> pb.CreateOrganizationInviteResponse:
        org_id = required(req.organization_id, "organization_id")
        # without authorizations Viam's invite grants full owner permissions on the organization
        grants = [cv.grant_of(a) for a in req.authorizations] or [
            models.GrantSpec("owner", "organization", org_id)
        ]
        invite = await call(self.fleet.organizations.invite, org_id, req.email, grants)
        return pb.CreateOrganizationInviteResponse(invite=cv.invite(invite))

    @unary
    async def UpdateOrganizationInviteAuthorizations(
        self, call: Call, req: pb.UpdateOrganizationInviteAuthorizationsRequest
    ) -> pb.UpdateOrganizationInviteAuthorizationsResponse:
        org_id = required(req.organization_id, "organization_id")
        invite = await call(
            self.fleet.organizations.update_invite_to,
            org_id,
            req.email,
            add=[cv.grant_of(a) for a in req.add_authorizations],
            remove=[cv.grant_of(a) for a in req.remove_authorizations],
        )
        return pb.UpdateOrganizationInviteAuthorizationsResponse(invite=cv.invite(invite))

    @unary
    async def DeleteOrganizationMember(
        self, call: Call, req: pb.DeleteOrganizationMemberRequest
    ) -> pb.DeleteOrganizationMemberResponse:
        await call(
            self.fleet.organizations.remove_member,
            required(req.organization_id, "organization_id"),
            required(req.user_id, "user_id"),
        )
        return pb.DeleteOrganizationMemberResponse()

    @unary
    async def DeleteOrganizationInvite(
        self, call: Call, req: pb.DeleteOrganizationInviteRequest
    ) -> pb.DeleteOrganizationInviteResponse:
        await call(
            self.fleet.organizations.delete_invite_to,
            required(req.organization_id, "organization_id"),
            req.email,
        )
        return pb.DeleteOrganizationInviteResponse()

    @unary
    async def ResendOrganizationInvite(
        self, call: Call, req: pb.ResendOrganizationInviteRequest
    ) -> pb.ResendOrganizationInviteResponse:
        invite = await call(
            self.fleet.organizations.resend_invite_to,
            required(req.organization_id, "organization_id"),
            req.email,
        )
        return pb.ResendOrganizationInviteResponse(invite=cv.invite(invite))
