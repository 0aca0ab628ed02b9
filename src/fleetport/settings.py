"""Server configuration: defaults, overridden by FLEETPORT_* environment variables, overridden by
command-line flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

SQLITE_SYNCHRONOUS = ("NORMAL", "FULL")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("fleetport-data")
    database_url: str = ""  # empty: SQLite file inside data_dir
    host: str = "127.0.0.1"
    http_port: int = 8080
    https_port: int = 8443  # 0 disables the HTTPS listener
    grpc_port: int = 8081  # Viam dialect; 0 disables it
    tls_cert: Path | None = None
    tls_key: Path | None = None
    admin_email: str = "admin@fleetport.local"
    admin_password: str | None = None
    admin_api_key: str | None = None
    max_body_bytes: int = 1 << 20
    max_upload_bytes: int = 256 << 20  # file uploads (module files): their own, larger limit
    max_page_size: int = 500
    default_page_size: int = 100
    session_ttl_seconds: int = 7 * 24 * 3600
    credential_cache_seconds: float = 5.0
    # Redis shared by the server processes of one database for live events; empty: in-process only
    redis_url: str = ""
    redis_prefix: str = "fleetport:"  # of the Redis channels, to keep several fleets on one Redis apart
    duty_lease_seconds: float = 5.0  # a dead process's background duties move on after this long
    log_level: str = "info"
    worker_threads: int = 8
    log_retention_count: int = 100_000  # part log entries kept per part (the newest); 0: no limit
    log_retention_seconds: float = 30 * 24 * 3600.0  # part log entries older than this go; 0: kept
    log_max_batch: int = 10_000  # part log entries one append may carry
    log_max_batch_bytes: int = 16 << 20  # body size limit of a part log append
    points_max_batch_bytes: int = 16 << 20  # body size limit of a dataport points write
    onep_max_body_bytes: int = 16 << 20  # body size limit of a One Platform RPC request
    # SQLite only: NORMAL syncs the write-ahead log at checkpoints (the last commits can be lost on
    # power loss, never corrupted); FULL syncs it on every commit
    sqlite_synchronous: str = "NORMAL"

    def __post_init__(self) -> None:
        if self.sqlite_synchronous.upper() not in SQLITE_SYNCHRONOUS:
            raise SystemExit(
                f"FLEETPORT_SQLITE_SYNCHRONOUS must be {' or '.join(SQLITE_SYNCHRONOUS)}, "
                f"got {self.sqlite_synchronous!r}"
            )
        object.__setattr__(self, "sqlite_synchronous", self.sqlite_synchronous.upper())
        if not self.duty_lease_seconds > 0:
            raise SystemExit(f"FLEETPORT_DUTY_LEASE_SECONDS must be positive, got {self.duty_lease_seconds}")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'fleetport.db').resolve()}"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"FLEETPORT_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.name, f.type, raw)
        settings = cls(**values)
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **given) if given else settings


def _coerce(name: str, annotation: Any, raw: str) -> Any:
    kind = str(annotation)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if "Path" in kind:
            return Path(raw)
    except ValueError:
        raise SystemExit(f"FLEETPORT_{name.upper()} must be a number, got {raw!r}") from None
    return raw
