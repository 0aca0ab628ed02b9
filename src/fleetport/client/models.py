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
    metadata: dict[str, Any]
    created_at: datetime
    online: bool = False  # an agent of one of its parts is connected
    last_seen: datetime | None = None  # when one of its parts was last heard from


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
    online: bool = False  # its agent is connected


class AgentConfig(Model):
    """What ``fleetport agent --config FILE`` reads: where the server is and the part's secret."""

    server: str
    part_id: str
    secret: str


class PartConfig(Model):
    part_id: str
    config: dict[str, Any]


class ConfigRevision(Model):
    id: str
    part_id: str
    previous_config: dict[str, Any]
    edited_by: str
    edited_at: datetime


class LogEntry(Model):
    """A part's log entry; ``id`` orders a part's log (the order entries arrived in)."""

    id: int
    part_id: str
    time: datetime
    level: str
    message: str
    logger_name: str
    host: str
    caller: dict[str, Any] | None
    stack: str
    fields: list[dict[str, Any]]


class LogsAppended(Model):
    count: int


class Fragment(Model):
    id: str
    organization_id: str
    organization_name: str
    name: str
    config: dict[str, Any]
    visibility: str = Field(description="private, public or public_unlisted")
    public: bool
    created_at: datetime
    updated_at: datetime
    robot_part_count: int = Field(description="Machine parts whose config uses the fragment")
    organization_count: int = Field(description="Organizations whose parts use the fragment")
    only_used_by_owner: bool


class FragmentRevision(Model):
    id: str
    fragment_id: str
    previous_name: str
    previous_config: dict[str, Any]
    previous_visibility: str
    edited_by: str
    edited_at: datetime


class ModuleFile(Model):
    version: str
    platform: str
    size: int
    blob: str = Field(description="SHA-256 of the content")
    uploaded_by: str
    created_at: datetime


class RegistryVersion(Model):
    version: str
    deprecated: bool
    deprecation_message: str
    files: list[ModuleFile]
    created_at: datetime


class RegistryItem(Model):
    id: str = Field(description="namespace:name, or organization-id:name without a public namespace")
    organization_id: str
    public_namespace: str | None
    name: str
    type: str
    visibility: str
    description: str
    url: str
    status: str
    entrypoint: str
    models: list[dict[str, Any]]
    deprecated: bool
    deprecation_message: str
    versions: list[RegistryVersion]
    created_at: datetime
    updated_at: datetime
    total_robot_usage: int
    total_organization_usage: int


class ModuleRef(Model):
    module_id: str
    url: str = Field(description="The module's address in this API")


class ModuleUpload(Model):
    version: str
    platform: str
    size: int
    sha256: str
    url: str = Field(description="Where to download the file (GET)")


class TelemetryClient(Model):
    """A client of the telemetry resource tree: its RID and, for those who may see it, its key
    (the CIK a One Platform client authenticates with)."""

    rid: str
    cik: str | None = None


PointValue = int | float | str


class Point(Model):
    """One point of a dataport: Unix seconds and a value of the dataport's format."""

    timestamp: int = Field(description="Unix seconds")
    value: PointValue


class Dataport(Model):
    """A time series of a machine (a dataport of its device client in the telemetry tree)."""

    rid: str = Field(description="The One Platform resource id (40 hex digits)")
    alias: str | None = Field(description="The device client's alias for it; null if it has none")
    name: str
    format: str = Field(description="float, integer, string or binary")
    retention_count: int | None = Field(description="Points kept at most (the newest); null: no limit")
    retention_seconds: int | None = Field(description="Points older than this go; null: no limit")
    count: int = Field(description="Points stored")
    first_timestamp: int | None = Field(description="Unix seconds of the oldest point")
    last_timestamp: int | None = Field(description="Unix seconds of the newest point")
    last_value: PointValue | None = Field(description="The newest point's value")
    created_at: datetime
    modified_at: datetime


class PointFailure(Model):
    index: int | None = Field(description="The point's place in the batch; null when it cannot be told")
    timestamp: int | None
    reason: str


class PointsWritten(Model):
    """What a write stored; points left out are listed with the reason."""

    written: int
    failures: list[PointFailure]


# --- remote access --------------------------------------------------------------------------


class Deployment(Model):
    id: str
    machine_id: str
    organization_id: str
    type: str
    region: str
    addons: list[str]
    addons_config: dict[str, Any]
    locked_out: bool
    instance_count: int
    queuelen: int
    created_at: datetime
    online: bool = False  # an agent of one of the machine's parts is connected


class AccessRule(Model):
    id: str
    deployment_id: str
    capability: str
    user_id: str | None
    user_email: str | None
    created_at: datetime


class FirewallRule(Model):
    source: str | None
    action: str


class Instance(Model):
    id: str
    deployment_id: str
    type: str
    region: str
    launched_by: str
    status: str
    public_key: str
    expire_seconds: int
    started_at: datetime
    ready_at: datetime | None
    terminated_at: datetime | None
    port: int | None
    host: str
    hostkey: str | None
    failure: str
    firewall: list[FirewallRule] | None
    addons: dict[str, str]


class Reservation(Model):
    id: str
    deployment_id: str
    type: str
    requested_by: str
    created_at: datetime


class Launch(Model):
    """An instance, or a reservation when the deployment was busy; ``private_key`` is the key made
    for the caller when they sent no public key (handed out once)."""

    instance: Instance | None
    reservation: Reservation | None
    private_key: str | None


class Firewall(Model):
    """``rules`` None: no chain yet, every address accepted; [] after a flush: every address dropped."""

    rules: list[FirewallRule] | None


# --- CI projects and jobs -------------------------------------------------------------------


class CiProject(Model):
    id: str
    repo_url: str
    created_at: datetime


class CiJob(Model):
    """A CI job: ``status`` queued, running, passed, failed or error; ``log`` (stdout and stderr
    of the clone and the script, bounded) is given when one job is read, None in listings."""

    id: str
    project_id: str
    repo_url: str
    branch: str
    ref: str
    workspace_type: str | None
    status: str
    exit_code: int | None
    reason: str
    log: str | None
    log_size: int
    log_truncated: bool
    deployment_id: str | None
    instance_id: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
