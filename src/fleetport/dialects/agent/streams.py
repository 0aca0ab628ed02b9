"""A byte stream relayed through an agent: one WebSocket per stream, binary frames both ways.

The agent dials the stream's target on the robot and opens ``/agent/v1/streams/<id>``; the hub
hands the accepted WebSocket to whoever asked for the stream (``Hub.open_stream``) as an
``AgentStream``. Flow control is the transports': a reader that stops reading stops the
WebSocket's reads, whose TCP window closes, and the agent's relay stops reading from its target;
a write waits while the connection's buffers are full. Nothing is buffered without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.websockets import WebSocket, WebSocketState

log = logging.getLogger("fleetport.agent.hub")


class AgentStream:
    """The server's end of one relayed stream: ``read`` (b"" once it ended), ``write``, ``close``.
    A TCP relay reads from it and writes what it reads to its client, and the other way round."""

    def __init__(self, stream_id: str, part_id: str, target: str, websocket: WebSocket) -> None:
        self.id = stream_id
        self.part_id = part_id
        self.target = target
        self._ws = websocket
        self._ended = asyncio.Event()

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    async def read(self) -> bytes:
        """The next bytes from the target (a frame's worth), or b"" when the stream ended."""
        if self._ended.is_set():
            return b""
        message = await self._ws.receive()
        if message["type"] == "websocket.disconnect":
            self._ended.set()
            return b""
        data = message.get("bytes")
        if data is None:  # text on a byte stream: the wire does not allow it
            log.warning(
                "stream %s of part %s: the agent sent text; closing the stream", self.id, self.part_id
            )
            await self.close()
            return b""
        return bytes(data) if data else await self.read()

    async def write(self, data: bytes) -> None:
        """Sends bytes to the target; waits while the connection cannot take more."""
        if self._ended.is_set():
            raise ConnectionResetError(f"stream {self.id} has ended")
        try:
            await self._ws.send_bytes(data)
        except (RuntimeError, OSError) as exc:
            self._ended.set()
            raise ConnectionResetError(f"stream {self.id} has ended") from exc

    async def close(self) -> None:
        if self._ended.is_set() and self._ws.application_state == WebSocketState.DISCONNECTED:
            return
        self._ended.set()
        with contextlib.suppress(RuntimeError, OSError):
            if self._ws.application_state != WebSocketState.DISCONNECTED:
                await self._ws.close()

    async def wait_ended(self) -> None:
        await self._ended.wait()


async def pipe(stream: AgentStream, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Relays a TCP connection (a client of a port the server forwards) through the stream, both
    ways, until either end closes; each side reads only once the other took its last chunk."""

    async def outward() -> None:
        while data := await reader.read(64 * 1024):
            await stream.write(data)

    async def inward() -> None:
        while data := await stream.read():
            writer.write(data)
            await writer.drain()

    tasks = [asyncio.create_task(outward()), asyncio.create_task(inward())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                await task
        await stream.close()
        writer.close()
