"""Roles, authorizations, permission checks and API keys."""

from __future__ import annotations

import uuid

from viam.proto import app as pb

from fleetport.core import errors
from fleetport.core.calls import Call
from fleetport.core.models import ResourcePermissions
from fleetport.dialects.viam import convert as cv
from fleetport.dialects.viam.rpc import Area, required, unary


class KeyRpcs(Area):
    @unary
    async def AddRole(self, call: Call, req: pb.AddRoleRequest) -> pb.AddRoleResponse:
        a = req.authorization
        await call(
            self.fleet.identity.grant_to,
            required(a.organization_id, "organization_id"),
            required(a.identity_id, "identity_id"),
            cv.grant_of(a),
        )
        return pb.AddRoleResponse()

    @unary
    async def RemoveRole(self, call: Call, req: pb.RemoveRoleRequest) -> pb.RemoveRoleResponse:
        a = req.authorization
        await call(
            self.fleet.identity.revoke_from,
            required(a.organization_id, "organization_id"),
            required(a.identity_id, "identity_id"),
            cv.grant_of(a),
        )
        return pb.RemoveRoleResponse()

    @unary
    async def ChangeRole(self, call: Call, req: pb.ChangeRoleRequest) -> pb.ChangeRoleResponse:
        old, new = req.old_authorization, req.new_authorization
        # both name one organization: the core refuses a change into another
        org_id = required(old.organization_id or new.organization_id, "organization_id")
        await call(
            self.fleet.identity.change_grant,
            org_id,
            required(old.identity_id, "old identity_id"),
            cv.grant_of(old),
            required(new.identity_id, "new identity_id"),
            cv.grant_of(new),
        )
        return pb.ChangeRoleResponse()

    @unary
    async def ListAuthorizations(
        self, call: Call, req: pb.ListAuthorizationsRequest
    ) -> pb.ListAuthorizationsResponse:
        found = await call(
            self.fleet.identity.list_all_authorizations,
            required(req.organization_id, "organization_id"),
            resource_ids=list(req.resource_ids),
        )
        return pb.ListAuthorizationsResponse(authorizations=[cv.authorization(a) for a in found])

    @unary
    async def CheckPermissions(
        self, call: Call, req: pb.CheckPermissionsRequest
    ) -> pb.CheckPermissionsResponse:
        asked = [
            ResourcePermissions(item.resource_type, item.resource_id, list(item.permissions))
            for item in req.permissions
        ]
        held = await call(self.fleet.identity.permissions_held, asked)
        return pb.CheckPermissionsResponse(
            authorized_permissions=[
                pb.AuthorizedPermissions(
                    resource_type=h.resource_type, resource_id=h.resource_id, permissions=h.permissions
                )
                for h in held
            ]
        )

    @unary
    async def CreateKey(self, call: Call, req: pb.CreateKeyRequest) -> pb.CreateKeyResponse:
        if not req.authorizations:
            raise errors.Invalid("an API key needs at least one authorization")
        # each authorization names the key's organization: the core refuses one naming another
        org_id = required(req.authorizations[0].organization_id, "organization_id")
        grants = [cv.grant_of(a) for a in req.authorizations]
        if any(g.organization_id is None for g in grants):
            raise errors.Invalid("organization_id is required in every authorization")
        name = req.name or f"key {uuid.uuid4().hex[:8]}"
        key = await call(self.fleet.identity.create_key, org_id, name, grants)
        return pb.CreateKeyResponse(key=key.secret or "", id=key.id)

    @unary
    async def DeleteKey(self, call: Call, req: pb.DeleteKeyRequest) -> pb.DeleteKeyResponse:
        await call(self.fleet.identity.delete_key, required(req.id, "id"))
        return pb.DeleteKeyResponse()

    @unary
    async def CreateKeyFromExistingKeyAuthorizations(
        self, call: Call, req: pb.CreateKeyFromExistingKeyAuthorizationsRequest
    ) -> pb.CreateKeyFromExistingKeyAuthorizationsResponse:
        key = await call(self.fleet.identity.clone_key, required(req.id, "id"))
        return pb.CreateKeyFromExistingKeyAuthorizationsResponse(key=key.secret or "", id=key.id)

    @unary
    async def ListKeys(self, call: Call, req: pb.ListKeysRequest) -> pb.ListKeysResponse:
        keys = await call(self.fleet.identity.list_all_keys, required(req.org_id, "org_id"))
        return pb.ListKeysResponse(api_keys=[cv.api_key_with_authorizations(k) for k in keys])

    @unary
    async def RotateKey(self, call: Call, req: pb.RotateKeyRequest) -> pb.RotateKeyResponse:
        key = await call(self.fleet.identity.rotate_key, required(req.id, "id"))
        return pb.RotateKeyResponse(key=key.secret or "", id=key.id)
