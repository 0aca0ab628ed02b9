"""The server's ports, bound first thing at start-up.

Every listening socket (HTTP, HTTPS, gRPC) is bound before the data directory, the database or the
first-start credentials are touched, and handed to its listener afterwards. A port that is in use,
or an address that cannot be listened on, stops the server with one line naming the port and the
setting that changes it; nothing has been written by then.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from fleetport.settings import Settings


@dataclass
class Port:
    protocol: str  # HTTP, HTTPS or a dialect's own (gRPC)
    number: int
    setting: str  # the setting that sets it, by its flat name
    owner: str = "server"  # the dialect that listens on it
    sockets: list[socket.socket] = field(default_factory=list)

    @property
    def how_to_change(self) -> str:
        return f"FLEETPORT_{self.setting.upper()} (or --{self.setting.replace('_', '-')})"


@dataclass
class BoundPorts:
    http: Port
    https: Port | None
    dialects: list[Port] = field(default_factory=list)  # the dialects' own ports

    def all(self) -> list[Port]:
        return [p for p in (self.http, self.https, *self.dialects) if p is not None]

    def of(self, dialect: str) -> list[Port]:
        return [port for port in self.dialects if port.owner == dialect]

    def close(self) -> None:
        for port in self.all():
            for sock in port.sockets:
                sock.close()


def wanted(settings: Settings, dialects: Sequence[Port] = ()) -> BoundPorts:
    """The ports the settings ask for (a port of 0 turns HTTPS off) and the ``dialects`` own ports,
    not bound yet."""
    return BoundPorts(
        Port("HTTP", settings.http_port, "http_port"),
        Port("HTTPS", settings.https_port, "https_port") if settings.https_port else None,
        list(dialects),
    )


@contextmanager
def bound(settings: Settings, dialects: Sequence[Port] = ()) -> Iterator[BoundPorts]:
    """Binds every port of the settings (not listening yet: connections are refused until the
    listeners start); the sockets are closed on leaving. Raises SystemExit with one line when a
    port cannot be bound."""
    ports = wanted(settings, dialects)
    seen: dict[int, Port] = {}
    for port in ports.all():
        if port.number in seen:
            first = seen[port.number]
            raise SystemExit(
                f"{first.protocol} and {port.protocol} are both set to port {port.number}: give each its own "
                f"with {first.how_to_change} or {port.how_to_change}"
            )
        seen[port.number] = port
    try:
        for port in ports.all():
            port.sockets = _bind(settings.host, port)
        yield ports
    finally:
        ports.close()


def _bind(host: str, port: Port) -> list[socket.socket]:
    """One socket per address of ``host`` (``localhost`` may be 127.0.0.1 and ::1), bound to the port."""
    try:
        infos = socket.getaddrinfo(host, port.number, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise SystemExit(
            f"cannot listen on host {host!r}: {exc.strerror}; set FLEETPORT_HOST (or --host) to an address "
            "of this machine"
        ) from None
    sockets: list[socket.socket] = []
    done: set[tuple[int, object]] = set()
    try:
        for family, kind, proto, _, address in infos:
            if (family, address) in done:
                continue
            done.add((family, address))
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        where = f"{host}:{port.number}" if ":" not in host else f"[{host}]:{port.number}"
        reason = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise SystemExit(
            f"cannot listen for {port.protocol} on {where}: {reason}; set {port.how_to_change} to a free port"
        ) from None
    return sockets
