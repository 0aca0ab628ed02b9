"""The schema. Every change here needs an Alembic migration in store/migrations/versions."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(36)


def _id() -> Column:  # type: ignore[type-arg]
    return Column("id", ID, primary_key=True)


def _created() -> Column:  # type: ignore[type-arg]
    return Column("created_at", DateTime(timezone=True), nullable=False)


users = Table(
    "users",
    metadata,
    _id(),
    Column("email", String(320), nullable=False, unique=True),
    Column("name", String(200), nullable=False, default=""),
    Column("password_hash", String(200), nullable=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    _created(),
)

sessions = Table(
    "sessions",
    metadata,
    _id(),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    _created(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

organizations = Table(
    "organizations",
    metadata,
    _id(),
    Column("name", String(200), nullable=False),
    Column("public_namespace", String(63), nullable=True, unique=True),
    Column("region", String(64), nullable=False, default=""),
    Column("cid", String(64), nullable=False, default=""),
    Column("metadata", JSON, nullable=False, default=dict),
    _created(),
)

locations = Table(
    "locations",
    metadata,
    _id(),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("parent_id", ID, ForeignKey("locations.id", ondelete="CASCADE"), nullable=True, index=True),
    Column("name", String(200), nullable=False),
    Column("metadata", JSON, nullable=False, default=dict),
    _created(),
)

location_shares = Table(
    "location_shares",
    metadata,
    Column("location_id", ID, ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True),
    Column("organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True),
    _created(),
)

location_secrets = Table(
    "location_secrets",
    metadata,
    _id(),
    Column("location_id", ID, ForeignKey("locations.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("secret", String(128), nullable=False),
    _created(),
)

machines = Table(
    "machines",
    metadata,
    _id(),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("location_id", ID, ForeignKey("locations.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("rentable", Boolean, nullable=False, default=False),
    Column("metadata", JSON, nullable=False, default=dict),
    _created(),
)

parts = Table(
    "parts",
    metadata,
    _id(),
    Column("machine_id", ID, ForeignKey("machines.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("main_part", Boolean, nullable=False, default=False),
    Column("restart_required", Boolean, nullable=False, default=False),
    Column("config", JSON, nullable=False, default=dict),
    Column("config_updated_at", DateTime(timezone=True), nullable=True),
    Column("fqdn", String(255), nullable=False, default=""),
    Column("local_fqdn", String(255), nullable=False, default=""),
    Column("dns_name", String(255), nullable=False, default=""),
    Column("last_access", DateTime(timezone=True), nullable=True),
    Column("metadata", JSON, nullable=False, default=dict),
    _created(),
    UniqueConstraint("machine_id", "name", name="uq_parts_machine_id_name"),
)

part_config_history = Table(
    "part_config_history",
    metadata,
    _id(),
    Column("part_id", ID, ForeignKey("parts.id", ondelete="CASCADE"), nullable=False),
    Column("previous_config", JSON, nullable=False),
    Column("edited_by", String(320), nullable=False),
    Column("edited_at", DateTime(timezone=True), nullable=False),
    Index("ix_part_config_history_part", "part_id", "id"),
)

part_secrets = Table(
    "part_secrets",
    metadata,
    _id(),
    Column("part_id", ID, ForeignKey("parts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("secret", String(128), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    _created(),
)

api_keys = Table(
    "api_keys",
    metadata,
    _id(),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    # The organization whose resources the key's authorizations name; null for admin keys.
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=True, index=True
    ),
    Column("created_by", ID, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    _created(),
)

# A role (owner | operator) held by a user or an API key on an organization, location or robot.
authorizations = Table(
    "authorizations",
    metadata,
    _id(),
    Column("subject_type", String(16), nullable=False),  # user | api_key
    Column("subject_id", ID, nullable=False),
    Column("role", String(16), nullable=False),  # owner | operator
    Column("resource_type", String(16), nullable=False),  # organization | location | robot
    Column("resource_id", ID, nullable=False),
    Column("organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    _created(),
    UniqueConstraint(
        "subject_type", "subject_id", "role", "resource_type", "resource_id", name="uq_authorizations_grant"
    ),
    Index("ix_authorizations_subject", "subject_type", "subject_id"),
    Index("ix_authorizations_org", "organization_id", "subject_type"),
    Index("ix_authorizations_resource", "resource_id"),
)

invites = Table(
    "invites",
    metadata,
    _id(),
    Column("organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("authorizations", JSON, nullable=False),
    Column("invited_by", ID, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("sent_count", Integer, nullable=False, default=1),
    Column("last_sent_at", DateTime(timezone=True), nullable=False),
    _created(),
    UniqueConstraint("organization_id", "email", name="uq_invites_org_email"),
)

# --- part logs ------------------------------------------------------------------------------

# Integer ids (autoincrement) give logs a total order that paging and tailing rely on.
LogId = BigInteger().with_variant(Integer(), "sqlite")

part_logs = Table(
    "part_logs",
    metadata,
    Column("id", LogId, primary_key=True, autoincrement=True),
    Column("part_id", ID, ForeignKey("parts.id", ondelete="CASCADE"), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("level", String(16), nullable=False),
    Column("logger_name", String(200), nullable=False, default=""),
    Column("message", Text, nullable=False, default=""),
    Column("host", String(255), nullable=False, default=""),
    Column("caller", JSON, nullable=True),
    Column("stack", Text, nullable=False, default=""),
    Column("fields", JSON, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_part_logs_part_time", "part_id", "time"),
    Index("ix_part_logs_part_id", "part_id", "id"),
)

# --- fragments ------------------------------------------------------------------------------

fragments = Table(
    "fragments",
    metadata,
    _id(),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("name", String(200), nullable=False),
    Column("config", JSON, nullable=False, default=dict),
    Column("visibility", String(16), nullable=False, default="private"),  # private | public | public_unlisted
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

fragment_history = Table(
    "fragment_history",
    metadata,
    _id(),
    Column("fragment_id", ID, ForeignKey("fragments.id", ondelete="CASCADE"), nullable=False),
    Column("previous_name", String(200), nullable=False),
    Column("previous_config", JSON, nullable=False),
    Column("previous_visibility", String(16), nullable=False),
    Column("edited_by", String(320), nullable=False),
    Column("edited_at", DateTime(timezone=True), nullable=False),
    Index("ix_fragment_history_fragment", "fragment_id", "id"),
)

# Which fragments a part's config uses (its "fragments" list), kept in step with the config.
part_fragments = Table(
    "part_fragments",
    metadata,
    Column("part_id", ID, ForeignKey("parts.id", ondelete="CASCADE"), primary_key=True),
    Column("fragment_id", ID, primary_key=True),
    Index("ix_part_fragments_fragment", "fragment_id"),
)

# --- registry and modules -------------------------------------------------------------------

registry_items = Table(
    "registry_items",
    metadata,
    _id(),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("name", String(200), nullable=False),
    Column("type", String(32), nullable=False),  # module | ml_model | ml_training | ...
    Column("visibility", String(16), nullable=False, default="private"),
    Column("description", Text, nullable=False, default=""),
    Column("url", String(2048), nullable=False, default=""),
    Column("status", String(32), nullable=False, default="in_development"),
    Column("entrypoint", String(1024), nullable=False, default=""),
    Column("models", JSON, nullable=False, default=list),  # [{"api": ..., "model": ...}]
    Column("deprecated", Boolean, nullable=False, default=False),
    Column("deprecation_message", Text, nullable=False, default=""),
    _created(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("organization_id", "name", name="uq_registry_items_org_name"),
)

registry_versions = Table(
    "registry_versions",
    metadata,
    _id(),
    Column("item_id", ID, ForeignKey("registry_items.id", ondelete="CASCADE"), nullable=False),
    Column("version", String(64), nullable=False),
    Column("deprecated", Boolean, nullable=False, default=False),
    Column("deprecation_message", Text, nullable=False, default=""),
    _created(),
    UniqueConstraint("item_id", "version", name="uq_registry_versions_item_version"),
)

module_files = Table(
    "module_files",
    metadata,
    _id(),
    Column("item_id", ID, ForeignKey("registry_items.id", ondelete="CASCADE"), nullable=False),
    Column("version", String(64), nullable=False),
    Column("platform", String(64), nullable=False),
    Column("blob", String(64), nullable=False),  # sha256 of the content in the blob store
    Column("size", BigInteger, nullable=False),
    Column("uploaded_by", String(320), nullable=False),
    _created(),
    UniqueConstraint("item_id", "version", "platform", name="uq_module_files_item_version_platform"),
)

# --- telemetry: the One Platform resource tree and its points --------------------------------

RID = String(40)

telemetry_resources = Table(
    "telemetry_resources",
    metadata,
    Column("rid", RID, primary_key=True),
    Column("type", String(16), nullable=False),  # client | dataport
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    # null for an organization's root client; a parent's drop takes its sub-tree along
    Column(
        "parent_rid",
        RID,
        ForeignKey("telemetry_resources.rid", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    # set on the root client of an organization only: at most one root per organization
    Column("root_of", ID, nullable=True, unique=True),
    # the device client of a machine, if it has one
    Column("machine_id", ID, ForeignKey("machines.id", ondelete="CASCADE"), nullable=True, unique=True),
    Column("cik", String(40), nullable=True, unique=True),  # clients only
    Column("name", String(200), nullable=False, default=""),
    Column("meta", Text, nullable=False, default=""),
    Column("public", Boolean, nullable=False, default=False),
    Column("tags", JSON, nullable=False, default=list),
    Column("description", JSON, nullable=False, default=dict),  # as given at create / update time
    Column("format", String(16), nullable=True),  # dataports: float | integer | string | binary
    Column("retention_count", BigInteger, nullable=True),  # null: infinity
    Column("retention_seconds", BigInteger, nullable=True),  # null: infinity
    Column("created_at", BigInteger, nullable=False),  # unix seconds
    Column("modified_at", BigInteger, nullable=False),
)

telemetry_aliases = Table(
    "telemetry_aliases",
    metadata,
    Column(
        "owner_rid",
        RID,
        ForeignKey("telemetry_resources.rid", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("alias", String(255), primary_key=True),
    Column("rid", RID, ForeignKey("telemetry_resources.rid", ondelete="CASCADE"), nullable=False, index=True),
)

PointId = BigInteger().with_variant(Integer(), "sqlite")

telemetry_points = Table(
    "telemetry_points",
    metadata,
    Column("id", PointId, primary_key=True, autoincrement=True),  # orders points of one timestamp
    Column("rid", RID, ForeignKey("telemetry_resources.rid", ondelete="CASCADE"), nullable=False),
    Column("timestamp", BigInteger, nullable=False),  # unix seconds
    Column("value_float", Float, nullable=True),  # format float
    Column("value_int", BigInteger, nullable=True),  # format integer
    Column("value_text", Text, nullable=True),  # format string and binary
    Index("ix_telemetry_points_rid_timestamp", "rid", "timestamp"),
)
