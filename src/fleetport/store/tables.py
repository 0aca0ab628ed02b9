"""The schema. Every change here needs an Alembic migration in store/migrations/versions."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from fleetport.store.storable import guard

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
    # the part's agent is online until then (each heartbeat moves it on; a clean goodbye clears it)
    Column("agent_online_until", DateTime(timezone=True), nullable=True),
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
    # message and logger_name case folded (store.logs.fold), what text filters match
    Column("message_folded", Text, nullable=False, server_default=""),
    Column("logger_name_folded", Text, nullable=False, server_default=""),
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
TELEMETRY_RID = "telemetry_resources.rid"

telemetry_resources = Table(
    "telemetry_resources",
    metadata,
    Column("rid", RID, primary_key=True),
    Column("type", String(16), nullable=False),  # client | dataport | datarule | dispatch
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
    # clients: activated | notactivated (its key awaits activation) | expired (deactivated)
    Column("status", String(16), nullable=False, default="activated"),
    Column("name", String(200), nullable=False, default=""),
    Column("meta", Text, nullable=False, default=""),
    Column("public", Boolean, nullable=False, default=False),
    Column("tags", JSON, nullable=False, default=list),
    Column("description", JSON, nullable=False, default=dict),  # as given at create / update time
    Column("format", String(16), nullable=True),  # float | integer | string | binary
    Column("retention_count", BigInteger, nullable=True),  # null: infinity
    Column("retention_seconds", BigInteger, nullable=True),  # null: infinity
    # the integer key of the resource's points (dataports, datarules, dispatches): the first 60
    # bits of the RID, unique
    Column("series", BigInteger, nullable=True, unique=True),
    # the resource whose new points flow into this one (a datarule's or dispatch's input)
    Column("subscribe_rid", RID, nullable=True, index=True),
    Column("state", JSON, nullable=True),  # datarules: what evaluation carries between points
    Column("deadline", BigInteger, nullable=True, index=True),  # datarules: when a timeout fires
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

# The points of a series in blocks (store.series): timestamps and values packed per block. Blocks
# carry no foreign key; a trigger deletes them with their resource (migration 0004).
telemetry_blocks = Table(
    "telemetry_blocks",
    metadata,
    Column("id", PointId, primary_key=True, autoincrement=True),  # arrival order
    Column("series", BigInteger, nullable=False),  # telemetry_resources.series
    Column("first", BigInteger, nullable=False),  # unix seconds of the block's oldest point
    Column("last", BigInteger, nullable=False),  # and of its newest
    Column("count", Integer, nullable=False),
    Column("timestamps", LargeBinary, nullable=False),  # int64 little-endian, in order
    Column("vals", LargeBinary, nullable=False),  # float64 / int64 little-endian, or a JSON list
    Index("ix_telemetry_blocks_series_last", "series", "last"),
    Index("ix_telemetry_blocks_series_first", "series", "first"),
)

# A share code lets another client activate (reach) a resource it does not own.
telemetry_shares = Table(
    "telemetry_shares",
    metadata,
    Column("code", String(40), primary_key=True),
    Column("rid", RID, ForeignKey("telemetry_resources.rid", ondelete="CASCADE"), nullable=False, index=True),
    Column(
        "owner_rid",
        RID,
        ForeignKey("telemetry_resources.rid", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("meta", Text, nullable=False, default=""),
    Column(
        "activator_rid",
        RID,
        ForeignKey("telemetry_resources.rid", ondelete="SET NULL"),
        nullable=True,
        index=True,
    ),
    Column("created_at", BigInteger, nullable=False),
    Column("activated_at", BigInteger, nullable=True),
)

# A token (from grant) acts as one client, limited to some procedures on some sub-trees. The token
# is shown once, by grant; only its SHA-256 is kept. The id (not secret) is what listing shows.
telemetry_tokens = Table(
    "telemetry_tokens",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column(
        "client_rid",
        RID,
        ForeignKey("telemetry_resources.rid", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("permissions", JSON, nullable=False),  # {rid: [procedure, ...]}
    Column("expires_at", BigInteger, nullable=True),  # unix seconds; null: never
    Column("created_at", BigInteger, nullable=False),
)

# Consumables a client used (http dispatches, shares): what the usage procedure sums.
telemetry_usage = Table(
    "telemetry_usage",
    metadata,
    Column("id", PointId, primary_key=True, autoincrement=True),
    Column("client_rid", RID, ForeignKey("telemetry_resources.rid", ondelete="CASCADE"), nullable=False),
    Column("metric", String(16), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False, default=1),
    Index("ix_telemetry_usage_client_metric_at", "client_rid", "metric", "at"),
)

# --- provisioning: vendors, models, serial numbers and content ---------------------------------

provision_vendors = Table(
    "provision_vendors",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    # the client whose key registered the vendor; its key (or the vendor token) manages it
    Column(
        "client_rid",
        RID,
        ForeignKey("telemetry_resources.rid", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("token", String(40), nullable=False, unique=True),  # the vendor token
    Column("created_at", BigInteger, nullable=False),
)

provision_models = Table(
    "provision_models",
    metadata,
    Column("id", ID, primary_key=True),
    Column("vendor_id", ID, ForeignKey("provision_vendors.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("template_rid", RID, nullable=False),  # the client each enabled serial number clones
    Column("share_code", String(40), nullable=True),  # when the model was made from a share code
    Column("options", JSON, nullable=False, default=list),  # noaliases | nocomments | nohistorical
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("vendor_id", "name", name="uq_provision_models_vendor_name"),
)

provision_serials = Table(
    "provision_serials",
    metadata,
    Column("id", ID, primary_key=True),
    Column("model_id", ID, ForeignKey("provision_models.id", ondelete="CASCADE"), nullable=False),
    Column("sn", String(255), nullable=False),
    Column("extra", Text, nullable=False, default=""),
    # the clone made by enable; its key is handed out once by activate
    Column("rid", RID, ForeignKey("telemetry_resources.rid", ondelete="SET NULL"), nullable=True),
    Column("owner_rid", RID, nullable=True),
    # may be activated; whether it was is the status of its client (notactivated, then activated)
    Column("enabled", Boolean, nullable=False, default=False),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("model_id", "sn", name="uq_provision_serials_model_sn"),
)

provision_activation_log = Table(
    "provision_activation_log",
    metadata,
    Column("id", PointId, primary_key=True, autoincrement=True),
    Column(
        "serial_id", ID, ForeignKey("provision_serials.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("at", BigInteger, nullable=False),
    Column("connection", Text, nullable=False, default=""),  # who activated: the peer address
    Column("entry", Text, nullable=False),
)

provision_content = Table(
    "provision_content",
    metadata,
    Column("id", ID, primary_key=True),
    Column("model_id", ID, ForeignKey("provision_models.id", ondelete="CASCADE"), nullable=False),
    Column("content_id", String(255), nullable=False),
    Column("meta", Text, nullable=False, default=""),
    Column("protected", Boolean, nullable=False, default=False),
    Column("content_type", String(255), nullable=True),  # null until uploaded
    Column("size", BigInteger, nullable=False, default=0),
    Column("blob", String(64), nullable=True),  # the SHA-256 of the content in the blob store
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("model_id", "content_id", name="uq_provision_content_model_content"),
)

# Which server process runs each background duty, until when (Unix milliseconds): store.leases
duty_leases = Table(
    "duty_leases",
    metadata,
    Column("duty", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
)

# --- remote access (core/remote) --------------------------------------------------------------

# A machine offered for remote sessions: at most one deployment per machine.
deployments = Table(
    "deployments",
    metadata,
    _id(),
    Column("machine_id", ID, ForeignKey("machines.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column(
        "organization_id", ID, ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("type", String(100), nullable=False),
    Column("region", String(100), nullable=False, default=""),
    Column("addons", JSON, nullable=False, default=list),  # supported add-ons: cam, drive, ...
    Column("addons_config", JSON, nullable=False, default=dict),
    Column("locked_out", Boolean, nullable=False, default=False),
    Column("instance_count", BigInteger, nullable=False, default=0),  # instances ever launched
    _created(),
)

# Who may (CAP_INSTANTIATE) or may not (CAP_NO_INSTANTIATE) launch on a deployment; no user: everyone.
deployment_rules = Table(
    "deployment_rules",
    metadata,
    _id(),
    Column("deployment_id", ID, ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("capability", String(32), nullable=False),
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True),
    _created(),
)

# A remote session on a deployment. ``port`` and ``active_deployment`` are set only while the
# instance is active (INIT, READY, TERMINATING): their unique constraints make the database refuse
# a forwarding port handed out twice and a second active instance on one deployment.
instances = Table(
    "instances",
    metadata,
    _id(),
    Column("deployment_id", ID, ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False),
    Column("launched_by", ID, nullable=False),  # the principal: a user or an API key
    Column("user_id", ID, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("status", String(16), nullable=False),  # INIT READY INIT_FAIL TERMINATING TERMINATED
    Column("public_key", Text, nullable=False),
    Column("expire_seconds", BigInteger, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),  # started_at + expire_seconds
    Column("ready_at", DateTime(timezone=True), nullable=True),
    Column("terminating_at", DateTime(timezone=True), nullable=True),
    Column("terminated_at", DateTime(timezone=True), nullable=True),
    Column("port", Integer, nullable=True, unique=True),
    Column("active_deployment", ID, nullable=True, unique=True),
    Column("hostkey", Text, nullable=True),
    Column("event_url", Text, nullable=True),
    Column("failure", Text, nullable=False, default=""),
    Column("firewall", JSON, nullable=True),  # null: no chain yet (all accepted); a list of rules
    Column("addons", JSON, nullable=False, default=dict),  # add-on -> starting | active
    Index("ix_instances_launched_by", "launched_by", "id"),
    Index("ix_instances_deployment", "deployment_id", "id"),
    Index("ix_instances_status", "status"),
)

# The ports of the remote port range active instances hold: each instance's forwarding port (no
# add-on) and the ports of its relayed add-ons (mistyproxy's http and https, vnc). The primary key
# makes the database refuse a port handed out twice, whatever it is for; rows go when the instance
# ends or the add-on is deactivated.
instance_ports = Table(
    "instance_ports",
    metadata,
    Column("port", Integer, primary_key=True, autoincrement=False),
    Column("instance_id", ID, ForeignKey("instances.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("addon", String(16), nullable=True),  # null: the instance's forwarding (SSH) port
    Column("kind", String(8), nullable=False),  # ssh | http | https | vnc
)

# Waiting requests for a deployment, fulfilled oldest first when it frees.
reservations = Table(
    "reservations",
    metadata,
    _id(),
    Column("deployment_id", ID, ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False),
    Column("requested_by", ID, nullable=False),  # the principal: a user or an API key
    Column("user_id", ID, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("public_key", Text, nullable=False),
    Column("expire_seconds", BigInteger, nullable=False),
    Column("event_url", Text, nullable=True),
    _created(),
    Index("ix_reservations_deployment", "deployment_id", "created_at"),
    Index("ix_reservations_requested_by", "requested_by", "id"),
)

# Continuous-integration projects named by their repository.
ci_projects = Table(
    "ci_projects",
    metadata,
    _id(),
    Column("owner_id", ID, nullable=False, index=True),  # the principal: a user or an API key
    Column("repo_url", Text, nullable=False),
    _created(),
)

# A job of a CI project: a branch (and a commit or ref of it) run on an instance of a deployment.
# ``instance_id`` is set while the job holds an instance (running); ``workspace_type`` is the
# type the job needs (None: any), given at submission or learned from the repository's job file.
ci_jobs = Table(
    "ci_jobs",
    metadata,
    _id(),
    Column("project_id", ID, ForeignKey("ci_projects.id", ondelete="CASCADE"), nullable=False),
    Column("owner_id", ID, nullable=False),  # the project's owner, who launches its instances
    Column("branch", String(255), nullable=False),
    Column("ref", String(255), nullable=False, default=""),  # "" : the branch's tip
    Column("workspace_type", String(100), nullable=True),
    Column("status", String(16), nullable=False),  # queued running passed failed error
    Column("exit_code", Integer, nullable=True),
    Column("reason", Text, nullable=False, default=""),  # why it failed or could not run
    Column("log", Text, nullable=False, default=""),
    Column("log_size", BigInteger, nullable=False, default=0),  # UTF-8 bytes of ``log``
    Column("log_truncated", Boolean, nullable=False, default=False),
    Column("deployment_id", ID, ForeignKey("deployments.id", ondelete="SET NULL"), nullable=True),
    Column("instance_id", ID, ForeignKey("instances.id", ondelete="SET NULL"), nullable=True, unique=True),
    _created(),
    Column("started_at", DateTime(timezone=True), nullable=True),  # taken off the queue
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Index("ix_ci_jobs_project", "project_id", "id"),
    Index("ix_ci_jobs_status", "status", "id"),
)

# The last sequence number of each of a part agent's delivery streams stored (logs, points): a
# message at or below it was delivered already and is acknowledged again without a write
agent_deliveries = Table(
    "agent_deliveries",
    metadata,
    Column("part_id", ID, ForeignKey("parts.id", ondelete="CASCADE"), primary_key=True),
    Column("stream", String(200), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
)

guard(metadata)  # every column refuses what the two databases would not hold alike
