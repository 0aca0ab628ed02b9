"""The gRPC listener: one port that speaks plaintext HTTP/2 and TLS, told apart by the first byte
a client sends (0x16 opens a TLS handshake), so that every viam-sdk dial mode reaches it."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from grpclib.const import Status
from grpclib.encoding.proto import ProtoCodec
from grpclib.exceptions import GRPCError
from grpclib.server import Server

from fleetport.core.fleet import Fleet
from fleetport.dialects.viam.auth import AuthService
from fleetport.dialects.viam.service import AppService

log = logging.getLogger("fleetport.viam")
TLS_HANDSHAKE = 0x16
FIRST_BYTE_TIMEOUT = 10.0


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    context.set_alpn_protocols(["h2"])
    return context


class RequestCodec(ProtoCodec):
    """Protocol buffers, with a request that does not decode (a string field that is not UTF-8, as a
    lone surrogate becomes; a truncated or garbled message) refused as INVALID_ARGUMENT."""

    def decode(self, data: bytes, message_type: Any) -> Any:
        try:
            return super().decode(data, message_type)
        except DecodeError:
            raise GRPCError(
                Status.INVALID_ARGUMENT,
                f"the request is not a valid {message_type.DESCRIPTOR.full_name} message"
                " (malformed, or a string field that is not UTF-8)",
            ) from None


class GrpcListener:
    def __init__(self, fleet: Fleet, tls: ssl.SSLContext | None) -> None:
        self.server = Server([AppService(fleet), AuthService(fleet)], codec=RequestCodec())
        self.tls = tls
        self._sockets: list[socket.socket] = []
        self._accepting: list[asyncio.Task[None]] = []
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, sockets: list[socket.socket]) -> None:
        """Listens on sockets bound already (``fleetport.ports``), one per address of the host."""
        for sock in sockets:
            sock.listen(128)
            sock.setblocking(False)
            self._sockets.append(sock)
            self._accepting.append(asyncio.create_task(self._accept_forever(sock)))

    @property
    def port(self) -> int:
        return int(self._sockets[0].getsockname()[1])

    async def _accept_forever(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(sock)
            task = asyncio.create_task(self._serve(conn))
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)

    async def _serve(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        try:
            first = await asyncio.wait_for(_peek(loop, conn), FIRST_BYTE_TIMEOUT)
        except (TimeoutError, OSError):
            conn.close()
            return
        if not first:
            conn.close()
            return
        tls = self.tls if first[0] == TLS_HANDSHAKE else None
        if first[0] == TLS_HANDSHAKE and tls is None:
            conn.close()
            return
        try:
            # grpclib makes one HTTP/2 protocol per connection; this hands it the accepted socket
            if tls is None:
                await loop.connect_accepted_socket(self.server._protocol_factory, conn)
            else:
                await loop.connect_accepted_socket(
                    self.server._protocol_factory, conn, ssl=tls, ssl_handshake_timeout=FIRST_BYTE_TIMEOUT
                )
        except Exception as exc:  # a failed handshake or a vanished client ends only this connection
            log.info("gRPC connection dropped during set-up: %s", exc)
            conn.close()

    async def stop(self) -> None:
        for task in self._accepting:
            task.cancel()
        for sock in self._sockets:
            sock.close()
        for handler in list(self.server._handlers):
            handler.close()
        if self.server._handlers:
            await asyncio.wait(
                [asyncio.create_task(h.wait_closed()) for h in self.server._handlers], timeout=10
            )


async def _peek(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> bytes:
    """The first byte the client sent, left in the socket for whoever reads next."""
    ready: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(conn.fileno(), readable)
    try:
        await ready
    finally:
        loop.remove_reader(conn.fileno())
    return conn.recv(1, socket.MSG_PEEK)
