"""Core objects to Viam protos, and Viam's wire vocabulary to the core's."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from viam.proto import app as pb

from fleetport.core import models
from fleetport.core.errors import Invalid

ROLES = ("owner", "operator")
RESOURCE_TYPES = ("organization", "location", "robot")


def ts(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def struct(value: dict[str, Any] | None) -> Struct | None:
    if value is None:
        return None
    out = Struct()
    out.update(value)
    return out


def from_struct(value: Struct) -> dict[str, Any]:
    """A Struct as plain JSON values (Struct numbers are doubles; whole ones come back as ints)."""
    return json.loads(json.dumps(_plain(value)), parse_float=_number)


def _plain(value: Any) -> Any:
    return MessageToDict(value)


def _number(text: str) -> int | float:
    number = float(text)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def organization(org: models.Organization) -> pb.Organization:
    return pb.Organization(
        id=org.id,
        name=org.name,
        created_on=ts(org.created_at),
        public_namespace=org.public_namespace or "",
        default_region=org.region,
        cid=org.cid,
    )


def location(loc: models.Location, robot_count: int = 0) -> pb.Location:
    orgs = [pb.LocationOrganization(organization_id=loc.organization_id, primary=True)]
    orgs += [pb.LocationOrganization(organization_id=o, primary=False) for o in loc.shared_with]
    return pb.Location(
        id=loc.id,
        name=loc.name,
        parent_location_id=loc.parent_id or "",
        organizations=orgs,
        created_on=ts(loc.created_at),
        robot_count=robot_count,
    )


def shared_secret(secret: models.Secret) -> pb.SharedSecret:
    return pb.SharedSecret(
        id=secret.id,
        secret=secret.secret,
        created_on=ts(secret.created_at),
        state=pb.SharedSecret.State.STATE_ENABLED,
    )


def location_auth(location_id: str, secrets: list[models.Secret]) -> pb.LocationAuth:
    return pb.LocationAuth(
        location_id=location_id,
        secret=secrets[0].secret if secrets else "",
        secrets=[shared_secret(s) for s in secrets],
    )


def robot(machine: models.Machine, last_access: datetime | None = None) -> pb.Robot:
    return pb.Robot(
        id=machine.id,
        name=machine.name,
        location=machine.location_id,
        created_on=ts(machine.created_at),
        last_access=ts(last_access),
    )


def robot_part(
    part: models.Part,
    machine: models.Machine,
    secrets: list[models.Secret],
    config: dict[str, Any] | None = None,
) -> pb.RobotPart:
    config = part.config if config is None else config
    return pb.RobotPart(
        id=part.id,
        name=part.name,
        dns_name=part.dns_name,
        secret=secrets[0].secret if secrets else "",
        robot=part.machine_id,
        location_id=machine.location_id,
        robot_config=struct(config),
        last_access=ts(part.last_access),
        user_supplied_info=struct(part.metadata),
        main_part=part.main_part,
        fqdn=part.fqdn,
        local_fqdn=part.local_fqdn,
        created_on=ts(part.created_at),
        secrets=[shared_secret(s) for s in secrets],
        last_updated=ts(part.config_updated_at or part.created_at),
        robot_config_json=json.dumps(config),
    )


def authenticator(edited_by: str) -> pb.AuthenticatorInfo:
    kind = (
        pb.AuthenticationType.AUTHENTICATION_TYPE_WEB_OAUTH
        if "@" in edited_by
        else (pb.AuthenticationType.AUTHENTICATION_TYPE_API_KEY)
    )
    return pb.AuthenticatorInfo(type=kind, value=edited_by, is_deactivated=False)


def grant_of(auth: pb.Authorization) -> models.GrantSpec:
    """Viam names a role by ``authorization_id`` = "<resource type>_<role>"."""
    role = auth.authorization_id.rsplit("_", 1)[-1] if auth.authorization_id else ""
    if role not in ROLES:
        raise Invalid(
            f"authorization_id {auth.authorization_id!r} names no role:"
            " use <resource type>_owner or <resource type>_operator"
        )
    if auth.resource_type not in RESOURCE_TYPES:
        raise Invalid(f"resource_type must be one of {', '.join(RESOURCE_TYPES)}, got {auth.resource_type!r}")
    if not auth.resource_id:
        raise Invalid("resource_id is required in every authorization")
    return models.GrantSpec(role, auth.resource_type, auth.resource_id)


def authorization(a: models.Authorization) -> pb.Authorization:
    return pb.Authorization(
        authorization_type="role",
        authorization_id=f"{a.resource_type}_{a.role}",
        resource_type=a.resource_type,
        resource_id=a.resource_id,
        identity_id=a.subject_id,
        organization_id=a.organization_id,
        identity_type="api-key" if a.subject_type == "api_key" else "user",
    )


def invite(i: models.Invite) -> pb.OrganizationInvite:
    return pb.OrganizationInvite(
        organization_id=i.organization_id,
        email=i.email,
        created_on=ts(i.created_at),
        authorizations=[
            pb.Authorization(
                authorization_type="role",
                authorization_id=f"{g.resource_type}_{g.role}",
                resource_type=g.resource_type,
                resource_id=g.resource_id,
                organization_id=i.organization_id,
                identity_type="user",
            )
            for g in i.authorizations
        ],
    )


def api_key_with_authorizations(key: models.ApiKey) -> pb.APIKeyWithAuthorizations:
    return pb.APIKeyWithAuthorizations(
        api_key=pb.APIKey(id=key.id, key="", name=key.name, created_on=ts(key.created_at)),
        authorizations=[
            pb.AuthorizationDetails(
                authorization_type="role",
                authorization_id=f"{a.resource_type}_{a.role}",
                resource_type=a.resource_type,
                resource_id=a.resource_id,
                org_id=a.organization_id,
            )
            for a in key.authorizations
        ],
    )
