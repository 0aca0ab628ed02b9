"""The port through which remote access reaches robots: the agent hub implements it.

Core asks the host to set an instance's workspace up (``launch``) or tear it down (``destroy``);
both only enqueue a request for the robot's agent and return at once. The agent answers through
core calls (``Remote.instance_ready``, ``Remote.instance_failed``, ``Remote.instance_destroyed``).
Without an agent nothing answers: a launched instance fails when its launch times out.
"""

from __future__ import annotations

from typing import Protocol

from fleetport.core.remote.model import Instance


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


class NoAgent:
    """The host when no agent hub runs: no robot is reached, nothing is held."""

    def launch(self, instance: Instance, machine_id: str) -> None:
        return None

    def destroy(self, instance: Instance, machine_id: str) -> None:
        return None

    def connected(self, machine_id: str) -> bool:
        return False
