"""A real Fleetport server for testing fleet scripts offline.

``with fleetport.testing.server() as fp:`` starts ``fleetport serve`` as a subprocess on free ports,
with its data (SQLite by default) in a temporary directory, and stops it afterwards. With
``in_process=True`` the same server (the same application and listeners, the Viam gRPC port
included) runs on a thread of the test process instead: it starts faster, and a debugger or
coverage sees the server's code; the server's log then goes to this process's logging. ``fp`` hands
out ready clients: ``fp.client`` (the native SDK as the administrator), ``fp.async_client()``,
``fp.viam_key(org_id)`` (an API key id and key for viam-sdk on ``fp.viam_address``), ``fp.onep()``
(a :class:`fleetport.onep.OnepV1` for this server) and ``fp.device_cik(machine_id)``.

Installing fleetport also installs the pytest plugin :mod:`fleetport.testing.plugin`, whose
``fleetport_server`` fixture is such a server. Starting one needs the server
(``pip install 'fleetport[server]'``); this module itself imports only the client.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from fleetport.client.aio import AsyncClient
from fleetport.client.sync import Client

if TYPE_CHECKING:
    from fleetport.client.onep import OnepV1

__all__ = [
    "ADMIN_EMAIL",
    "ADMIN_KEY",
    "ADMIN_PASSWORD",
    "HOST",
    "FleetportServer",
    "RunningServer",
    "ServerNotInstalled",
    "ViamKey",
    "free_port",
    "free_ports",
    "server",
    "start_server",
    "stop_server",
]

HOST = "127.0.0.1"
ADMIN_KEY = "test-admin-key-" + "x" * 30
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password"
INSTALL_SERVER = "pip install 'fleetport[server]'"
# what `fleetport serve` needs beyond the SDK: the web framework, the ASGI server, the database layer
SERVER_MODULES = ("fastapi", "uvicorn", "sqlalchemy", "alembic")


class ServerNotInstalled(RuntimeError):
    """Starting a server needs the ``server`` extra, which is not installed."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            f"fleetport.testing starts a real Fleetport server, which needs {', '.join(missing)}: "
            f"{INSTALL_SERVER}"
        )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Distinct free ports: the sockets stay bound until all are chosen, so none comes twice."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            s = stack.enter_context(socket.socket())
            s.bind((HOST, 0))
            ports.append(int(s.getsockname()[1]))
        return ports


@dataclass(frozen=True)
class ViamKey:
    """An API key for viam-sdk: ``DialOptions.with_api_key(key.key, key.id)``, with
    ``app_url=key.address`` (plaintext and TLS on one port), or ``key.dial_options()``."""

    id: str
    key: str
    address: str

    def dial_options(self) -> Any:
        """``viam.rpc.dial.DialOptions`` for this key, ready for
        ``ViamClient.create_from_dial_options(options, app_url=key.address)``."""
        from viam.rpc.dial import DialOptions

        options = DialOptions.with_api_key(self.key, self.id)
        options.insecure = True
        return options


class _InProcess(Protocol):
    """A server on a thread of this process (``fleetport.server.ServerThread``)."""

    @property
    def alive(self) -> bool: ...

    def stop(self, timeout: float = ...) -> None: ...


