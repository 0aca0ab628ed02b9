"""Remote access: deployments (machines offered for remote sessions) and their access rules,
instances on them with their firewall rules and add-ons, reservations, and CI projects with their
jobs. The robots are reached through a ``WorkspaceHost`` (the agent hub), which reports back
through the instance calls ``instance_ready``, ``instance_failed``, ``instance_destroyed``,
``instance_lost`` and ``agent_returned``, and the job calls ``ci_jobs.log``, ``needs`` and
``done``."""

from __future__ import annotations

from fleetport.core.remote.addons import Addons
from fleetport.core.remote.ci import CiProjects
from fleetport.core.remote.cijobs import CiJobs
from fleetport.core.remote.deployments import Deployments
from fleetport.core.remote.instances import Instances
from fleetport.core.remote.reservations import Reservations
from fleetport.core.remote.workspaces import NoAgent, Relay, WorkspaceHost
from fleetport.core.telemetry.dispatch import Dispatcher
from fleetport.settings import RemoteSettings
from fleetport.store import Store


class Remote:
    def __init__(
        self,
        store: Store,
        settings: RemoteSettings,
        dispatcher: Dispatcher,
        host: WorkspaceHost | None = None,
    ) -> None:
        self.host: WorkspaceHost = host or NoAgent()
        self.deployments = Deployments(store)
        self.instances = Instances(store, settings, self.host, dispatcher)
        self.addons = Addons(store, settings, self.host)
        self.reservations = Reservations(store)
        self.ci = CiProjects(store)
        self.ci_jobs = CiJobs(store, settings, self.instances)
        # what the agent hub reports, as it calls them
        self.instance_ready = self.instances.instance_ready
        self.instance_failed = self.instances.instance_failed
        self.instance_destroyed = self.instances.instance_destroyed
        self.instance_lost = self.instances.instance_lost
        self.agent_returned = self.instances.agent_returned
        self.addon_active = self.addons.addon_active
        self.addon_failed = self.addons.addon_failed
        self.addon_listening = self.addons.addon_listening

    def sweep(self) -> int:
        """The duty: instances (launch timeouts, expiries, reservations), then CI jobs (time
        limits, the queue); how many it changed."""
        return self.instances.sweep() + self.ci_jobs.sweep()

    def attach_host(self, host: WorkspaceHost) -> None:
        """Reaches robots through ``host`` from now on (the agent hub attaches itself when the
        server serves the agent wire)."""
        self.host = self.instances.host = self.addons.host = host


__all__ = ["NoAgent", "Relay", "Remote", "WorkspaceHost"]
