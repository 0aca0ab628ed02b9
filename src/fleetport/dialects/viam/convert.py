"""Core objects to Viam protos, and Viam's wire vocabulary to the core's."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from viam.proto import app as pb
from viam.proto.app.packages import PackageType
from viam.proto.common import LogEntry as LogEntryProto

from fleetport.core import models
from fleetport.core.errors import Invalid
from fleetport.core.fragments import Fragment, FragmentRevision
from fleetport.core.logs import LogEntry
from fleetport.core.registry import RegistryItem

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
    plain: dict[str, Any] = json.loads(json.dumps(_plain(value)), parse_float=_number)
    return plain


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


def location_summary(found: models.LocationSummary) -> pb.Location:
    """A location with its robot count and, for callers who may manage them, its secrets."""
    loc = location(found.location, found.robot_count)
    if found.secrets:
        loc.auth.CopyFrom(location_auth(found.location.id, found.secrets))
    return loc


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
    """Viam names a role by ``authorization_id`` = "<resource type>_<role>"; the organization it
    names, when it names one, is checked by the core against the one it is given in."""
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
    return models.GrantSpec(role, auth.resource_type, auth.resource_id, auth.organization_id or None)


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


# --- logs, fragments, registry --------------------------------------------------------------

FRAGMENT_VISIBILITY: dict[int, str] = {
    pb.FragmentVisibility.FRAGMENT_VISIBILITY_PRIVATE: "private",
    pb.FragmentVisibility.FRAGMENT_VISIBILITY_PUBLIC: "public",
    pb.FragmentVisibility.FRAGMENT_VISIBILITY_PUBLIC_UNLISTED: "public_unlisted",
}
_FRAGMENT_VISIBILITY_PB: dict[str, Any] = {v: k for k, v in FRAGMENT_VISIBILITY.items()}
VISIBILITY: dict[int, str] = {
    pb.Visibility.VISIBILITY_PRIVATE: "private",
    pb.Visibility.VISIBILITY_PUBLIC: "public",
    pb.Visibility.VISIBILITY_PUBLIC_UNLISTED: "public_unlisted",
}
_VISIBILITY_PB: dict[str, Any] = {v: k for k, v in VISIBILITY.items()}
PACKAGE_TYPE: dict[int, str] = {
    PackageType.PACKAGE_TYPE_MODULE: "module",
    PackageType.PACKAGE_TYPE_ML_MODEL: "ml_model",
    PackageType.PACKAGE_TYPE_ML_TRAINING: "ml_training",
    PackageType.PACKAGE_TYPE_SLAM_MAP: "slam_map",
    PackageType.PACKAGE_TYPE_ARCHIVE: "archive",
}
_PACKAGE_TYPE_PB: dict[str, Any] = {v: k for k, v in PACKAGE_TYPE.items()}
STATUS: dict[int, str] = {
    pb.RegistryItemStatus.REGISTRY_ITEM_STATUS_PUBLISHED: "published",
    pb.RegistryItemStatus.REGISTRY_ITEM_STATUS_IN_DEVELOPMENT: "in_development",
}


def package_type(value: int) -> str:
    if value not in PACKAGE_TYPE:
        raise Invalid(f"registry item type {value} is not one this server keeps: use module, ml_model, ...")
    return PACKAGE_TYPE[value]


def visibility(value: int) -> str:
    if value not in VISIBILITY:
        raise Invalid(
            "visibility must be VISIBILITY_PRIVATE, VISIBILITY_PUBLIC or VISIBILITY_PUBLIC_UNLISTED"
        )
    return VISIBILITY[value]


def log_entry(entry: LogEntry) -> LogEntryProto:
    return LogEntryProto(
        host=entry.host,
        level=entry.level,
        time=ts(entry.time),
        logger_name=entry.logger_name,
        message=entry.message,
        caller=struct(entry.caller),
        stack=entry.stack,
        fields=[struct(f) for f in entry.fields],
    )


def fragment(f: Fragment) -> pb.Fragment:
    return pb.Fragment(
        id=f.id,
        name=f.name,
        fragment=struct(f.config),
        organization_owner=f.organization_id,
        public=f.public,
        created_on=ts(f.created_at),
        organization_name=f.organization_name,
        robot_part_count=f.robot_part_count,
        organization_count=f.organization_count,
        only_used_by_owner=f.only_used_by_owner,
        visibility=_FRAGMENT_VISIBILITY_PB.get(
            f.visibility, pb.FragmentVisibility.FRAGMENT_VISIBILITY_UNSPECIFIED
        ),
        last_updated=ts(f.updated_at),
        fragment_config_json=json.dumps(f.config),
    )


def fragment_history_entry(current: Fragment, rev: FragmentRevision) -> pb.FragmentHistoryEntry:
    old = pb.Fragment(
        id=current.id,
        name=rev.previous_name,
        fragment=struct(rev.previous_config),
        organization_owner=current.organization_id,
        public=rev.previous_visibility == "public",
        organization_name=current.organization_name,
        created_on=ts(current.created_at),
        visibility=_FRAGMENT_VISIBILITY_PB.get(
            rev.previous_visibility, pb.FragmentVisibility.FRAGMENT_VISIBILITY_UNSPECIFIED
        ),
    )
    return pb.FragmentHistoryEntry(
        fragment=current.id,
        edited_on=ts(rev.edited_at),
        old=old,
        edited_by=authenticator(rev.edited_by),
        config=struct(rev.previous_config),
    )


def _models(item: RegistryItem) -> list[pb.Model]:
    return [pb.Model(api=m.get("api", ""), model=m.get("model", "")) for m in item.models]


def _deprecated(deprecated: bool, message: str) -> pb.DeprecatedStatus | None:
    return pb.DeprecatedStatus(message=message) if deprecated else None


def registry_item(item: RegistryItem) -> pb.RegistryItem:
    out = pb.RegistryItem(
        item_id=item.id,
        organization_id=item.organization_id,
        public_namespace=item.public_namespace or "",
        name=item.name,
        type=_PACKAGE_TYPE_PB.get(item.type, PackageType.PACKAGE_TYPE_UNSPECIFIED),
        visibility=_VISIBILITY_PB.get(item.visibility, pb.Visibility.VISIBILITY_UNSPECIFIED),
        url=item.url,
        description=item.description,
        total_robot_usage=item.total_robot_usage,
        total_organization_usage=item.total_organization_usage,
        created_at=ts(item.created_at),
        updated_at=ts(item.updated_at),
        deprecated_status=_deprecated(item.deprecated, item.deprecation_message),
    )
    if item.type == "module":
        out.module_metadata.CopyFrom(
            pb.ModuleMetadata(
                models=_models(item),
                entrypoint=item.entrypoint,
                versions=[
                    pb.ModuleVersion(
                        version=v.version,
                        models=_models(item),
                        entrypoint=item.entrypoint,
                        files=[
                            pb.Uploads(platform=f.platform, uploaded_at=ts(f.created_at)) for f in v.files
                        ],
                        deprecated_status=_deprecated(v.deprecated, v.deprecation_message),
                    )
                    for v in item.versions
                ],
            )
        )
    return out


def module(item: RegistryItem) -> pb.Module:
    return pb.Module(
        module_id=item.id,
        name=item.name,
        visibility=_VISIBILITY_PB.get(item.visibility, pb.Visibility.VISIBILITY_UNSPECIFIED),
        versions=[
            pb.VersionHistory(
                version=v.version,
                models=_models(item),
                entrypoint=item.entrypoint,
                files=[pb.Uploads(platform=f.platform, uploaded_at=ts(f.created_at)) for f in v.files],
                deprecated_status=_deprecated(v.deprecated, v.deprecation_message),
            )
            for v in item.versions
        ],
        url=item.url,
        description=item.description,
        models=_models(item),
        total_robot_usage=item.total_robot_usage,
        total_organization_usage=item.total_organization_usage,
        organization_id=item.organization_id,
        entrypoint=item.entrypoint,
        public_namespace=item.public_namespace or "",
        deprecated_status=_deprecated(item.deprecated, item.deprecation_message),
    )
