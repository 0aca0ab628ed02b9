"""``fleetport serve``: run a server. The server and its dependencies (the ``server`` extra) load
only here, so the client commands work where only ``pip install fleetport`` was installed."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from fleetport.cli.output import fail

INSTALL_SERVER = "pip install 'fleetport[server]'"


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"
    critical = "critical"


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (env FLEETPORT_HOST).")] = None,
    http_port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="HTTP port (env FLEETPORT_HTTP_PORT).")
    ] = None,
    https_port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="HTTPS port, 0 disables HTTPS (env FLEETPORT_HTTPS_PORT)."),
    ] = None,
    grpc_port: Annotated[
        int | None,
        typer.Option(
            min=0, max=65535, help="gRPC port of the Viam dialect, 0 disables it (env FLEETPORT_GRPC_PORT)."
        ),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(file_okay=False, help="Where data lives (env FLEETPORT_DATA_DIR).")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL; default SQLite in the data dir (env FLEETPORT_DATABASE_URL)."),
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="PEM certificate for HTTPS; default self-signed (env FLEETPORT_TLS_CERT).",
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="PEM private key for HTTPS (env FLEETPORT_TLS_KEY)."),
    ] = None,
    log_level: Annotated[
        LogLevel | None, typer.Option(case_sensitive=False, help="Logging level (env FLEETPORT_LOG_LEVEL).")
    ] = None,
) -> None:
    """Run a Fleetport server. Options override FLEETPORT_* environment variables."""
    try:
        from fleetport.server import serve as run
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] == "fleetport":
            raise  # a module of Fleetport's own is missing: a broken install, not a missing extra
        fail(f"the server is not installed here (no module {exc.name!r}): {INSTALL_SERVER}")
    from fleetport.settings import Settings

    settings = Settings.from_env(
        host=host,
        http_port=http_port,
        https_port=https_port,
        grpc_port=grpc_port,
        data_dir=data_dir,
        database_url=database_url,
        tls_cert=tls_cert,
        tls_key=tls_key,
        log_level=log_level.value if log_level else None,
    )
    if bool(settings.tls_cert) != bool(settings.tls_key):
        fail("give both --tls-cert and --tls-key (or FLEETPORT_TLS_CERT and FLEETPORT_TLS_KEY), or neither")
    run(settings)
