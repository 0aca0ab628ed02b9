"""A port the hub listens on for an instance: its forwarding (SSH) port, or a port of a relayed
add-on. Every connection is judged by the instance's firewall first, by its source address, before
a byte is read from it (its reading is paused until then): ACCEPT relays it through a stream to the
robot-local target; DROP closes it; REJECT resets it (a TCP RST). A port with TLS (mistyproxy's
https port) then completes the TLS handshake with the server's certificate and relays the
plaintext. Closing the port ends its connections."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import ssl
import struct
from typing import TYPE_CHECKING

from fleetport.core.calls import run_core
from fleetport.core.errors import CoreError
from fleetport.core.permissions import SYSTEM
from fleetport.dialects.agent.streams import pipe
from fleetport.settings import Settings
from fleetport.tls import server_certificate

if TYPE_CHECKING:
    from fleetport.dialects.agent.hub import Hub

log = logging.getLogger("fleetport.agent.hub")
HANDSHAKE_SECONDS = 10.0
CHUNK = 64 * 1024  # what a relayed connection's reader holds at most


class Forwarder:
    def __init__(
        self,
        hub: Hub,
        instance_id: str,
        part_id: str,
        target: str,
        addon: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.hub = hub
        self.instance_id = instance_id
        self.part_id = part_id
        self.target = target  # host:port on the robot
        self.addon = addon  # None: the instance's forwarding port
        self.tls = tls
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._relays: set[asyncio.Task[None]] = set()

    async def open(self, port: int) -> None:
        """Listens on ``port`` (raises OSError when it cannot)."""
        host = self.hub.fleet.settings.remote.listen_host or None
        loop = asyncio.get_running_loop()

        def connection() -> _Unread:
            return _Unread(asyncio.StreamReader(limit=CHUNK, loop=loop), self._accepted, loop=loop)

        self._server = await loop.create_server(connection, host, port, reuse_address=True)
        self.port = port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._relays):
            task.cancel()
        await asyncio.gather(*self._relays, return_exceptions=True)

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._relays.add(task)
        try:
            if await self._verdict(writer) != "ACCEPT":
                return
            if self.tls is None:
                transport = writer.transport
                assert isinstance(transport, asyncio.ReadTransport)
                transport.resume_reading()
            else:  # (which reads from the connection again)
                try:
                    await writer.start_tls(self.tls, ssl_handshake_timeout=HANDSHAKE_SECONDS)
                except (OSError, ssl.SSLError, TimeoutError) as exc:
                    log.info(
                        "instance %s: TLS handshake on port %s failed: %s", self.instance_id, self.port, exc
                    )
                    writer.transport.abort()
                    return
            try:
                stream = await self.hub.open_stream(self.part_id, self.target)
            except Exception as exc:  # the agent went away or could not dial its target
                log.info("instance %s: no stream to %s: %s", self.instance_id, self.target, exc)
                writer.transport.abort()
                return
            await pipe(stream, reader, writer)
        finally:
            if task is not None:
                self._relays.discard(task)
            writer.close()

    async def _verdict(self, writer: asyncio.StreamWriter) -> str:
        """The firewall's verdict for the connection, acted on unless it is ACCEPT."""
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if peer else ""
        verdict = functools.partial(
            self.hub.fleet.remote.instances.verdict, SYSTEM, self.instance_id, address, self.addon
        )
        try:
            action = await run_core(self.hub.fleet, verdict)
        except CoreError:
            action = "DROP"
        if action == "REJECT":
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if action != "ACCEPT":
            writer.transport.abort()
        return str(action)


class _Unread(asyncio.StreamReaderProtocol):
    """A connection read from only once the firewall's verdict let it in: nothing is read before
    (nor would bytes a TLS client sends early be taken away from the handshake)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.ReadTransport):
            transport.pause_reading()
        super().connection_made(transport)


def tls_context(settings: Settings) -> ssl.SSLContext:
    """The server's certificate (the configured one, or the self-signed one it made) for ports that
    terminate TLS; HTTP/1.1 offered, as the robot-local server behind them speaks it."""
    cert, key = server_certificate(settings)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    context.set_alpn_protocols(["http/1.1"])
    return context
