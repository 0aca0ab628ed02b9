"""The agent's one control connection to the server, kept up for as long as the agent runs.

It reconnects after every loss with exponential backoff and jitter (0.5 s doubling to 60 s, each
wait a random 50 to 100 % of that), logging each loss and each return. Once connected it beats
(``heartbeat`` at the interval the server's welcome names), sends what the outbox holds (at most
``WINDOW`` messages of a kind waiting for their acknowledgement), and takes what the server sends:
acknowledgements, its part's config, requests to open streams, workspaces, add-ons and CI jobs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from fleetport.agent.outbox import KINDS, Outbox

log = logging.getLogger("fleetport.agent")

WINDOW = 32  # messages of a kind sent and not yet acknowledged
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 60.0
MAX_MESSAGE = 16 << 20

ConfigHandler = Callable[[dict[str, Any], str | None], Awaitable[None]]
StreamHandler = Callable[[str, str], None]
WorkspaceHandler = Callable[[dict[str, Any]], None]  # a launch or destroy message
AddonHandler = Callable[[dict[str, Any]], None]  # addon_start, addon_stop, snapshot, drive
ADDON_MESSAGES = ("addon_start", "addon_stop", "snapshot", "drive")
JobHandler = Callable[[dict[str, Any]], None]  # a ci_job
LostHandler = Callable[[], Awaitable[None]]


def backoff(attempt: int) -> float:
    """The wait before reconnection attempt ``attempt`` (0 for the first after a loss)."""
    return float(min(BACKOFF_MAX, BACKOFF_FIRST * 2**attempt) * random.uniform(0.5, 1.0))


class Link:
    def __init__(
        self,
        url: str,
        secret: str,
        outbox: Outbox,
        wake: asyncio.Event,
        on_config: ConfigHandler,
        on_open_stream: StreamHandler,
        ssl_context: ssl.SSLContext | None,
        on_workspace: WorkspaceHandler | None = None,
        on_lost: LostHandler | None = None,
        on_addon: AddonHandler | None = None,
        on_job: JobHandler | None = None,
    ) -> None:
        self.url = url
        self.secret = secret
        self.outbox = outbox
        self.wake = wake
        self.on_config = on_config
        self.on_open_stream = on_open_stream
        self.ssl_context = ssl_context
        self.on_workspace = on_workspace
        self.on_lost = on_lost
        self.on_addon = on_addon
        self.on_job = on_job
        self.connected = False
        self.part_id: str | None = None
        self._acked = asyncio.Event()
        self._ws: ClientConnection | None = None

    async def report_stream_failed(self, stream_id: str, error: str) -> None:
        """Tells the server a stream it asked for could not be opened."""
        if self._ws is not None:
            await self._ws.send(
                json.dumps({"type": "stream_failed", "stream": stream_id, "error": error[:500]})
            )

    async def report(self, kind: str, **fields: Any) -> None:
        """Sends a report (``launched``, ``launch_failed``, ``destroyed``, ``addon_active``,
        ``snapshot``, ``snapshot_failed``, ``ci_log``, ``ci_needs``, ``ci_done``) if connected."""
        if self._ws is not None:
            await self._ws.send(json.dumps({"type": kind, **fields}))

    async def run_forever(self) -> None:
        attempt, lost_at = 0, None
        while True:
            try:
                async with connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self.secret}"},
                    ssl=self.ssl_context,
                    max_size=MAX_MESSAGE,
                    open_timeout=15,
                    ping_interval=20,
                    ping_timeout=20,
                ) as ws:
                    welcome = json.loads(await asyncio.wait_for(ws.recv(), 15))
                    attempt = 0
                    after = f" after {time.monotonic() - lost_at:.1f} s away" if lost_at else ""
                    log.info("connected to the server as part %s%s", welcome.get("part_id"), after)
                    self.connected, lost_at = True, None
                    reason = await self._session(ws, welcome)
            except InvalidStatus as exc:
                reason = f"the server refused the connection (HTTP {exc.response.status_code}: {_body(exc)})"
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed, ValueError) as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.connected = False
            lost_at = lost_at or time.monotonic()
            wait = backoff(attempt)
            attempt += 1
            log.warning("connection to the server lost (%s); trying again in %.1f s", reason, wait)
            await asyncio.sleep(wait)

    async def _session(self, ws: ClientConnection, welcome: dict[str, Any]) -> str:
        self.part_id = welcome.get("part_id")
        self._ws = ws
        for stream, seq in (welcome.get("delivered") or {}).items():
            kind = self.outbox.kind_of(stream)
            if kind is not None and isinstance(seq, int):
                self.outbox.acknowledged(kind, seq)  # stored before an acknowledgement got lost
        interval = float(welcome.get("heartbeat_seconds") or 15)
        tasks = [
            asyncio.create_task(self._beat(ws, interval)),
            asyncio.create_task(self._send(ws)),
            asyncio.create_task(self._receive(ws)),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            return "the connection ended"
        except ConnectionClosed as exc:
            return f"closed: {exc.rcvd.reason or exc.rcvd.code}" if exc.rcvd else "connection lost"
        finally:
            self._ws = None
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.on_lost is not None:  # the server ended this connection's workspaces
                await self.on_lost()

    async def _beat(self, ws: ClientConnection, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await ws.send('{"type":"heartbeat"}')

    async def _send(self, ws: ClientConnection) -> None:
        """The outbox in order, each kind at most ``WINDOW`` messages ahead of its acknowledgements;
        everything unacknowledged again on each new connection (the server stores each once)."""
        sent = dict.fromkeys(KINDS, 0)
        streams = {kind: json.dumps(self.outbox.stream(kind)) for kind in KINDS}
        while True:
            self.wake.clear()
            self._acked.clear()
            progressed = False
            for kind in KINDS:
                room = WINDOW - self.outbox.count(kind, upto=sent[kind])
                for seq, body in self.outbox.pending(kind, sent[kind], max(0, room)):
                    head = f'{{"type":"{kind}","stream":{streams[kind]},"seq":{seq},'
                    await ws.send(head + body[1:])
                    sent[kind], progressed = seq, True
            if not progressed:
                waits = [asyncio.create_task(self.wake.wait()), asyncio.create_task(self._acked.wait())]
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for waiting in waits:
                    waiting.cancel()

    async def _receive(self, ws: ClientConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if not isinstance(message, dict):
                continue
            kind = message.get("type")
            if kind in ("ack", "refused"):
                box_kind = self.outbox.kind_of(str(message.get("stream")))
                seq = message.get("seq")
                if box_kind is None or not isinstance(seq, int):
                    continue
                if kind == "ack":
                    self.outbox.acknowledged(box_kind, seq)
                    if message.get("failures"):
                        log.warning("the server left out points of message %d: %s", seq, message["failures"])
                else:
                    log.warning("the server refused %s message %d: %s", box_kind, seq, message.get("error"))
                    self.outbox.refused(box_kind, seq)
                self._acked.set()
            elif kind == "config":
                await self.on_config(message.get("config") or {}, message.get("updated_at"))
            elif kind == "open_stream":
                self.on_open_stream(str(message.get("stream")), str(message.get("target")))
            elif kind in ("launch", "destroy") and self.on_workspace is not None:
                self.on_workspace(message)
            elif kind in ADDON_MESSAGES and self.on_addon is not None:
                self.on_addon(message)
            elif kind == "ci_job" and self.on_job is not None:
                self.on_job(message)


def _body(exc: InvalidStatus) -> str:
    try:
        return str(json.loads(exc.response.body or b"{}")["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return (exc.response.body or b"").decode("utf-8", "replace")[:200]