@dataclass
class FleetportServer:
    """A running server, a ``fleetport serve`` process (``process``) or a thread of this process
    (``in_process``), and the ways to reach it."""

    url: str
    https_url: str | None
    grpc_port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None
    log: Path | None  # the subprocess's standard output and error; None in process
    admin_key: str = ADMIN_KEY
    database_url: str | None = None
    _client: Client | None = field(default=None, repr=False)
    _thread: _InProcess | None = field(default=None, repr=False)

    @property
    def in_process(self) -> bool:
        return self._thread is not None

    @property
    def running(self) -> bool:
        if self._thread is not None:
            return self._thread.alive
        return self.process is not None and self.process.poll() is None

    @property
    def host(self) -> str:
        return HOST

    @property
    def http_port(self) -> int:
        return int(httpx.URL(self.url).port or 80)

    @property
    def viam_address(self) -> str:
        """Where viam-sdk reaches the Viam dialect: its ``app_url``, ``host:port``."""
        return f"{HOST}:{self.grpc_port}"

    @property
    def client(self) -> Client:
        """The native SDK as the administrator; closed when the server stops."""
        if self._client is None:
            self._client = Client(self.url, self.admin_key)
        return self._client

    def async_client(self) -> AsyncClient:
        """A new asynchronous native client as the administrator (``async with fp.async_client()``)."""
        return AsyncClient(self.url, self.admin_key)

    def viam_key(self, org_id: str, name: str = "viam") -> ViamKey:
        """A new API key owning organization ``org_id``, for viam-sdk."""
        key = self.client.keys.create(
            org_id, name, [{"role": "owner", "resource_type": "organization", "resource_id": org_id}]
        )
        return ViamKey(key.id, _shown(key.secret, "the new key's secret"), self.viam_address)

    def onep(self, **options: Any) -> OnepV1:
        """A One Platform client for this server (``options`` as ``OnepV1`` takes them)."""
        from fleetport.client.onep import OnepV1

        return OnepV1(HOST, self.http_port, https=False, **options)

    def device_cik(self, machine_id: str) -> str:
        """The CIK of a machine's device client, the key One Platform clients write its data with."""
        return _shown(self.client.telemetry.device_client(machine_id).cik, "the device client's CIK")

    def root_cik(self, org_id: str) -> str:
        """The CIK of an organization's root client."""
        return _shown(self.client.telemetry.root_client(org_id).cik, "the root client's CIK")

    def log_text(self) -> str:
        """What the server process wrote to its standard output and error so far ("" in process,
        where the server logs through this process's ``logging``)."""
        return self.log.read_text(errors="replace") if self.log is not None else ""

    def stop(self) -> int:
        """Stops the server (SIGTERM, then SIGKILL after 20 s; in process, as SIGTERM would, and
        waits for its thread); its exit status (0 in process; what made the server fail is raised)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._thread is not None:
            self._thread.stop()
            return 0
        assert self.process is not None
        self.process.terminate()
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


RunningServer = FleetportServer


def _shown(secret: str | None, what: str) -> str:
    if secret is None:
        raise RuntimeError(f"the server did not show {what} to the administrator")
    return secret


def _require_server() -> None:
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise ServerNotInstalled(missing)


def _server_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without its FLEETPORT_* settings (a developer's own server
    configuration stays out of the test server), then ``extra``."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPORT_")}
    return {**inherited, **extra}


def start_server(
    data_dir: Path,
    *,
    https: bool = False,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    database_url: str | None = None,
    admin_key: str = ADMIN_KEY,
    in_process: bool = False,
    http_port: int | None = None,
) -> FleetportServer:
    """Starts ``fleetport serve`` with its data in ``data_dir`` on free ports and waits until it
    answers ``/health``. ``database_url`` (a SQLAlchemy URL such as
    ``postgresql+psycopg://user@host/db``) replaces SQLite; ``env`` adds FLEETPORT_* settings.
    ``in_process`` runs the server on a thread of this process instead of a subprocess;
    ``http_port`` serves HTTP on that port (a server restarted where its clients expect it).
    Stop it with :func:`stop_server` (or use :func:`server`)."""
    _require_server()
    port, https_port, grpc_port = free_ports(3)
    port = http_port or port
    https_port = https_port if https else 0
    settings = {
        "FLEETPORT_DATA_DIR": str(data_dir),
        "FLEETPORT_HTTP_PORT": str(port),
        "FLEETPORT_HTTPS_PORT": str(https_port),
        "FLEETPORT_GRPC_PORT": str(grpc_port),
        "FLEETPORT_ADMIN_API_KEY": admin_key,
        "FLEETPORT_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "FLEETPORT_ADMIN_EMAIL": ADMIN_EMAIL,
    }
    if database_url:
        settings["FLEETPORT_DATABASE_URL"] = database_url
    environ = _server_environment({**settings, **(env or {})})
    data_dir.mkdir(parents=True, exist_ok=True)
    url = f"http://{HOST}:{port}"
    https_url = f"https://{HOST}:{https_port}" if https else None
    database = environ.get("FLEETPORT_DATABASE_URL")
    if in_process:
        thread = _start_thread(environ)
        running = FleetportServer(url, https_url, grpc_port, data_dir, None, None, admin_key, database)
        running._thread = thread
    else:
        log = data_dir / "server.log"
        with log.open("wb") as out:
            command = [sys.executable, "-m", "fleetport.cli", "serve"]
            process = subprocess.Popen(command, env=environ, stdout=out, stderr=subprocess.STDOUT)
        running = FleetportServer(url, https_url, grpc_port, data_dir, process, log, admin_key, database)
    try:
        _wait_healthy(running, timeout)
    except BaseException:
        _abandon(running)
        raise
    return running


def _start_thread(environ: Mapping[str, str]) -> _InProcess:
    """The server on a thread of this process, with the settings a subprocess would read from
    ``environ``."""
    from fleetport.server import ServerThread
    from fleetport.settings import Settings

    thread = ServerThread(Settings.from_env({k: v for k, v in environ.items() if k.startswith("FLEETPORT_")}))
    thread.start()
    return thread


def _wait_healthy(running: FleetportServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not running.running:
            raise RuntimeError(f"the server stopped before it answered:\n{_what_it_said(running)}")
        try:
            if httpx.get(running.url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not become healthy in {timeout}s:\n{_what_it_said(running)}")


def _what_it_said(running: FleetportServer) -> str:
    if running.process is not None:
        running.process.poll()
        status = "" if running.process.returncode is None else f"exit status {running.process.returncode}\n"
        return status + running.log_text()
    return "(in process: see this process's log)"


def _abandon(running: FleetportServer) -> None:
    """Stops a server that did not come up, without waiting on it politely."""
    if running.process is not None:
        running.process.kill()
        running.process.wait()
    elif running._thread is not None:
        running._thread.stop()


def stop_server(server: FleetportServer) -> int:
    """Stops a server started by :func:`start_server`; its exit status."""
    return server.stop()


@contextlib.contextmanager
def server(
    *,
    database_url: str | None = None,
    data_dir: Path | None = None,
    https: bool = False,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    in_process: bool = False,
) -> Iterator[FleetportServer]:
    """A real Fleetport server for the ``with`` block: SQLite in a temporary directory (removed
    afterwards) unless ``database_url`` names a database (PostgreSQL; it is migrated and kept),
    or ``data_dir`` a directory of your own (kept). A subprocess, or with ``in_process`` a thread
    of this process, stopped at the end of the block either way."""
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fleetport-")))
        running = start_server(
            data_dir, https=https, env=env, timeout=timeout, database_url=database_url, in_process=in_process
        )
        try:
            yield running
        finally:
            running.stop()
