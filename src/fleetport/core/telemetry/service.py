"""Telemetry: the One Platform resource tree (clients owning clients, dataports, datarules and
dispatches) and the points of its series.

Every organization has a root client, made on first use; a machine may own a device client under
it. Resources are named by 40-hex RIDs; each client has a 40-hex key (a CIK) that authenticates
as that client, with full control of its sub-tree. A caller authenticated by a key is a
``Principal`` of kind ``client``; it reaches a resource when its client is the resource or one of
the resource's ancestors, and reads (only) resources shared with it by a share code it activated.
A token from ``grant`` acts as one client, limited to some procedures on some sub-trees. Aliases
name resources under the client that made them.

Points carry a timestamp in Unix seconds and a value of the resource's format. A dataport keeps
the points its retention allows (a count and an age, either unlimited), enforced on write and by
``sweep``. A new point flows to the resources subscribed to its resource: a dataport stores it
(after its preprocess steps), a datarule evaluates its rule and stores the outcome, a dispatch
sends it over HTTP. New points are published on the bus (topic ``points:<rid>``) after commit.

The service is made of parts, each one concern, which callers use directly
(``fleet.telemetry.points.write(...)``): ``tree`` (who reaches what), ``points`` (writes, reads,
waits, retention, the datarule clock), ``resources`` (create, update, tag, drop, move, clone),
``inventory`` (info, listing, usage), ``names`` (aliases and lookups), ``sharing`` (share codes,
client keys, tokens) and ``clients`` (the root and device clients of the fleet). ``Telemetry`` owns
them and authenticates keys and tokens.
"""

from __future__ import annotations

from fleetport.bus import Bus
from fleetport.core.telemetry.clients import Clients
from fleetport.core.telemetry.dispatch import Dispatcher
from fleetport.core.telemetry.inventory import Inventory
from fleetport.core.telemetry.names import Names
from fleetport.core.telemetry.points import Points
from fleetport.core.telemetry.resources import Resources
from fleetport.core.telemetry.sharing import Sharing
from fleetport.core.telemetry.tree import Tree
from fleetport.store import Store


class Telemetry:
    """The telemetry service: its parts, built over one store and bus."""

    def __init__(self, store: Store, bus: Bus | None = None, dispatcher: Dispatcher | None = None) -> None:
        self.store = store
        self.bus = bus
        self.dispatcher = dispatcher if dispatcher is not None else Dispatcher()
        self.tree = Tree(store)
        self.points = Points(store, self.tree, bus, self.dispatcher)
        self.resources = Resources(store, self.tree)
        self.inventory = Inventory(store, self.tree)
        self.names = Names(store, self.tree)
        self.sharing = Sharing(store, self.tree)
        self.clients = Clients(store, self.tree)
