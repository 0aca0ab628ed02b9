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
from fleetport.core.errors import Unauthenticated
from fleetport.core.ids import hash_secret
from fleetport.core.permissions import Principal
from fleetport.core.telemetry.clients import Clients
from fleetport.core.telemetry.dispatch import Dispatcher
from fleetport.core.telemetry.inventory import Inventory
from fleetport.core.telemetry.model import (
    Expired,
    client_principal,
    is_rid,
    now,
)
from fleetport.core.telemetry.names import Names
from fleetport.core.telemetry.points import Points
from fleetport.core.telemetry.resources import Resources
from fleetport.core.telemetry.sharing import Sharing
from fleetport.core.telemetry.tree import Tree
from fleetport.store import Store, Tx
from fleetport.store import telemetry as st


class Telemetry:
    """The telemetry service: its parts, and the authentication of client keys and tokens."""

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

    def reaches(self, conn: Tx, client: str, rid: str) -> bool:
        """Whether ``client`` is ``rid`` or one of its ancestors."""
        return self.tree.reaches(conn, client, rid)

    def authenticate(
        self, cik: str, *, client_id: str | None = None, resource_id: str | None = None
    ) -> Principal:
        """The client a key authenticates. With ``client_id`` the caller acts as that descendant
        client; with ``resource_id`` as the owner of that descendant resource."""
        if not is_rid(cik):
            raise Unauthenticated("the key is not 40 hexadecimal characters")
        with self.store.read() as conn:
            row = st.by_cik(conn, cik)
            if row is None:
                raise Unauthenticated("no client has this key")
            if row["status"] == "expired":
                raise Expired("this key was deactivated")
            if row["status"] == "notactivated":  # a provisioned device's key, until it is activated
                raise Unauthenticated("this key has not been activated")
            acting: str = row["rid"]
            if client_id is not None or resource_id is not None:
                target = client_id if client_id is not None else resource_id
                if not is_rid(target) or not self.reaches(conn, acting, str(target)):
                    raise Unauthenticated("the key's client is no ancestor of that resource")
                resource = st.get(conn, str(target))
                assert resource is not None
                if client_id is not None:
                    if resource["type"] != "client":
                        raise Unauthenticated("client_id names no client")
                    acting = resource["rid"]
                else:
                    if resource["parent_rid"] is None:
                        raise Unauthenticated("a root client has no owner")
                    acting = resource["parent_rid"]
        return client_principal(acting)

    def authenticate_token(self, token: str) -> Principal:
        """The client a token from ``grant`` acts as, with the token's permissions."""
        if not is_rid(token):
            raise Unauthenticated("a token is 40 hexadecimal characters")
        with self.store.read() as conn:
            row = st.token_by_hash(conn, hash_secret(token))
            if row is None:
                raise Unauthenticated("no such token")
            if row["expires_at"] is not None and row["expires_at"] <= now():
                raise Expired("the token's time to live has passed")
            client = str(row["client_rid"])
        permissions = {rid: frozenset(names) for rid, names in dict(row["permissions"]).items()}
        return client_principal(client, display=f"token for client {client}", permissions=permissions)
