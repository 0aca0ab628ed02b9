"""The application factory and the process that serves it on HTTP and HTTPS."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import anyio.to_thread
import uvicorn
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute

from fleetport import __version__, api, data_dir, ports
from fleetport.api import errors
from fleetport.bus import BusUnavailable
from fleetport.core.calls import run_core
from fleetport.core.duties import Duties, server_duties
from fleetport.core.fleet import Fleet
from fleetport.dialect import Dialect, Listener, Mounted, collisions, path_pattern
from fleetport.dialects.agent.dialect import dialect as agent
from fleetport.dialects.onep.dialect import dialect as onep
from fleetport.dialects.rerobots.dialect import dialect as rerobots
from fleetport.dialects.viam.dialect import dialect as viam
from fleetport.edge import EdgeMiddleware, FaultShape, RequestIdFilter
from fleetport.settings import Settings
from fleetport.store import Store
from fleetport.tls import server_certificate

# Every API the server speaks. Each owns its paths (and its errors there), its body limits, its
# ports and its section of the settings; a new dialect is its folder and one entry here.
DIALECTS: tuple[Dialect, ...] = (api.dialect, onep, viam, rerobots, agent)

log = logging.getLogger("fleetport")
T = TypeVar("T")
DOCS_ASSETS = "/docs/assets"


def open_fleet(settings: Settings) -> Fleet:
    """Opens the database, applies pending migrations and wires the core services."""
    data_dir.make_private(settings.data_dir)
    store = Store(settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous)
    store.migrate()
    return Fleet(store, settings)


def served_dialects(settings: Settings) -> list[Dialect]:
    """The dialects the settings leave on."""
    return [dialect for dialect in DIALECTS if dialect.enabled(settings)]


def create_app(fleet: Fleet) -> FastAPI:
    """The HTTP application: the server's own paths (``/health``, ``/docs``, ``/openapi.json``),
    and every dialect's application under its paths. Paths no dialect owns are answered in the
    native API's shape."""
    dialects = served_dialects(fleet.settings)
    if clashes := collisions(dialects):
        raise RuntimeError(f"dialects share paths: {'; '.join(clashes)}")
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
    app.add_exception_handler(HTTPException, errors.on_http_error)
    for dialect in dialects:
        dialect_app = dialect.app(fleet)
        if dialect_app is not None and dialect.paths:
            app.router.routes.append(Mounted(dialect.name, dialect.paths, dialect_app))

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

    def openapi() -> dict[str, Any]:
        """The document of the server's routes and of the routes mounted dialects publish."""
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=_published(app.routes),
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_middleware(
        EdgeMiddleware,
        max_body_bytes=fleet.settings.max_body_bytes,
        body_limits=[limit for dialect in dialects for limit in dialect.body_limits(fleet.settings)],
        fault_shapes=[
            FaultShape(path_pattern(path), dialect.fault) for dialect in dialects for path in dialect.paths
        ],
    )
    return app


def _published(routes: list[BaseRoute]) -> list[BaseRoute]:
    return [inner for route in routes for inner in (route.routes if isinstance(route, Mounted) else [route])]


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
    # a busy port stops the server here, before anything is written
    with ports.bound(settings, _own_ports(settings)) as bound:
        os.umask(data_dir.PRIVATE_UMASK)
        served = _Served(settings, bound)
        tune_garbage_collector()
        served.run(_stop_on_signals)


def _own_ports(settings: Settings) -> list[ports.Port]:
    return [port for dialect in served_dialects(settings) for port in dialect.ports(settings)]


# How a running server is told to stop: given its event loop and the function that stops it.
StopHook = Callable[[asyncio.AbstractEventLoop, Callable[[], None]], None]


def _stop_on_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)


