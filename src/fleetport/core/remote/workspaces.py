"""The port through which remote access reaches robots: the agent hub implements it.

Core asks the host to set an instance's workspace up (``launch``) or tear it down (``destroy``);
both only enqueue a request for the robot's agent and return at once. The agent answers through
core calls (``Remote.instance_ready``, ``Remote.instance_failed``, ``Remote.instance_destroyed``).
Without an agent nothing answers: a launched instance fails when its launch times out.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from fleetport.core.errors import Unavailable
from fleetport.core.remote.model import CiRun, Instance


@dataclass(frozen=True)
class Relay:
    """What the host needs to relay an add-on to a robot-local TCP server: the ``host:port`` the
    deployment's add-on config names (None: the agent's own option decides), the ports held for
    it by kind (``http``, ``https`` with TLS, ``vnc``), and whether they listen as soon as the
    agent confirms the add-on (mistyproxy) or only between start and stop (vnc)."""

    target: str | None
    ports: dict[str, int] = field(default_factory=dict)
    at_once: bool = True


def done() -> Future[None]:
    """A future that has completed already."""
    future: Future[None] = Future()
    future.set_result(None)
    return future


def refused(error: Exception) -> Future[None]:
    future: Future[None] = Future()
    future.set_exception(error)
    return future


class WorkspaceHost(Protocol):
    def launch(self, instance: Instance, machine_id: str) -> None:
        """Asks the machine's agent to set the instance's workspace up."""
        ...

    def destroy(self, instance: Instance, machine_id: str) -> None:
        """Asks the machine's agent to tear the instance's workspace down (asked only while it is
        connected; it confirms with ``instance_destroyed``)."""
        ...

    def connected(self, machine_id: str) -> bool:
        """Whether the machine's agent is connected now."""
        ...

    def addon_start(self, instance_id: str, machine_id: str, addon: str, relay: Relay | None) -> None:
        """Asks the machine's agent to start an add-on for the instance (it confirms with
        ``Addons.addon_active`` or reports ``Addons.addon_failed``); a relayed add-on's ports
        listen once the agent confirmed it (``relay.at_once``) or when started."""
        ...

    def addon_stop(self, instance_id: str, machine_id: str, addon: str) -> Future[None]:
        """Closes the add-on's ports and their connections (the future completes once they are
        closed) and tells the machine's agent the add-on was deactivated."""
        ...

    def relay_open(self, instance_id: str, machine_id: str, addon: str) -> Future[None]:
        """Opens the port of a relayed add-on that listens on demand (vnc); the future completes
        once it listens and ``Addons.addon_listening`` recorded it, or fails with ``Unavailable``."""
        ...

    def relay_close(self, instance_id: str, machine_id: str, addon: str) -> Future[None]:
        """Closes that port and its connections (recorded with ``Addons.addon_listening``)."""
        ...

    def snapshot(self, instance_id: str, machine_id: str, camera: str, timeout: float) -> Future[bytes]:
        """Asks the machine's agent for a camera image: a future of the JPEG bytes, failing with
        ``Unavailable`` when the agent is away, refuses, or sends nothing within ``timeout`` s."""
        ...

    def drive(self, instance_id: str, machine_id: str, command: dict[str, Any]) -> None:
        """Passes a drive command on to the machine's agent (commands arrive in the order given)."""
        ...

    def run_job(self, run: CiRun, machine_id: str) -> None:
        """Asks the machine's agent to run a CI job in the instance's workspace (it reports with
        ``CiJobs.log``, ``needs`` and ``done``)."""
        ...


class NoAgent:
    """The host when no agent hub runs: no robot is reached, nothing is held."""

    def launch(self, instance: Instance, machine_id: str) -> None:
        return None

    def destroy(self, instance: Instance, machine_id: str) -> None:
        return None

    def connected(self, machine_id: str) -> bool:
        return False

    def addon_start(self, instance_id: str, machine_id: str, addon: str, relay: Relay | None) -> None:
        return None

    def addon_stop(self, instance_id: str, machine_id: str, addon: str) -> Future[None]:
        return done()

    def relay_open(self, instance_id: str, machine_id: str, addon: str) -> Future[None]:
        return refused(Unavailable(f"the robot's agent is not connected: starting {addon} needs it"))

    def relay_close(self, instance_id: str, machine_id: str, addon: str) -> Future[None]:
        return done()

    def snapshot(self, instance_id: str, machine_id: str, camera: str, timeout: float) -> Future[bytes]:
        future: Future[bytes] = Future()
        future.set_exception(Unavailable("the robot's agent is not connected: a camera snapshot needs it"))
        return future

    def drive(self, instance_id: str, machine_id: str, command: dict[str, Any]) -> None:
        return None

    def run_job(self, run: CiRun, machine_id: str) -> None:
        return None
