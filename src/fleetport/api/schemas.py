"""Request and response bodies of the native API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from fleetport.core.models import GrantSpec

T = TypeVar("T")
Name = Field(min_length=1, max_length=200)
Id = Field(min_length=1, max_length=64)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PageOut(Out, Generic[T]):
    items: list[T]
    next_cursor: str | None


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


class UserOut(Out):
    id: str
    email: str
    name: str
    is_admin: bool
    created_at: datetime


class SessionOut(Out):
    token: str
    expires_at: datetime
    user: UserOut


class GrantIn(Body):
    role: Literal["owner", "operator"]
    resource_type: Literal["organization", "location", "robot"]
    resource_id: str = Id

    def spec(self) -> GrantSpec:
        return GrantSpec(self.role, self.resource_type, self.resource_id)


class AuthorizationIn(GrantIn):
    subject_type: Literal["user", "api_key"]
    subject_id: str = Id


class AuthorizationOut(Out):
    id: str
    subject_type: str
    subject_id: str
    role: str
    resource_type: str
    resource_id: str
    organization_id: str
    created_at: datetime


class WhoAmIOut(Out):
    kind: str
    id: str
    display: str
    is_admin: bool
    user_id: str | None
    api_key_id: str | None
    part_id: str | None


class KeyIn(Body):
    name: str = Name
    authorizations: list[GrantIn] = Field(min_length=1, max_length=100)


class KeyCloneIn(Body):
    name: str | None = Field(None, min_length=1, max_length=200)


class KeyOut(Out):
    id: str
    name: str
    organization_id: str | None
    is_admin: bool
    created_at: datetime
    authorizations: list[AuthorizationOut]
    secret: str | None = Field(None, description="Only in the answer that creates or rotates the key")


class PermissionCheckIn(Body):
    resource_type: Literal["organization", "location", "robot"]
    resource_id: str = Id
    permissions: list[str] = Field(min_length=1, max_length=100)


class PermissionCheckOut(Out):
    granted: list[str]


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


class OrganizationOut(Out):
    id: str
    name: str
    public_namespace: str | None
    region: str
    cid: str
    metadata: dict[str, Any]
    created_at: datetime


class MemberOut(Out):
    user: UserOut
    authorizations: list[AuthorizationOut]


class InviteIn(Body):
    email: str = Field(min_length=3, max_length=320)
    authorizations: list[GrantIn] = Field(min_length=1, max_length=100)


class InvitePatch(Body):
    add: list[GrantIn] = Field(default_factory=list, max_length=100)
    remove: list[GrantIn] = Field(default_factory=list, max_length=100)


class GrantOut(Out):
    role: str
    resource_type: str
    resource_id: str


class InviteOut(Out):
    id: str
    organization_id: str
    email: str
    authorizations: list[GrantOut]
    sent_count: int
    last_sent_at: datetime
    created_at: datetime


# --- locations ------------------------------------------------------------------------------

class LocationIn(Body):
    organization_id: str = Id
    name: str = Name
    parent_id: str | None = Field(None, max_length=64)
    metadata: dict[str, Any] = Field(default_factory=dict)


class LocationPatch(Body):
    name: str | None = Field(None, min_length=1, max_length=200)
    parent_id: str | None = Field(None, max_length=64, description='Another location\'s id, or "" for top level')
    metadata: dict[str, Any] | None = None


class LocationOut(Out):
    id: str
    organization_id: str
    parent_id: str | None
    name: str
    metadata: dict[str, Any]
    created_at: datetime
    shared_with: list[str]


class ShareIn(Body):
    organization_id: str = Id


class SecretOut(Out):
    id: str
    secret: str
    created_at: datetime


# --- machines and parts ---------------------------------------------------------------------

class MachineIn(Body):
    location_id: str = Id
    name: str = Name
    metadata: dict[str, Any] = Field(default_factory=dict)
    rentable: bool = False


class MachinePatch(Body):
    name: str | None = Field(None, min_length=1, max_length=200)
    location_id: str | None = Field(None, max_length=64)
    metadata: dict[str, Any] | None = None
    rentable: bool | None = None


class MachineOut(Out):
    id: str
    organization_id: str
    location_id: str
    name: str
    rentable: bool
    metadata: dict[str, Any]
    created_at: datetime


class PartIn(Body):
    name: str = Name


class PartPatch(Body):
    name: str | None = Field(None, min_length=1, max_length=200)
    main_part: bool | None = None
    metadata: dict[str, Any] | None = None
    restart_required: bool | None = None


class PartOut(Out):
    id: str
    machine_id: str
    name: str
    main_part: bool
    restart_required: bool
    config: dict[str, Any]
    config_updated_at: datetime | None
    fqdn: str
    local_fqdn: str
    dns_name: str
    last_access: datetime | None
    metadata: dict[str, Any]
    created_at: datetime


class ConfigIn(Body):
    config: dict[str, Any]


class ConfigOut(Out):
    part_id: str
    config: dict[str, Any]


class ConfigRevisionOut(Out):
    id: str
    part_id: str
    previous_config: dict[str, Any]
    edited_by: str
    edited_at: datetime
