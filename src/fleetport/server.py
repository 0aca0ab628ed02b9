"""The application factory and the process that serves it on HTTP and HTTPS."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline

from fleetport import __version__, api, data_dir, ports
from fleetport.api import errors
from fleetport.api.edge import EdgeMiddleware, RequestIdFilter
from fleetport.bus import BusUnavailable
from fleetport.core.calls import run_core
from fleetport.core.duties import Duties, server_duties
from fleetport.core.fleet import Fleet
from fleetport.dialects.onep import provision as onep_provision
from fleetport.dialects.onep import routes as onep_routes
from fleetport.settings import Settings
from fleetport.store import Store
from fleetport.tls import ensure_certificate

if TYPE_CHECKING:
    from fleetport.dialects.viam.listener import GrpcListener

log = logging.getLogger("fleetport")
DOCS_ASSETS = "/docs/assets"


def open_fleet(settings: Settings) -> Fleet:
    """Opens the database, applies pending migrations and wires the core services."""
    data_dir.make_private(settings.data_dir)
    store = Store(settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous)
    store.migrate()
    return Fleet(store, settings)


def create_app(fleet: Fleet) -> FastAPI:
    # Swagger UI's script, style sheet and icon come from this server (fastapi-offline ships them),
    # so /docs works on a network without a way to the internet.
    app = FastAPIOffline(
        title="Fleetport",
        version=__version__,
        description="Self-hosted cloud for fleets of robots and connected devices.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        static_url=DOCS_ASSETS,
    )
    app.state.fleet = fleet
    errors.install(app)
    api.install(app)
    onep_routes.install(app)

    @app.get("/health", tags=["server"])
    async def health() -> JSONResponse:
        """Liveness and database reachability; needs no credentials."""
        try:
            await run_core(fleet, fleet.store.ping)
        except Exception as exc:  # the database being down is what this endpoint reports
            log.warning("health check: database unreachable: %s", exc)
            return JSONResponse(
                {"status": "degraded", "database": "unreachable", "version": __version__}, 503
            )
        return JSONResponse({"status": "ok", "database": "ok", "version": __version__})

    app.add_middleware(
        EdgeMiddleware,
        max_body_bytes=fleet.settings.max_body_bytes,
        body_limits=[
            *api.body_limits(fleet.settings),
            *onep_provision.body_limits(fleet.settings),
            *onep_routes.body_limits(fleet.settings),
        ],
        fault_shapes=onep_routes.fault_shapes(),
    )
    return app


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the edge middleware logs each request


class _Listener(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``serve`` (several listen side by side)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def tune_garbage_collector() -> None:
    """Requests allocate many short-lived objects (a 10,000-point batch is 10,000 lists), which the
    default thresholds turn into a collection every 700 allocations, each walking the long-lived
    objects of the server too: half the CPU of an ingest. The objects made at start-up are frozen
    out of the collector's view, and the young generation is collected every 50,000 allocations."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)


def serve(settings: Settings) -> None:
    configure_logging(settings.log_level)
    with ports.bound(settings) as bound:  # a busy port stops the server here, before anything is written
        os.umask(data_dir.PRIVATE_UMASK)
        _serve(settings, bound)


def _serve(settings: Settings, bound: ports.BoundPorts) -> None:
    fleet = open_fleet(settings)
    announce(settings, fleet)
    app = create_app(fleet)
    tune_garbage_collector()
    common: dict[str, Any] = {
        "host": settings.host,
        "lifespan": "off",
        "log_config": None,
        "proxy_headers": False,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
    }
    cert, key = (
        (settings.tls_cert, settings.tls_key)
        if settings.tls_cert and settings.tls_key
        else ensure_certificate(settings.data_dir / "tls")
    )
    listeners = [(_Listener(uvicorn.Config(app, port=bound.http.number, **common)), bound.http)]
    if bound.https is not None:
        https = uvicorn.Config(
            app, port=bound.https.number, ssl_certfile=str(cert), ssl_keyfile=str(key), **common
        )
        listeners.append((_Listener(https), bound.https))
    grpc = None
    if bound.grpc is not None:
        from fleetport.dialects.viam.listener import GrpcListener, tls_context

        grpc = GrpcListener(fleet, tls_context(cert, key))
    try:
        asyncio.run(_run(listeners, grpc, bound, settings, fleet))
    finally:
        fleet.store.dispose()
        log.info("stopped")


async def _run(
    listeners: list[tuple[_Listener, ports.Port]],
    grpc: GrpcListener | None,
    bound: ports.BoundPorts,
    settings: Settings,
    fleet: Fleet,
) -> None:
    loop = asyncio.get_running_loop()
    try:
        await fleet.bus.start()  # live events (log tails) are delivered on this loop
    except BusUnavailable as exc:
        raise SystemExit(str(exc)) from None
    duties = asyncio.create_task(
        Duties(fleet, server_duties(fleet), lease_seconds=settings.duty_lease_seconds).run()
    )
    # Blocking core work (PostgreSQL calls, password hashing) runs on this many threads.
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
    if grpc is not None and bound.grpc is not None:
        await grpc.start(bound.grpc.sockets)

    def stop() -> None:
        log.info("stopping: finishing requests in flight")
        fleet.bus.close()  # live streams (log tails) end, so that they do not hold up the stop
        for listener, _ in listeners:
            listener.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    try:
        await asyncio.gather(*(listener.serve(sockets=port.sockets) for listener, port in listeners))
    finally:
        duties.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await duties  # gives up its leases: another process takes the duties over at once
        await fleet.bus.stop()
        fleet.telemetry.dispatcher.close()
        if grpc is not None:
            await grpc.stop()
    if any(not listener.started for listener, _ in listeners):
        raise SystemExit("a listener failed to start (is the port in use?)")


def announce(settings: Settings, fleet: Fleet) -> None:
    """Prints where the server listens and, on first start, the administrator's credentials."""
    boot = fleet.identity.bootstrap(settings.admin_email, settings.admin_password, settings.admin_api_key)
    host = "localhost" if settings.host in ("127.0.0.1", "0.0.0.0", "::") else settings.host
    lines = [
        f"Fleetport {__version__}",
        f"  database: {_redact(fleet.store.url)}",
        f"  HTTP:     http://{host}:{settings.http_port}  (API /api/v1, docs /docs)",
    ]
    if settings.https_port:
        lines.append(f"  HTTPS:    https://{host}:{settings.https_port}")
    if settings.grpc_port:
        lines.append(f"  gRPC:     {host}:{settings.grpc_port}  (Viam AppService; plaintext and TLS)")
    if boot.created:
        lines += [
            "",
            "First start: an administrator was created.",
            f"  login:    {boot.email}",
            f"  password: {'(from FLEETPORT_ADMIN_PASSWORD)' if settings.admin_password else boot.password}",
            f"  API key:  {'(from FLEETPORT_ADMIN_API_KEY)' if settings.admin_api_key else boot.api_key}",
            "  Keep these: they are not shown again.",
            f"  Try: curl -H 'Authorization: Bearer <API key>' http://{host}:{settings.http_port}/api/v1/auth/whoami",
        ]
    print("\n".join(lines), flush=True)


def _redact(url: Any) -> str:
    return str(url.render_as_string(hide_password=True))
