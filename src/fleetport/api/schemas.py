"""Request and response bodies of the native API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fleetport.core.models import GrantSpec

Name = Field(min_length=1, max_length=200)
Id = Field(min_length=1, max_length=64)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- identity -------------------------------------------------------------------------------


class LoginIn(Body):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1024)


class UserIn(Body):
    email: str = Field(min_length=3, max_length=320)
    name: str = Field("", max_length=200)
    password: str | None = Field(None, min_length=8, max_length=1024)
    is_admin: bool = False


class PasswordIn(Body):
    password: str = Field(min_length=8, max_length=1024)


class GrantIn(Body):
    role: Literal["owner", "operator"]
    resource_type: Literal["organization", "location", "robot"]
    resource_id: str = Id

    def spec(self) -> GrantSpec:
        return GrantSpec(self.role, self.resource_type, self.resource_id)


class AuthorizationIn(GrantIn):
    subject_type: Literal["user", "api_key"]
    subject_id: str = Id


class KeyIn(Body):
    name: str = Name
    authorizations: list[GrantIn] = Field(min_length=1, max_length=100)


class KeyCloneIn(Body):
    name: str | None = Field(None, min_length=1, max_length=200)


class PermissionCheckIn(Body):
    resource_type: Literal["organization", "location", "robot"]
    resource_id: str = Id
    permissions: list[str] = Field(min_length=1, max_length=100)


# --- organizations --------------------------------------------------------------------------


class OrganizationIn(Body):
    name: str = Name
    public_namespace: str | None = Field(None, max_length=63)
    region: str = Field("", max_length=64)
    metadata: dict[str, Any] = Field(default_factory=dict)


class OrganizationPatch(Body):
    name: str | None = Field(None, min_length=1, max_length=200)
    public_namespace: str | None = Field(None, max_length=63)
    region: str | None = Field(None, max_length=64)
    cid: str | None = Field(None, max_length=64)
    metadata: dict[str, Any] | None = None


class InviteIn(Body):
    email: str = Field(min_length=3, max_length=320)
    authorizations: list[GrantIn] = Field(min_length=1, max_length=100)


class InvitePatch(Body):
    add: list[GrantIn] = Field(default_factory=list, max_length=100)
    remove: list[GrantIn] = Field(default_factory=list, max_length=100)


# --- locations ------------------------------------------------------------------------------


class LocationIn(Body):
    organization_id: str = Id
    name: str = Name
    parent_id: str | None = Field(None, max_length=64)
    metadata: dict[str, Any] = Field(default_factory=dict)


class LocationPatch(Body):
    name: str | None = Field(None, min_length=1, max_length=200)
    parent_id: str | None = Field(
        None, max_length=64, description='Another location\'s id, or "" for top level'
    )
    metadata: dict[str, Any] | None = None


class ShareIn(Body):
    organization_id: str = Id


# --- machines and parts ---------------------------------------------------------------------


class MachineIn(Body):
    location_id: str = Id
    name: str = Name
    metadata: dict[str, Any] = Field(default_factory=dict)


class MachinePatch(Body):
    name: str | None = Field(None, min_length=1, max_length=200)
    location_id: str | None = Field(None, max_length=64)
    metadata: dict[str, Any] | None = None


class PartIn(Body):
    name: str = Name


class PartPatch(Body):
    name: str | None = Field(None, min_length=1, max_length=200)
    main_part: bool | None = None
    metadata: dict[str, Any] | None = None
    restart_required: bool | None = None


class ConfigIn(Body):
    config: dict[str, Any]


# --- part logs ------------------------------------------------------------------------------


class LogEntryIn(Body):
    time: datetime | None = Field(
        None,
        description="When it was logged: ISO 8601 (naive is UTC) or Unix seconds; "
        "left out or null: when the server received it",
    )
    level: str = Field(description="debug, info, warn (or warning), error, dpanic, panic, fatal")
    message: str
    logger_name: str = ""
    host: str = ""
    caller: dict[str, Any] | None = Field(None, description='e.g. {"File": "x.go", "Line": 12}')
    stack: str = ""
    fields: list[dict[str, Any]] = Field(default_factory=list, description="Structured fields")


class LogsIn(Body):
    entries: list[LogEntryIn] = Field(description="The batch; the server caps its size (10,000 by default)")


# --- fragments and the registry -------------------------------------------------------------

Visibility = Literal["private", "public", "public_unlisted"]
ItemType = Literal["module", "ml_model", "ml_training", "slam_map", "archive", "project"]


class FragmentIn(Body):
    organization_id: str = Id
    name: str = Name
    config: dict[str, Any] = Field(default_factory=dict)
    visibility: Visibility = "private"


class FragmentPatch(Body):
    name: str | None = Field(None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    visibility: Visibility | None = None


class RegistryItemIn(Body):
    organization_id: str = Id
    name: str = Name
    type: ItemType


class RegistryItemPatch(Body):
    type: ItemType | None = None
    description: str | None = Field(None, max_length=10_000)
    visibility: Visibility | None = None


class DeprecationIn(Body):
    message: str = Field("", max_length=10_000)


class ModuleIn(Body):
    organization_id: str = Id
    name: str = Name


class ModulePatch(Body):
    url: str | None = Field(None, max_length=2048, description="The module's source, an http(s) URL")
    description: str | None = Field(None, max_length=10_000)
    models: list[dict[str, Any]] | None = Field(
        None, max_length=1000, description='[{"api": "rdk:component:camera", "model": "acme:cams:fast"}]'
    )
    entrypoint: str | None = Field(None, max_length=1024)
    visibility: Visibility | None = None


# --- dataports --------------------------------------------------------------------------------

DataportFormat = Literal["float", "integer", "string", "binary"]


class DataportIn(Body):
    alias: str = Field(
        min_length=1,
        max_length=255,
        description="Unique per machine; names the dataport in paths (no '/', not 40 hex digits)",
    )
    format: DataportFormat
    name: str = Field("", max_length=200)
    retention_count: int | None = Field(None, ge=0, description="Points kept at most; null: no limit")
    retention_seconds: int | None = Field(None, ge=0, description="Maximum age of points; null: no limit")


class DataportPatch(Body):
    """Fields left out stay as they are; a retention of null means no limit."""

    name: str | None = Field(None, max_length=200)
    retention_count: int | None = Field(None, ge=0)
    retention_seconds: int | None = Field(None, ge=0)


# --- remote access --------------------------------------------------------------------------


class DeploymentIn(Body):
    machine_id: str = Id
    type: str = Field("generic", min_length=1, max_length=100)
    region: str = Field("", max_length=100)
    addons: list[str] = Field(default_factory=list, max_length=10)
    addons_config: dict[str, Any] = Field(default_factory=dict)


class DeploymentPatch(Body):
    type: str | None = Field(None, min_length=1, max_length=100)
    region: str | None = Field(None, max_length=100)
    addons: list[str] | None = Field(None, max_length=10)
    addons_config: dict[str, Any] | None = None
    locked_out: bool | None = None


class AccessRuleIn(Body):
    capability: Literal["CAP_INSTANTIATE", "CAP_NO_INSTANTIATE"]
    user: str | None = Field(
        None, min_length=1, max_length=320, description="a user id or email; none: everyone"
    )


class InstanceIn(Body):
    deployment: str = Field(min_length=1, max_length=100, description="a deployment id or a workspace type")
    public_key: str | None = Field(None, max_length=16 * 1024)
    expire_seconds: int | None = Field(None, ge=1, le=10 * 365 * 24 * 3600)
    reserve: bool = False
    event_url: str | None = Field(None, max_length=2048)


class FirewallRuleIn(Body):
    action: Literal["ACCEPT", "DROP", "REJECT"]
    source: str | None = Field(None, max_length=64, description="a CIDR; none: any address")


# --- CI projects and jobs -------------------------------------------------------------------


class CiProjectIn(Body):
    repo_url: str = Field(min_length=1, max_length=2048, description="https, http, git, ssh or file URL")


class CiJobIn(Body):
    branch: str = Field(min_length=1, max_length=255)
    ref: str = Field("", max_length=255, description="a commit id or ref name; empty: the branch's tip")
    workspace_type: str | None = Field(
        None, max_length=100, description="the workspace type the job needs; none: as its job file says"
    )