class _Served:
    """The fleet, the application and every listener of a server on its bound ports."""

    def __init__(self, settings: Settings, bound: ports.BoundPorts) -> None:
        self.settings = settings
        self.fleet = fleet = open_fleet(settings)
        try:
            announce(settings, fleet)
            app = create_app(fleet)
            common: dict[str, Any] = {
                "host": settings.host,
                "lifespan": "off",
                "log_config": None,
                "proxy_headers": False,
                "server_header": False,
                "timeout_graceful_shutdown": 10,
                # agents' WebSockets: a frame past twice the agent wire's message limit is refused
                # by the protocol (never read whole); smaller ones past it by the hub, with a reason
                "ws_max_size": 2 * settings.agent.max_message_bytes,
            }
            cert, key = server_certificate(settings)
            self.listeners = [(_Listener(uvicorn.Config(app, port=bound.http.number, **common)), bound.http)]
            if bound.https is not None:
                https = uvicorn.Config(
                    app, port=bound.https.number, ssl_certfile=str(cert), ssl_keyfile=str(key), **common
                )
                self.listeners.append((_Listener(https), bound.https))
            self.bound = bound
            self.certificate = (cert, key)
        except BaseException:
            fleet.store.dispose()
            raise

    def own_listeners(self) -> list[Listener]:
        """The dialects' listeners (the Viam gRPC port), made on the event loop that runs them."""
        return [
            listener
            for dialect in served_dialects(self.settings)
            for listener in dialect.listeners(self.fleet, self.bound.of(dialect.name), self.certificate)
        ]

    def run(self, stop_hook: StopHook) -> None:
        """Serves until stopped (``stop_hook`` is handed the way to stop), then closes the database."""
        try:
            asyncio.run(_run(self.listeners, self.own_listeners, self.settings, self.fleet, stop_hook))
        finally:
            self.fleet.store.dispose()
            log.info("stopped")


async def _run(
    listeners: list[tuple[_Listener, ports.Port]],
    make_own_listeners: Callable[[], list[Listener]],
    settings: Settings,
    fleet: Fleet,
    stop_hook: StopHook,
) -> None:
    loop = asyncio.get_running_loop()
    own_listeners = make_own_listeners()
    try:
        await fleet.bus.start()  # live events (log tails) are delivered on this loop
    except BusUnavailable as exc:
        raise SystemExit(str(exc)) from None
    duties = asyncio.create_task(
        Duties(fleet, server_duties(fleet), lease_seconds=settings.duty_lease_seconds).run()
    )
    # Blocking core work (PostgreSQL calls, password hashing) runs on this many threads.
    anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
    for own in own_listeners:
        await own.start()

    def stop() -> None:
        log.info("stopping: finishing requests in flight")
        fleet.bus.close()  # live streams (log tails) end, so that they do not hold up the stop
        for listener, _ in listeners:
            listener.should_exit = True

    stop_hook(loop, stop)
    try:
        await asyncio.gather(*(listener.serve(sockets=port.sockets) for listener, port in listeners))
    finally:
        duties.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await duties  # gives up its leases: another process takes the duties over at once
        await fleet.bus.stop()
        fleet.telemetry.dispatcher.close()
        for own in own_listeners:
            await own.stop()
    if any(not listener.started for listener, _ in listeners):
        raise SystemExit("a listener failed to start (is the port in use?)")


class ServerThread:
    """The whole server, as ``serve`` runs it (the same application and listeners, the Viam gRPC
    port included), on a thread of the calling process: what ``fleetport.testing`` runs in process.
    Unlike ``serve`` it leaves the process's logging, signals, umask and garbage collector alone.

    ``start()`` binds the ports (SystemExit when one is busy), opens the database and starts the
    thread; the listeners answer soon after (wait for ``/health``). ``stop()`` stops the server as
    SIGTERM stops ``serve``, waits for the thread and raises what made the server fail, if anything."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._thread: threading.Thread | None = None
        self._stop: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = threading.Event()
        self._failure: BaseException | None = None
        self.fleet: Fleet | None = None

    def start(self) -> None:
        with contextlib.ExitStack() as on_failure:
            bound = on_failure.enter_context(ports.bound(self.settings, _own_ports(self.settings)))
            served = _Served(self.settings, bound)
            ports_kept = on_failure.pop_all()
        self.fleet = served.fleet
        self._thread = threading.Thread(
            target=self._serve, args=(served, ports_kept), name="fleetport-server", daemon=True
        )
        self._thread.start()

    def run_coroutine(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Runs ``coroutine`` on the server's event loop (once it serves), from another thread."""
        if self._loop is None:
            raise RuntimeError("the server is not serving yet")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def failure(self) -> BaseException | None:
        """What ended the server before it was stopped, if it ended so."""
        return self._failure

    def _serve(self, served: _Served, bound: contextlib.ExitStack) -> None:
        try:
            with bound:
                served.run(self._stopped_by)
        except BaseException as exc:  # handed to the thread that stops the server
            self._failure = exc

    def _stopped_by(self, loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
        self._loop, self._stop = loop, stop
        if self._stopping.is_set():  # stop() came before the server was up
            stop()

    def stop(self, timeout: float = 30.0) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                loop.call_soon_threadsafe(stop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"the server thread did not stop within {timeout} s")
        self._thread = None
        if self._failure is not None:
            raise self._failure


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
    if settings.viam.enabled and settings.viam.grpc_port:
        lines.append(f"  gRPC:     {host}:{settings.viam.grpc_port}  (Viam AppService; plaintext and TLS)")
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
