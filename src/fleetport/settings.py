"""Server configuration: defaults, overridden by FLEETPORT_* environment variables, overridden by
command-line flags.

Settings of the server as a whole have flat names (``FLEETPORT_HTTP_PORT``). Each dialect has a
section of its own, ``FLEETPORT_<SECTION>__<SETTING>`` (``FLEETPORT_ONEP__MAX_BODY_BYTES``); the
flat names the dialects' settings had before sections existed stay as aliases (``FLEETPORT_GRPC_PORT``
is ``FLEETPORT_VIAM__GRPC_PORT``), and the sectioned name wins when both are given.

``Settings(...)`` takes only the values it is given (tests build them so); ``Settings.from_env``
reads the environment. A value that does not parse stops the server with one line naming the
variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError
from pydantic_settings.sources import EnvSettingsSource
from pydantic_settings.sources.utils import parse_env_vars

ENV_PREFIX = "FLEETPORT_"
SECTION_DELIMITER = "__"
SQLITE_SYNCHRONOUS = ("NORMAL", "FULL")
PORT_MAX = 65535


def _port_number(value: int) -> int:
    if not 0 <= value <= PORT_MAX:
        raise ValueError(f"a port number is 1 to {PORT_MAX} (0 turns its listener off)")
    return value


PortNumber = Annotated[int, AfterValidator(_port_number)]
Positive = Annotated[int, Field(ge=1)]
NonNegative = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0)]
PositiveSeconds = Annotated[float, Field(gt=0)]


class DialectSettings(BaseModel):
    """A dialect's section; ``enabled`` false leaves the dialect out of the server."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True


class OnePlatformSettings(DialectSettings):
    max_body_bytes: Positive = 16 << 20  # body size limit of a One Platform RPC request


class ViamSettings(DialectSettings):
    grpc_port: PortNumber = 8081  # 0 turns the gRPC listener off


class RerobotsSettings(DialectSettings):
    max_body_bytes: Positive = 64 << 10  # body size limit of a rerobots request


def _port_range(value: str) -> str:
    low, dash, high = value.partition("-")
    if not dash or not low.strip().isdigit() or not high.strip().isdigit():
        raise ValueError("must be a range of ports, FIRST-LAST (20000-20999)")
    first, last = int(low), int(high)
    if not 1 <= first <= last <= PORT_MAX:
        raise ValueError(f"FIRST-LAST must lie within 1-{PORT_MAX}, FIRST not above LAST")
    if first == last == 22:
        raise ValueError("port 22 is never handed out: give a range with other ports")
    return f"{first}-{last}"


