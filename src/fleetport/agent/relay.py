"""Streams the hub asks for: the agent dials a target on the robot (loopback, or an address of the
allow-list) and relays its bytes over a WebSocket of their own (``/agent/v1/streams/<id>``),
binary frames both ways. Each direction reads only when the other end took the previous chunk,
so flow control is TCP's and the WebSocket's; nothing piles up in between."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
from collections.abc import Collection

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

log = logging.getLogger("fleetport.agent")

CHUNK = 64 * 1024


class TargetRefused(ValueError):
    pass


def parse_target(target: str, allowed: Collection[str]) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``) if the agent may dial it: loopback addresses and
    ``localhost`` always, others when the allow-list names ``host:port`` or ``host``."""
    host, sep, port_text = target.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise TargetRefused(f"{target[:100]!r} is not host:port")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    port = int(port_text)
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and target not in allowed and host not in allowed:
        raise TargetRefused(f"{target[:100]} is neither a loopback address nor on the allow-list")
    return host, port


async def relay(
    url: str,
    secret: str,
    target: str,
    allowed: Collection[str],
    ssl_context: ssl.SSLContext | None,
) -> None:
    """Dials the target and relays it over the stream's WebSocket until either end closes.
    Raises TargetRefused or OSError when the target cannot be reached (before the WebSocket)."""
    host, port = parse_target(target, allowed)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
    try:
        async with connect(
            url,
            additional_headers={"Authorization": f"Bearer {secret}"},
            ssl=ssl_context,
            max_size=4 * CHUNK,
            max_queue=4,
            compression=None,
            open_timeout=10,
        ) as ws:
            await _both_ways(reader, writer, ws)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _both_ways(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ws: ClientConnection
) -> None:
    async def to_server() -> None:
        while data := await reader.read(CHUNK):
            await ws.send(data)

    async def to_target() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                if isinstance(message, str):
                    return  # text on a byte stream: the wire does not allow it
                writer.write(message)
                await writer.drain()

    tasks = [asyncio.create_task(to_server()), asyncio.create_task(to_target())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, OSError):
                await task
