"""One agent's control connection: what it sends, answered in order, and what the hub pushes to it
(its part's config on every change, requests to open streams)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from fleetport.bus import SubscriberTooSlow
from fleetport.core.agents import AgentPart
from fleetport.core.calls import Call
from fleetport.core.errors import CoreError, Invalid, NotFound
from fleetport.core.machines import config_topic
from fleetport.dialects.agent import wire
from fleetport.dialects.agent.wire import Hostile

if TYPE_CHECKING:
    from fleetport.dialects.agent.hub import Hub

log = logging.getLogger("fleetport.agent.hub")

POLICY_VIOLATION = 1008
TARGET_MAX = 300  # a stream's target, host:port
TOO_BIG = 1009
GOING_AWAY = 1001
INTERNAL_ERROR = 1011
SERVICE_RESTART = 1012  # what the server's own WebSocket layer closes with when it stops


class Closing(Exception):
    """Ends the connection with a WebSocket close code and a reason (logged and sent)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class AgentLink:
    def __init__(self, hub: Hub, websocket: WebSocket, call: Call, part: AgentPart, peer: str) -> None:
        self.hub = hub
        self.ws = websocket
        self.call = call
        self.part = part
        self.peer = peer
        self._send_lock = asyncio.Lock()
        self._welcomed = asyncio.Event()  # nothing goes before the welcome
        self._closing: Closing | None = None

    @property
    def part_id(self) -> str:
        return self.part.part_id

    async def send(self, kind: str, **fields: Any) -> None:
        """Sends a message; any but the welcome waits until the welcome went (a launch asked for
        while the connection starts follows it)."""
        if kind != "welcome":
            await self._welcomed.wait()
        async with self._send_lock:
            await self.ws.send_text(wire.dump(kind, **fields))
        if kind == "welcome":
            self._welcomed.set()

    async def run(self) -> str:
        """Serves the connection until it ends; why it ended."""
        settings = self.hub.fleet.settings.agent
        subscription = self.hub.fleet.bus.subscribe(config_topic(self.part_id), max_pending=16)
        pushing = asyncio.create_task(self._push_config(subscription))
        try:
            await self.send(
                "welcome",
                part_id=self.part_id,
                machine_id=self.part.machine_id,
                heartbeat_seconds=settings.heartbeat_seconds,
                delivered=self.part.delivered,
            )
            await self.send("config", config=self.part.config, updated_at=_time(self.part.config_updated_at))
            await self._returned()
            return await self._receive(settings.max_message_bytes)
        except Closing as closing:
            return await self._close(closing)
        except CoreError as exc:  # the part itself can no longer act (deleted meanwhile)
            return await self._close(Closing(POLICY_VIOLATION, exc.message))
        except (RuntimeError, OSError, WebSocketDisconnect):
            return "connection lost"
        except Exception:  # the database away, a fault of ours: this connection ends, not the server
            log.exception("agent of part %s: unexpected failure; closing its connection", self.part_id)
            return await self._close(Closing(INTERNAL_ERROR, "server error; reconnect later"))
        finally:
            self._welcomed.set()  # (what waits for it fails on the closed connection)
            subscription.close()
            pushing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pushing

    async def close(self, code: int, reason: str) -> None:
        """Closes the connection from outside its loop (its secret was deleted, a newer one came)."""
        self._closing = Closing(code, reason)
        await self._close(self._closing)

    async def _close(self, closing: Closing) -> str:
        with contextlib.suppress(RuntimeError, OSError):
            if self.ws.application_state != WebSocketState.DISCONNECTED:
                await self.ws.close(closing.code, closing.reason[:120])
        return closing.reason

    async def _receive(self, max_bytes: int) -> str:
        while True:
            try:
                message = await self.ws.receive()
            except (RuntimeError, WebSocketDisconnect):
                return self._closing.reason if self._closing else "connection lost"
            if message["type"] == "websocket.disconnect":
                if self._closing is not None:
                    return self._closing.reason
                code = message.get("code", 1000)
                if code == TOO_BIG:
                    return "the agent sent a frame over the size limit (closed by the server)"
                if code == SERVICE_RESTART:
                    return "the server is stopping (code 1012)"
                return f"the agent closed the connection (code {code})"
            text = message.get("text")
            if text is None:
                raise Closing(POLICY_VIOLATION, "the agent sent a binary frame on the control connection")
            if len(text) > max_bytes:
                raise Closing(TOO_BIG, f"the agent sent a message over {max_bytes} bytes")
            try:
                await self._answer(wire.parse(text))
            except Hostile as exc:
                raise Closing(POLICY_VIOLATION, f"the agent sent {exc}") from None

    async def _returned(self) -> None:
        """Core ends the instances the agent held before this connection (it wiped them)."""
        try:
            ended = await self.call(self.hub.fleet.remote.agent_returned)
        except CoreError as exc:
            log.info("agent of part %s: its earlier instances not checked: %s", self.part_id, exc.message)
            return
        if ended:
            log.info("agent of part %s: %d instance(s) of its previous connection ended", self.part_id, ended)

    async def _answer(self, message: wire.Message) -> None:
        body = message.body
        if message.type == "heartbeat":
            try:
                await self.call(self.hub.fleet.agents.heartbeat)
            except CoreError as exc:
                raise Closing(POLICY_VIOLATION, f"its part can no longer connect: {exc.message}") from None
        elif message.type == "logs":
            stream, seq = wire.text(body, "stream"), wire.integer(body, "seq")
            try:
                entries = wire.log_entries(body)
                stored = await self.call(self.hub.fleet.agents.deliver_logs, stream, seq, entries)
            except (Invalid, NotFound) as exc:
                await self.send("refused", stream=stream, seq=seq, error=exc.message)
                return
            await self.send("ack", stream=stream, seq=seq, duplicate=not stored)
        elif message.type == "points":
            stream, seq = wire.text(body, "stream"), wire.integer(body, "seq")
            alias, points = wire.text(body, "alias"), wire.objects(body, "points")
            try:
                written = await self.call(self.hub.fleet.agents.deliver_points, stream, seq, alias, points)
            except (Invalid, NotFound) as exc:
                await self.send("refused", stream=stream, seq=seq, error=exc.message)
                return
            if written is None:
                await self.send("ack", stream=stream, seq=seq, duplicate=True)
            else:
                failures = [f.reason for f in written.failures]
                await self.send("ack", stream=stream, seq=seq, written=written.written, failures=failures)
        elif message.type == "stream_failed":
            self.hub.stream_failed(self.part_id, wire.text(body, "stream"), wire.text(body, "error"))
        elif message.type == "launched":
            port = wire.integer(body, "port")
            if not 0 < port < 65536:
                raise Hostile("port is not a TCP port")
            instance, hostkey = wire.text(body, "instance", 100), wire.text(body, "hostkey", 16000)
            self.hub.spawn(self.hub.workspaces.launched(self, instance, hostkey, port))
        elif message.type == "launch_failed":
            instance, error = wire.text(body, "instance", 100), wire.text(body, "error")
            self.hub.spawn(self.hub.workspaces.launch_failed(self, instance, error))
        elif message.type == "destroyed":
            self.hub.spawn(self.hub.workspaces.destroyed(self, wire.text(body, "instance", 100)))
        elif message.type == "addon_active":
            instance, addon = wire.text(body, "instance", 100), wire.text(body, "addon", 40)
            target = wire.text(body, "target", TARGET_MAX) if body.get("target") is not None else None
            self.hub.spawn(self.hub.workspaces.addons.active(self, instance, addon, target))
        elif message.type == "addon_failed":
            instance, addon = wire.text(body, "instance", 100), wire.text(body, "addon", 40)
            error = wire.text(body, "error")
            self.hub.spawn(self.hub.workspaces.addons.failed(self, instance, addon, error))
        elif message.type == "snapshot":
            data = wire.text(body, "data", self.hub.fleet.settings.agent.max_message_bytes)
            self.hub.workspaces.snapshot_taken(self, wire.text(body, "request", 100), data)
        elif message.type == "snapshot_failed":
            request, error = wire.text(body, "request", 100), wire.text(body, "error")
            self.hub.workspaces.snapshot_failed(self, request, error)
        elif message.type.startswith("ci_"):
            await self._ci_report(message.type, body)

    async def _ci_report(self, kind: str, body: dict[str, Any]) -> None:
        """A CI job's report, passed on in the order sent (its log before its end)."""
        jobs = self.hub.fleet.remote.ci_jobs
        job = wire.text(body, "job", 100)
        try:
            if kind == "ci_log":
                await self.call(
                    jobs.log, job, wire.text(body, "data", self.hub.fleet.settings.agent.max_message_bytes)
                )
            elif kind == "ci_needs":
                await self.call(jobs.needs, job, wire.text(body, "workspace", 200))
            else:
                status, reason = wire.text(body, "status", 20), wire.text(body, "reason")
                await self.call(jobs.done, job, status, wire.optional_integer(body, "exit_code"), reason)
        except CoreError as exc:  # the job ended meanwhile (terminated, timed out)
            log.info("agent of part %s: CI job %s report not taken: %s", self.part_id, job, exc.message)

    async def _push_config(self, subscription: Any) -> None:
        """Every config change of the part, as it is once the change is heard."""
        try:
            async for _ in subscription:
                state = await self.call(self.hub.fleet.agents.config)
                await self.send("config", config=state.config, updated_at=_time(state.updated_at))
        except SubscriberTooSlow:
            await self.close(GOING_AWAY, "the agent fell behind its config changes; it reconnects")
        except (CoreError, RuntimeError, OSError):
            return


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
