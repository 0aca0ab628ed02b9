"""The add-ons of the instances the hub holds: ``addon_start`` and ``addon_stop`` sent to the
robot's agent, its ``addon_active`` and ``addon_failed`` reports passed on to core, and the ports
of the relayed add-ons (mistyproxy's http and https ports, vnc's port).

A relayed add-on's ports were chosen by core at activation; the agent confirms the add-on with the
robot-local ``target`` it will dial (its own option, or the one the deployment's config suggested
if its allow-list lets it). Mistyproxy's ports then listen before core records it ``active``; vnc's
port listens between ``start`` and ``stop``. An add-on the agent neither confirms nor refuses within
``ADDON_START_SECONDS`` (an agent too old to know it) is reported failed, so that its status never
stays ``starting``. Deactivation, the end of the instance and the loss of the agent close the ports
and their connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fleetport.core.calls import run_core
from fleetport.core.errors import CoreError, Unavailable
from fleetport.core.permissions import SYSTEM
from fleetport.core.remote import Relay
from fleetport.core.remote.model import RELAYED
from fleetport.dialects.agent.forward import Forwarder, tls_context

if TYPE_CHECKING:
    from fleetport.dialects.agent.link import AgentLink
    from fleetport.dialects.agent.workspaces import AgentWorkspaces, Held

log = logging.getLogger("fleetport.agent.hub")
ADDON_START_SECONDS = 30.0


@dataclass
class AddonRelay:
    """A relayed add-on of an instance held here: its ports, the target the agent confirmed, and
    the forwarders listening now."""

    relay: Relay
    target: str | None = None
    forwarders: list[Forwarder] = field(default_factory=list)


class AgentAddons:
    def __init__(self, workspaces: AgentWorkspaces) -> None:
        self.workspaces = workspaces
        self.hub = workspaces.hub
        self._waiting: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._tls: ssl.SSLContext | None = None

    # --- asked by core (on the hub's loop) ----------------------------------------------------

    async def start(self, link: AgentLink | None, instance_id: str, addon: str, relay: Relay | None) -> None:
        if link is None:
            return
        fields: dict[str, Any] = {"instance": instance_id, "addon": addon}
        if relay is not None:
            held = self.workspaces.held.get(instance_id)
            if held is None or held.link is not link:
                reason = (
                    "the server process holding the robot's agent connection did not launch this instance"
                )
                await self._failed(instance_id, addon, reason)
                return
            await self._close(held.addons.pop(addon, None))
            held.addons[addon] = AddonRelay(relay)
            if relay.target is not None:
                fields["target"] = relay.target
        self._watch(instance_id, addon)
        with contextlib.suppress(RuntimeError, OSError):
            await link.send("addon_start", **fields)

    async def stop(self, link: AgentLink | None, instance_id: str, addon: str) -> None:
        """Closes the add-on's ports (then the caller's future completes) and tells the agent."""
        self._unwatch(instance_id, addon)
        held = self.workspaces.held.get(instance_id)
        await self._close(held.addons.pop(addon, None) if held is not None else None)
        link = held.link if held is not None else link
        if link is not None:
            self.hub.spawn(self._tell(link, "addon_stop", instance=instance_id, addon=addon))

    async def open(self, instance_id: str, addon: str) -> None:
        """Opens an on-demand add-on's port, and records that it listens."""
        held, entry = self._entry(instance_id, addon)
        if not entry.forwarders:
            try:
                entry.forwarders = await self._listen(held, addon, entry)
            except OSError as exc:
                raise Unavailable(
                    f"the server could not listen on the {addon} port: {exc.strerror or exc}"
                ) from None
        try:
            await self._listening(instance_id, addon, True)
        except CoreError:
            await self._close(entry)
            raise

    async def close(self, instance_id: str, addon: str) -> None:
        """Closes an on-demand add-on's port and its connections, and records it."""
        _, entry = self._entry(instance_id, addon)
        forwarders, entry.forwarders = entry.forwarders, []
        await asyncio.gather(*(f.close() for f in forwarders))
        await self._listening(instance_id, addon, False)

    # --- what the agent reports ---------------------------------------------------------------

    async def active(self, link: AgentLink, instance_id: str, addon: str, target: str | None) -> None:
        self._unwatch(instance_id, addon)
        if addon not in RELAYED:
            await self.workspaces.report(
                link, link.call(self.hub.fleet.remote.addon_active, instance_id, addon)
            )
            return
        held = self.workspaces.held.get(instance_id)
        entry = held.addons.get(addon) if held is not None and held.link is link else None
        if held is None or entry is None:
            log.info(
                "agent of part %s confirmed %s of instance %s, not asked here",
                link.part_id,
                addon,
                instance_id,
            )
            return
        if target is None:
            held.addons.pop(addon, None)
            await self._failed(instance_id, addon, "the robot's agent named no target to relay it to")
            return
        entry.target = target
        if entry.relay.at_once:
            try:
                forwarders = await self._listen(held, addon, entry)
            except OSError as exc:
                if held.addons.get(addon) is entry:
                    held.addons.pop(addon)
                reason = f"the server could not listen on its ports: {exc.strerror or exc}"
                await self._failed(instance_id, addon, reason)
                return
            entry.forwarders = forwarders
            if held.addons.get(addon) is not entry:  # deactivated meanwhile
                await self._close(entry)
                return
        try:
            await link.call(self.hub.fleet.remote.addon_active, instance_id, addon)
        except CoreError as exc:  # deactivated or ended meanwhile
            log.info("instance %s: %s add-on not made active: %s", instance_id, addon, exc.message)
            if held.addons.get(addon) is entry:
                held.addons.pop(addon)
            await self._close(entry)

    async def failed(self, link: AgentLink, instance_id: str, addon: str, error: str) -> None:
        self._unwatch(instance_id, addon)
        held = self.workspaces.held.get(instance_id)
        if held is not None and held.link is link:
            await self._close(held.addons.pop(addon, None))
        said = error.replace("\x00", "").encode("utf-8", "replace").decode()  # (storable text)
        reason = f"the robot's agent could not start it: {said}"[:1000]
        await self.workspaces.report(
            link, link.call(self.hub.fleet.remote.addon_failed, instance_id, addon, reason)
        )

    async def ended(self, held: Held) -> None:
        """The instance ended here (or its agent went away): its add-ons' ports close."""
        for instance_id, addon in list(self._waiting):
            if instance_id == held.instance_id:
                self._unwatch(instance_id, addon)
        for addon in list(held.addons):
            await self._close(held.addons.pop(addon, None))

    # --- inside -------------------------------------------------------------------------------

    def _entry(self, instance_id: str, addon: str) -> tuple[Held, AddonRelay]:
        held = self.workspaces.held.get(instance_id)
        entry = held.addons.get(addon) if held is not None else None
        if held is None or entry is None or entry.target is None:
            raise Unavailable(
                f"the {addon} add-on of instance {instance_id} is not relayed by this server process:"
                " it runs where the robot's agent is connected"
            )
        return held, entry

    async def _listen(self, held: Held, addon: str, entry: AddonRelay) -> list[Forwarder]:
        assert entry.target is not None
        opened: list[Forwarder] = []
        try:
            for kind, port in entry.relay.ports.items():
                tls = self._tls_context() if kind == "https" else None
                forwarder = Forwarder(self.hub, held.instance_id, held.link.part_id, entry.target, addon, tls)
                await forwarder.open(port)
                opened.append(forwarder)
        except (OSError, ssl.SSLError):
            await asyncio.gather(*(f.close() for f in opened))
            raise
        return opened

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = tls_context(self.hub.fleet.settings)
        return self._tls

    async def _close(self, entry: AddonRelay | None) -> None:
        if entry is not None:
            forwarders, entry.forwarders = entry.forwarders, []
            await asyncio.gather(*(f.close() for f in forwarders))

    async def _listening(self, instance_id: str, addon: str, listening: bool) -> None:
        record = functools.partial(
            self.hub.fleet.remote.addon_listening, SYSTEM, instance_id, addon, listening
        )
        await run_core(self.hub.fleet, record)

    async def _failed(self, instance_id: str, addon: str, reason: str) -> None:
        failed = functools.partial(self.hub.fleet.remote.addon_failed, SYSTEM, instance_id, addon, reason)
        try:
            await run_core(self.hub.fleet, failed)
        except CoreError as exc:  # deactivated or ended meanwhile
            log.info("instance %s: %s add-on failure not recorded: %s", instance_id, addon, exc.message)

    async def _tell(self, link: AgentLink, kind: str, **fields: Any) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            await link.send(kind, **fields)

    def _watch(self, instance_id: str, addon: str) -> None:
        self._unwatch(instance_id, addon)
        task = asyncio.get_running_loop().create_task(self._unanswered(instance_id, addon))
        self._waiting[(instance_id, addon)] = task

    def _unwatch(self, instance_id: str, addon: str) -> None:
        task = self._waiting.pop((instance_id, addon), None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _unanswered(self, instance_id: str, addon: str) -> None:
        await asyncio.sleep(ADDON_START_SECONDS)
        self._waiting.pop((instance_id, addon), None)
        held = self.workspaces.held.get(instance_id)
        entry = held.addons.get(addon) if held is not None else None
        if held is not None and entry is not None and entry.target is None:  # never confirmed
            await self._close(held.addons.pop(addon, None))
        reason = (
            f"the robot's agent did not start it within {ADDON_START_SECONDS:g} s (does it serve {addon}?)"
        )
        await self._failed(instance_id, addon, reason)
