"""The core services, wired to one store."""

from __future__ import annotations

from fleetport.blobs import Blobs
from fleetport.bus import open_bus
from fleetport.core.agents import Agents
from fleetport.core.dataports import Dataports
from fleetport.core.fragments import Fragments
from fleetport.core.identity import Identity
from fleetport.core.locations import Locations
from fleetport.core.logs import Logs
from fleetport.core.machines import Machines
from fleetport.core.orgs import Organizations
from fleetport.core.provision import Provision
from fleetport.core.registry import Registry
from fleetport.core.remote import Remote
from fleetport.core.telemetry import Telemetry
from fleetport.settings import Settings
from fleetport.store import Store


class Fleet:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.bus = open_bus(settings.redis_url, settings.redis_prefix)
        self.identity = Identity(
            store, settings.session_ttl_seconds, settings.credential_cache_seconds, self.bus
        )
        self.organizations = Organizations(store)
        self.locations = Locations(store)
        self.machines = Machines(store, self.bus)
        self.logs = Logs(
            store,
            self.bus,
            settings.log_retention_count,
            settings.log_retention_seconds,
            max_batch=settings.log_max_batch,
        )
        self.blobs = Blobs(settings.data_dir / "blobs")
        self.fragments = Fragments(store)
        self.registry = Registry(store, self.blobs)
        self.telemetry = Telemetry(store, self.bus)
        self.provision = Provision(store, self.telemetry, self.blobs)
        self.dataports = Dataports(self.telemetry)
        self.remote = Remote(store, settings.remote, self.telemetry.dispatcher)
        self.agents = Agents(
            store, self.logs, self.telemetry, self.dataports, settings.agent.offline_after_seconds
        )
