"""Typed objects of the native API, as the server sends them and the SDK returns them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Model(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(Model, Generic[T]):
    items: list[T]
    next_cursor: str | None


class User(Model):
    id: str
    email: str
    name: str
    is_admin: bool
    created_at: datetime


class Session(Model):
    token: str
    expires_at: datetime
    user: User


class Authorization(Model):
    id: str
    subject_type: str
    subject_id: str
    role: str
    resource_type: str
    resource_id: str
    organization_id: str
    created_at: datetime


class WhoAmI(Model):
    kind: str
    id: str
    display: str
    is_admin: bool
    user_id: str | None
    api_key_id: str | None
    part_id: str | None


class ApiKey(Model):
    id: str
    name: str
    organization_id: str | None
    is_admin: bool
    created_at: datetime
    authorizations: list[Authorization]
    secret: str | None = Field(None, description="Only in the answer that creates or rotates the key")


class PermissionCheck(Model):
    granted: list[str]


class Organization(Model):
    id: str
    name: str
    public_namespace: str | None
    region: str
    cid: str
    metadata: dict[str, Any]
    created_at: datetime


class Member(Model):
    user: User
    authorizations: list[Authorization]


class Grant(Model):
    role: str
    resource_type: str
    resource_id: str


class Invite(Model):
    id: str
    organization_id: str
    email: str
    authorizations: list[Grant]
    sent_count: int
    last_sent_at: datetime
    created_at: datetime


class Location(Model):
    id: str
    organization_id: str
    parent_id: str | None
    name: str
    metadata: dict[str, Any]
    created_at: datetime
    shared_with: list[str]


class Secret(Model):
    id: str
    secret: str
    created_at: datetime


class Machine(Model):
    id: str
    organization_id: str
    location_id: str
    name: str
    rentable: bool
    metadata: dict[str, Any]
    created_at: datetime


class Part(Model):
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


class PartConfig(Model):
    part_id: str
    config: dict[str, Any]


class ConfigRevision(Model):
    id: str
    part_id: str
    previous_config: dict[str, Any]
    edited_by: str
    edited_at: datetime
