"""Remote-access instances on agent-hosted workspaces: the ``WorkspaceHost`` core reaches robots
through, and the TCP listener of each READY instance on its forwarding port.

Core's ``launch`` and ``destroy`` (called on any thread, after a commit) are sent to the agent of
the machine's part as ``launch`` (``instance``, ``public_key``) and ``destroy`` (``instance``).
The agent answers ``launched`` (``instance``, ``hostkey``, ``port``: its workspace's SSH server
on the robot's loopback), ``launch_failed`` (``instance``, ``error``) or ``destroyed``
(``instance``), each passed on as one core call. A CI job's instance, once READY, is sent the job
to run (``ci_job``).

Once an instance is READY, its forwarding port listens on ``remote.public_host``'s side
(``remote.listen_host``, all addresses by default), a ``Forwarder`` relaying to the workspace's SSH
server: each connection is judged by the instance's firewall (see ``forward``). The relayed
add-ons' ports are forwarders too (``addons``). They close, and their relayed connections with
them, when the instance ends, fails, or its agent disconnects; an agent that disconnects ends its
instances (INIT_FAIL, or TERMINATED with the reason), since their workspaces went with it.

Workspaces live on the process that holds the agent's control connection (as streams do).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import functools
import logging
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fleetport.core.calls import run_core
from fleetport.core.errors import CoreError, Unavailable
from fleetport.core.permissions import SYSTEM
from fleetport.core.remote import Relay
from fleetport.core.remote.model import CiRun, Instance
from fleetport.core.remote.workspaces import done, refused
from fleetport.dialects.agent.addons import AddonRelay, AgentAddons
from fleetport.dialects.agent.forward import Forwarder
from fleetport.dialects.agent.routing import Ask, Router

if TYPE_CHECKING:
    from fleetport.dialects.agent.hub import Hub
    from fleetport.dialects.agent.link import AgentLink

log = logging.getLogger("fleetport.agent.hub")
NO_CAMERA_AGENT = "the robot's agent is not connected: a camera snapshot needs it"


@dataclass
class Held:
    """An instance the hub asked an agent for: its forwarding port and its relayed add-ons."""

    instance_id: str
    port: int | None  # its forwarding port
    link: AgentLink
    forward: Forwarder | None = None
    addons: dict[str, AddonRelay] = field(default_factory=dict)


class AgentWorkspaces:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.held: dict[str, Held] = {}
        self._snapshots: dict[str, tuple[AgentLink, asyncio.Future[bytes]]] = {}
        self.addons = AgentAddons(self)
        self.router = Router(hub)

    # --- the WorkspaceHost port (any thread): each request is routed to the agent -----------

    def launch(self, instance: Instance, machine_id: str) -> None:
        ask = Ask("launch", machine_id, instance.id, public_key=instance.public_key, port=instance.port)
        self.router.route(ask)

    def destroy(self, instance: Instance, machine_id: str) -> None:
        self.router.route(Ask("destroy", machine_id, instance.id))

    def connected(self, machine_id: str) -> bool:
        return self.router.place(machine_id) is not None

    def addon_start(self, instance_id: str, machine_id: str, addon: str, relay: Relay | None) -> None:
        self.router.route(Ask("addon_start", machine_id, instance_id, addon, relay=relay))

    def addon_stop(self, instance_id: str, machine_id: str, addon: str) -> concurrent.futures.Future[None]:
        return self.router.route(Ask("addon_stop", machine_id, instance_id, addon))

    def relay_open(self, instance_id: str, machine_id: str, addon: str) -> concurrent.futures.Future[None]:
        return self.router.route(Ask("relay_open", machine_id, instance_id, addon))

    def relay_close(self, instance_id: str, machine_id: str, addon: str) -> concurrent.futures.Future[None]:
        return self.router.route(Ask("relay_close", machine_id, instance_id, addon))

    def drive(self, instance_id: str, machine_id: str, command: dict[str, Any]) -> None:
        self.router.tell(machine_id, "drive", instance=instance_id, command=command)

    def run_job(self, run: CiRun, machine_id: str) -> None:
        fields = {
            "job": run.job_id,
            "instance": run.instance_id,
            "repo_url": run.repo_url,
            "branch": run.branch,
            "ref": run.ref,
            "workspace_type": run.workspace_type,
            "time_limit_seconds": run.time_limit_seconds,
            "log_bytes": run.log_bytes,
        }
        self.router.tell(machine_id, "ci_job", **fields)

    def snapshot(
        self, instance_id: str, machine_id: str, camera: str, timeout: float
    ) -> concurrent.futures.Future[bytes]:
        return self.router.route(Ask("snapshot", machine_id, instance_id, camera=camera, timeout=timeout))

    # --- performed on the hub's loop, with the agent chosen for the request (None: none) -------

    async def perform(self, link: AgentLink | None, ask: Ask) -> bytes | None:
        """Performs a request with the agent's connection here (``link``), as asked here or by
        another process; a snapshot's image."""
        if ask.kind == "launch":
            await self._launch(link, ask.instance, ask.public_key, ask.port)
        elif ask.kind == "destroy":
            await self._destroy(link, ask.instance)
        elif ask.kind == "addon_start":
            await self.addons.start(link, ask.instance, ask.addon, ask.relay)
        elif ask.kind == "addon_stop":
            await self.addons.stop(link, ask.instance, ask.addon)
        elif ask.kind == "relay_open":
            await self.addons.open(ask.instance, ask.addon)
        elif ask.kind == "relay_close":
            await self.addons.close(ask.instance, ask.addon)
        elif ask.kind == "snapshot":
            return await self._snapshot(link, ask.instance, ask.camera, ask.timeout)
        elif ask.kind == "tell" and link is not None:
            with contextlib.suppress(RuntimeError, OSError):
                await link.send(ask.message, **ask.fields)
        return None

    @staticmethod
    def idle(ask: Ask) -> concurrent.futures.Future[Any]:
        """A request's result when the hub does not serve (no event loop): nobody is reached."""
        if ask.kind == "snapshot":
            return refused(Unavailable(NO_CAMERA_AGENT))
        if ask.kind == "relay_open":
            return refused(Unavailable(f"the robot's agent is not connected: starting {ask.addon} needs it"))
        return done()

    async def _snapshot(self, link: AgentLink | None, instance_id: str, camera: str, timeout: float) -> bytes:
        if link is None:
            raise Unavailable(NO_CAMERA_AGENT)
        request = secrets.token_urlsafe(12)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._snapshots[request] = (link, future)
        try:
            await link.send("snapshot", request=request, instance=instance_id, camera=camera)
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise Unavailable(f"the robot's agent sent no camera image within {timeout:g} s") from None
        except (RuntimeError, OSError):
            raise Unavailable("the robot's agent went away before sending the camera image") from None
        finally:
            self._snapshots.pop(request, None)

    def snapshot_taken(self, link: AgentLink, request: str, data: str) -> None:
        """The agent's answer to a snapshot request: a base64 JPEG."""
        pending = self._snapshots.get(request)
        if pending is None or pending[0] is not link or pending[1].done():
            return
        try:
            image = base64.b64decode(data, validate=True)
        except binascii.Error:
            pending[1].set_exception(Unavailable("the robot's agent sent an image that is not base64"))
            return
        pending[1].set_result(image)

    def snapshot_failed(self, link: AgentLink, request: str, error: str) -> None:
        pending = self._snapshots.get(request)
        if pending is not None and pending[0] is link and not pending[1].done():
            pending[1].set_exception(Unavailable(f"the robot's camera gave no image: {error}"))

    async def _launch(
        self, link: AgentLink | None, instance_id: str, public_key: str, port: int | None
    ) -> None:
        if link is None:  # the launch times out (INIT_FAIL) in core
            return
        self.held[instance_id] = Held(instance_id, port, link)
        with contextlib.suppress(RuntimeError, OSError):
            await link.send("launch", instance=instance_id, public_key=public_key)

    async def _destroy(self, link: AgentLink | None, instance_id: str) -> None:
        held = self.held.get(instance_id)
        await self._close(held)
        link = held.link if held is not None else link
        if link is not None:
            with contextlib.suppress(RuntimeError, OSError):
                await link.send("destroy", instance=instance_id)

    # --- what the agent reports ---------------------------------------------------------------

    async def launched(self, link: AgentLink, instance_id: str, hostkey: str, port: int) -> None:
        held = self.held.get(instance_id)
        if held is None or held.link is not link or held.port is None:
            await link.send("destroy", instance=instance_id)  # not an instance this hub asked for
            return
        forward = Forwarder(self.hub, instance_id, link.part_id, f"127.0.0.1:{port}")
        try:
            await forward.open(held.port)
            held.forward = forward
        except OSError as exc:
            self.held.pop(instance_id, None)
            reason = f"the server could not listen on forwarding port {held.port}: {exc.strerror}"
            await self.report(
                link,
                run_core(
                    self.hub.fleet, lambda: self.hub.fleet.remote.instance_lost(SYSTEM, instance_id, reason)
                ),
            )
            await link.send("destroy", instance=instance_id)
            return
        try:
            await link.call(self.hub.fleet.remote.instance_ready, instance_id, hostkey)
        except CoreError as exc:
            log.info("instance %s not made READY: %s", instance_id, exc.message)
            await self._close(self.held.pop(instance_id, None))
            await link.send("destroy", instance=instance_id)

    async def launch_failed(self, link: AgentLink, instance_id: str, error: str) -> None:
        if self._own(link, instance_id):
            self.held.pop(instance_id, None)
            reason = f"the robot's agent could not set the workspace up: {error}"
            await self.report(link, link.call(self.hub.fleet.remote.instance_failed, instance_id, reason))

    async def destroyed(self, link: AgentLink, instance_id: str) -> None:
        if self._own(link, instance_id):
            await self._close(self.held.pop(instance_id, None))
        await self.report(link, link.call(self.hub.fleet.remote.instance_destroyed, instance_id))

    async def link_ended(self, link: AgentLink) -> None:
        """The agent's connection ended: its instances end with their workspaces."""
        for instance_id, held in list(self.held.items()):
            if held.link is not link:
                continue
            self.held.pop(instance_id, None)
            await self._close(held)
            reason = "the robot's agent disconnected; its workspace is gone"
            lost = functools.partial(self.hub.fleet.remote.instance_lost, SYSTEM, instance_id, reason)
            await self.report(link, run_core(self.hub.fleet, lost))

    def _own(self, link: AgentLink, instance_id: str) -> bool:
        held = self.held.get(instance_id)
        return held is not None and held.link is link

    async def report(self, link: AgentLink, report: Awaitable[object]) -> None:
        """Passes a report on to core (one call)."""
        try:
            await report
        except CoreError as exc:  # ended meanwhile (terminated, timed out)
            log.info("agent of part %s: report not taken: %s", link.part_id, exc.message)
        except Exception:
            log.warning("agent of part %s: report not stored", link.part_id, exc_info=True)

    async def _close(self, held: Held | None) -> None:
        """Closes the instance's ports (forwarding and add-ons) and their connections."""
        if held is None:
            return
        await self.addons.ended(held)
        if held.forward is not None:
            forward, held.forward = held.forward, None
            await forward.close()
