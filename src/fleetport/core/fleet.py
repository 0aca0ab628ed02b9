"""The core services, wired to one store."""

from __future__ import annotations

from fleetport.core.identity import Identity
from fleetport.core.locations import Locations
from fleetport.core.machines import Machines
from fleetport.core.orgs import Organizations
from fleetport.settings import Settings
from fleetport.store import Store


class Fleet:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.identity = Identity(store, settings.session_ttl_seconds, settings.credential_cache_seconds)
        self.organizations = Organizations(store)
        self.locations = Locations(store)
        self.machines = Machines(store)
