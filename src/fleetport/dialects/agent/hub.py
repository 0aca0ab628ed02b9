"""The agent hub: which parts' agents are connected to this server process, their control
connections, and the streams opened through them.

Presence is kept twice: in memory here (the connections, to send to), and in the database (each
part's ``agent_online_until``, moved on by heartbeats), which is what every server process reads
to answer whether a machine is online. Config changes reach the process that holds the agent's
connection through the bus (topic ``part-config:<part id>``); a deleted secret closes the
connections it opened on every process (topic ``credentials``).

Streams are opened on the process that holds the agent's control connection: ``open_stream``
of another process's agent raises ``AgentUnavailable``. The requests of remote access reach the
agent wherever it is connected (``routing``): the process holding its connection follows the
requests addressed to its part and performs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import weakref
from collections.abc import Coroutine
from typing import Any

from starlette.responses import JSONResponse
from starlette.websockets import WebSocket

from fleetport.core.calls import Call, run_core
from fleetport.core.credentials import BearerToken
from fleetport.core.errors import CoreError, PermissionDenied, Unauthenticated
from fleetport.core.fleet import Fleet
from fleetport.core.identity import CREDENTIALS_TOPIC
from fleetport.core.permissions import Principal
from fleetport.dialects.agent.link import POLICY_VIOLATION, TARGET_MAX, AgentLink
from fleetport.dialects.agent.streams import AgentStream
from fleetport.dialects.agent.workspaces import AgentWorkspaces

log = logging.getLogger("fleetport.agent.hub")
_HUBS: weakref.WeakKeyDictionary[Fleet, Hub] = weakref.WeakKeyDictionary()


class AgentUnavailable(Exception):
    """The part's agent is not connected here, or did not open the stream in time."""