class RemoteSettings(BaseModel):
    """Remote access (``FLEETPORT_REMOTE__...``): the forwarding ports instances get, how long an
    instance may wait for its robot's agent, how long instances live by default, and the limits
    of CI jobs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ports: Annotated[str, AfterValidator(_port_range)] = "20000-20999"  # never 22
    public_host: str = "127.0.0.1"  # the address an instance's forwarding port is reached at
    # where the agent hub listens on forwarding ports: "" is every address of the host (IPv4 and
    # IPv6), since public_host may be a name or an address translated in front of the server
    listen_host: str = ""
    launch_timeout_seconds: PositiveSeconds = 60.0  # INIT without an agent's answer -> INIT_FAIL
    default_expire_seconds: Annotated[int, Field(ge=1, le=10 * 365 * 24 * 3600)] = 3600
    sweep_every_seconds: PositiveSeconds = 1.0  # how often launch timeouts and expiries are checked
    # CI jobs: how long one may run on its robot (clone and script), how much log it keeps (UTF-8
    # bytes), and how long it may wait in the queue for a free deployment of its workspace type
    ci_time_limit_seconds: Annotated[int, Field(ge=1, le=7 * 24 * 3600)] = 1800
    ci_log_bytes: Annotated[int, Field(ge=1024, le=64 << 20)] = 1 << 20
    ci_queue_seconds: Annotated[int, Field(ge=1, le=30 * 24 * 3600)] = 3600

    @property
    def port_range(self) -> tuple[int, int]:
        first, _, last = self.ports.partition("-")
        return int(first), int(last)


class AgentSettings(DialectSettings):
    """The agent hub (``/agent/v1``): how often agents beat, when a silent one counts as offline,
    how large one message may be and how long opening a stream to a robot may take."""

    heartbeat_seconds: PositiveSeconds = 15.0
    offline_after_seconds: PositiveSeconds = 45.0
    max_message_bytes: Positive = 16 << 20
    stream_open_seconds: PositiveSeconds = 10.0


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=SECTION_DELIMITER,
        env_ignore_empty=True,  # FLEETPORT_X= (empty) means "not set", as it always has
    )

    data_dir: Path = Path("fleetport-data")
    database_url: str = ""  # empty: SQLite file inside data_dir
    host: str = "127.0.0.1"
    http_port: PortNumber = 8080
    https_port: PortNumber = 8443  # 0 disables the HTTPS listener
    tls_cert: Path | None = None
    tls_key: Path | None = None
    admin_email: str = "admin@fleetport.local"
    admin_password: str | None = None
    admin_api_key: str | None = None
    max_body_bytes: Positive = 1 << 20
    max_upload_bytes: Positive = 256 << 20  # file uploads (module files): their own, larger limit
    # at most the 1,000 items a core listing hands out in one page
    max_page_size: Annotated[int, Field(ge=1, le=1000)] = 500
    default_page_size: Positive = 100
    session_ttl_seconds: Positive = 7 * 24 * 3600
    credential_cache_seconds: Seconds = 5.0
    # Redis shared by the server processes of one database for live events; empty: in-process only
    redis_url: str = ""
    redis_prefix: str = "fleetport:"  # of the Redis channels, to keep several fleets on one Redis apart
    duty_lease_seconds: PositiveSeconds = 5.0  # a dead process's background duties move on after this long
    log_level: str = "info"
    worker_threads: Positive = 8
    log_retention_count: NonNegative = 100_000  # part log entries kept per part (the newest); 0: no limit
    log_retention_seconds: Seconds = 30 * 24 * 3600.0  # older part log entries go; 0: kept
    log_max_batch: Positive = 10_000  # part log entries one append may carry
    log_max_batch_bytes: Positive = 16 << 20  # body size limit of a part log append
    points_max_batch_bytes: Positive = 16 << 20  # body size limit of a dataport points write
    # SQLite only: NORMAL syncs the write-ahead log at checkpoints (the last commits can be lost on
    # power loss, never corrupted); FULL syncs it on every commit
    sqlite_synchronous: str = "NORMAL"

    # the dialects' sections
    onep: OnePlatformSettings = OnePlatformSettings()
    viam: ViamSettings = ViamSettings()
    rerobots: RerobotsSettings = RerobotsSettings()
    # remote access (deployments, instances), shared by the dialects that offer it
    remote: RemoteSettings = RemoteSettings()
    agent: AgentSettings = AgentSettings()

    @field_validator("sqlite_synchronous")
    @classmethod
    def _synchronous_mode(cls, value: str) -> str:
        if value.upper() not in SQLITE_SYNCHRONOUS:
            raise ValueError(f"must be {' or '.join(SQLITE_SYNCHRONOUS)}")
        return value.upper()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given to the constructor: the environment is read by ``from_env``."""
        return (init_settings,)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'fleetport.db').resolve()}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **flags: Any) -> Settings:
        """The defaults, overridden by the FLEETPORT_* variables of ``environ`` (the process's
        environment when not given), overridden by ``flags`` that are not None (the command line's
        options, by their flat names). Raises SystemExit with one line for a value that does not
        parse."""
        env = os.environ if environ is None else environ
        try:
            from_variables = _Environment(cls, env)()
        except SettingsError:  # a whole section given as one variable, and not as a JSON object
            named = {name.upper() for name in env}
            section = next((name for name in sections() if env_name((name,)) in named), "<section>")
            raise SystemExit(
                f"{env_name((section,))} must be a JSON object of the section's settings, "
                f"or give them one by one as {env_name((section, 'SETTING'))}"
            ) from None
        values = _merge(_flat_aliases(env), from_variables)
        given = {name: value for name, value in flags.items() if value is not None}
        values = _merge(values, _sectioned(given))
        try:
            return cls(**values)
        except ValidationError as exc:
            raise SystemExit(_problem(exc, env)) from None


def sections() -> list[str]:
    """The names of the dialects' sections."""
    return [
        name
        for name, field in Settings.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, DialectSettings)
    ]


# The flat names that stand for a setting in a section: (section, setting) by flat setting name.
FLAT_ALIASES: dict[str, tuple[str, str]] = {
    "grpc_port": ("viam", "grpc_port"),
    "onep_max_body_bytes": ("onep", "max_body_bytes"),
}


def env_name(location: tuple[str, ...]) -> str:
    """The variable of a setting: ``FLEETPORT_HTTP_PORT``, ``FLEETPORT_ONEP__MAX_BODY_BYTES``."""
    return ENV_PREFIX + SECTION_DELIMITER.join(part.upper() for part in location)


class _Environment(EnvSettingsSource):
    """The FLEETPORT_* variables of a given mapping, parsed by pydantic-settings."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self.environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self.environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


def _flat_aliases(environ: Mapping[str, str]) -> dict[str, Any]:
    given = {
        name: environ[env_name((name,))] for name in FLAT_ALIASES if environ.get(env_name((name,)), "") != ""
    }
    return _sectioned(given)


def _sectioned(values: Mapping[str, Any]) -> dict[str, Any]:
    """Flat names of sectioned settings put into their sections."""
    result: dict[str, Any] = {}
    for name, value in values.items():
        if name in FLAT_ALIASES:
            section, setting = FLAT_ALIASES[name]
            result.setdefault(section, {})[setting] = value
        else:
            result[name] = value
    return result


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with the values of ``over``, section by section."""
    merged = dict(base)
    for name, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(name), Mapping):
            merged[name] = {**merged[name], **value}
        else:
            merged[name] = value
    return merged


def _problem(exc: ValidationError, environ: Mapping[str, str]) -> str:
    """One line naming the variable whose value is wrong (the first, when several are)."""
    first = exc.errors()[0]
    location = tuple(str(part) for part in first["loc"])
    name = env_name(location)
    flat = next((alias for alias, place in FLAT_ALIASES.items() if place == location), None)
    if flat is not None and name not in environ and env_name((flat,)) in environ:
        name = env_name((flat,))
    if first["type"] == "extra_forbidden":
        return f"{name} is not a setting"
    reason = str(first["msg"]).removeprefix("Value error, ")
    reason = reason[:1].lower() + reason[1:]
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return f"{name}={first['input']!r} is not valid: {reason}{more}"