class Hub:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.links: dict[str, AgentLink] = {}
        self._pending: dict[str, tuple[str, str, asyncio.Future[AgentStream]]] = {}
        fleet.bus.watch(CREDENTIALS_TOPIC, self._credentials_changed)
        self._checks: set[asyncio.Task[None]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.workspaces = AgentWorkspaces(self)
        fleet.remote.attach_host(self.workspaces)

    def connected(self) -> list[str]:
        """The parts whose agents are connected to this process."""
        return list(self.links)

    def link_of_machine(self, machine_id: str) -> AgentLink | None:
        """The control connection of an agent of the machine's parts, if one is connected here."""
        for link in list(self.links.values()):
            if link.part.machine_id == machine_id:
                return link
        return None

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Runs work on the hub's loop, kept until it ends."""
        task = asyncio.get_running_loop().create_task(work)
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    # --- control connections ---------------------------------------------------------------

    async def serve_control(self, websocket: WebSocket) -> None:
        found = await self._authenticate(websocket)
        if found is None:
            return
        call, principal = found
        try:
            part = await call(self.fleet.agents.connect)
        except CoreError as exc:
            await _deny(websocket, 403, exc.message)
            return
        await websocket.accept()
        self.loop = asyncio.get_running_loop()
        peer = f"{websocket.client.host}:{websocket.client.port}" if websocket.client else "?"
        link = AgentLink(self, websocket, call, part, peer)
        router = self.workspaces.router
        asks = router.follow(link)
        serving = asyncio.get_running_loop().create_task(router.serve(link, asks))
        previous = self.links.get(part.part_id)
        self.links[part.part_id] = link
        if previous is not None:
            await previous.close(POLICY_VIOLATION, "a newer connection of the same part replaced it")
        log.info("agent of part %s connected from %s", part.part_id, peer)
        reason = "?"
        try:
            reason = await link.run()
        finally:
            asks.close()
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await serving
            with contextlib.suppress(Exception):
                await self.workspaces.link_ended(link)
            if self.links.get(part.part_id) is link:
                del self.links[part.part_id]
                with contextlib.suppress(Exception):
                    await run_core(self.fleet, lambda: self.fleet.agents.disconnect(principal))
            log.info("agent of part %s disconnected: %s", part.part_id, reason)

    async def _authenticate(self, websocket: WebSocket) -> tuple[Call, Principal] | None:
        scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            await _deny(websocket, 401, "no credentials: send 'Authorization: Bearer <part secret>'")
            return None
        call = Call(self.fleet, BearerToken(token.strip()))
        try:
            principal = await run_core(self.fleet, call.principal)
        except Unauthenticated as exc:
            log.info("agent refused: %s", exc.message)
            await _deny(websocket, 401, exc.message)
            return None
        if principal.kind != "part":
            await _deny(websocket, 403, "an agent connects with its part's secret")
            return None
        return call, principal

    def _credentials_changed(self, _: object) -> None:
        """A credential changed somewhere: each connection's secret is checked again (closing those
        whose secret is gone)."""
        task = asyncio.get_running_loop().create_task(self._recheck())
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _recheck(self) -> None:
        for link in list(self.links.values()):
            try:
                await run_core(self.fleet, link.call.principal)
            except (Unauthenticated, PermissionDenied):
                await link.close(POLICY_VIOLATION, "its part secret was deleted")
            except Exception:  # the database may be away: the next heartbeat checks again
                log.warning("could not check the secret of part %s", link.part_id, exc_info=True)

    # --- streams ---------------------------------------------------------------------------

    async def open_stream(self, part_id: str, target: str, timeout: float | None = None) -> AgentStream:
        """Asks the part's agent to dial ``target`` (``host:port`` on the robot) and waits for its
        stream, at most ``timeout`` seconds (the ``agent.stream_open_seconds`` setting by default)."""
        link = self.links.get(part_id)
        if link is None:
            raise AgentUnavailable(f"the agent of part {part_id} is not connected to this server")
        if not isinstance(target, str) or not 0 < len(target) <= TARGET_MAX:
            raise ValueError("a target is host:port")
        stream_id = secrets.token_urlsafe(18)
        future: asyncio.Future[AgentStream] = asyncio.get_running_loop().create_future()
        self._pending[stream_id] = (part_id, target, future)
        wait = self.fleet.settings.agent.stream_open_seconds if timeout is None else timeout
        try:
            await link.send("open_stream", stream=stream_id, target=target)
            return await asyncio.wait_for(future, wait)
        except TimeoutError:
            raise AgentUnavailable(f"the agent of part {part_id} opened no stream in {wait:g} s") from None
        except (RuntimeError, OSError) as exc:
            raise AgentUnavailable(f"the agent of part {part_id} went away: {exc}") from None
        finally:
            self._pending.pop(stream_id, None)

    def stream_failed(self, part_id: str, stream_id: str, error: str) -> None:
        pending = self._pending.get(stream_id)
        if pending is not None and pending[0] == part_id and not pending[2].done():
            pending[2].set_exception(AgentUnavailable(f"the agent could not open the stream: {error}"))

    async def serve_stream(self, websocket: WebSocket, stream_id: str) -> None:
        found = await self._authenticate(websocket)
        if found is None:
            return
        _, principal = found
        pending = self._pending.get(stream_id)
        if pending is None or pending[0] != principal.part_id or pending[2].done():
            await _deny(websocket, 404, f"no stream {stream_id[:40]!r} is waiting for this part")
            return
        part_id, target, future = pending
        await websocket.accept()
        stream = AgentStream(stream_id, part_id, target, websocket)
        future.set_result(stream)
        await stream.wait_ended()


def hub_of(fleet: Fleet) -> Hub:
    """The hub of a fleet (one per server)."""
    hub = _HUBS.get(fleet)
    if hub is None:
        hub = _HUBS[fleet] = Hub(fleet)
    return hub


async def _deny(websocket: WebSocket, status: int, message: str) -> None:
    """Refuses the WebSocket handshake with an HTTP answer (a close before accepting where the
    server cannot send one)."""
    body: dict[str, Any] = {
        "error": {"code": "unauthenticated" if status == 401 else "refused", "message": message}
    }
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse(body, status_code=status))
    else:
        await websocket.close(POLICY_VIOLATION, message[:120])
