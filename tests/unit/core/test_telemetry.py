"""Telemetry resource tree and points in the core (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fleetport.core.credentials import ClientCik
from fleetport.core.errors import Conflict, Invalid, NotFound, PermissionDenied, Unauthenticated
from fleetport.core.fleet import Fleet
from fleetport.core.permissions import Principal
from fleetport.core.telemetry import Alias, NewResource, RecordFailure, ResourceChanges, now


@dataclass
class Tree:
    org: str
    root: Principal  # authenticated by the root client's key
    root_rid: str
    root_cik: str


@pytest.fixture
def tree(fleet: Fleet, admin: Principal) -> Tree:
    org = fleet.organizations.create(admin, "Acme")
    key = fleet.telemetry.clients.root_client(admin, org.id)
    assert key.cik is not None
    return Tree(org.id, fleet.identity.authenticate(ClientCik(key.cik)), key.rid, key.cik)


def _dataport(fleet: Fleet, p: Principal, fmt: str = "float", **kwargs: int | None) -> str:
    return fleet.telemetry.resources.create(p, NewResource(type="dataport", format=fmt, **kwargs))  # type: ignore[arg-type]


def test_root_client_is_made_once_per_organization(fleet: Fleet, admin: Principal, tree: Tree) -> None:
    again = fleet.telemetry.clients.root_client(admin, tree.org)
    assert (again.rid, again.cik) == (tree.root_rid, tree.root_cik)
    assert len(tree.root_rid) == 40 and len(tree.root_cik) == 40
    other = fleet.telemetry.clients.root_client(admin, fleet.organizations.create(admin, "Other").id)
    assert other.rid != tree.root_rid


def test_device_client_of_a_machine(fleet: Fleet, admin: Principal, tree: Tree) -> None:
    lab = fleet.locations.create(admin, tree.org, "Lab")
    machine = fleet.machines.create(admin, lab.id, "rover")
    device = fleet.telemetry.clients.device_client(admin, machine.id)
    assert device.cik is not None
    assert fleet.telemetry.clients.device_client(admin, machine.id) == device
    assert fleet.telemetry.inventory.info(tree.root, device.rid).resource.parent_rid == tree.root_rid
    assert fleet.telemetry.inventory.listing(tree.root, Alias(""), ["client"]) == {"client": [device.rid]}


def test_authentication_forms(fleet: Fleet, tree: Tree) -> None:
    child = fleet.telemetry.resources.create(tree.root, NewResource(type="client", name="child"))
    child_key = fleet.telemetry.inventory.info(tree.root, child).key
    assert child_key is not None
    port = _dataport(fleet, fleet.identity.authenticate(ClientCik(child_key)))
    as_child = fleet.identity.authenticate(ClientCik(tree.root_cik, client_id=child))
    assert as_child.client_rid == child
    as_owner = fleet.identity.authenticate(ClientCik(tree.root_cik, resource_id=port))
    assert as_owner.client_rid == child
    with pytest.raises(Unauthenticated):
        fleet.identity.authenticate(ClientCik("0" * 40))
    with pytest.raises(Unauthenticated):
        fleet.identity.authenticate(ClientCik(child_key, client_id=tree.root_rid))  # not a descendant
    with pytest.raises(Unauthenticated):
        fleet.identity.authenticate(ClientCik(tree.root_cik, client_id=port))  # not a client


def test_subtree_access_and_drop(fleet: Fleet, tree: Tree) -> None:
    child = fleet.telemetry.resources.create(tree.root, NewResource(type="client"))
    key = fleet.telemetry.inventory.info(tree.root, child).key
    assert key is not None
    as_child = fleet.identity.authenticate(ClientCik(key))
    port = _dataport(fleet, as_child)
    fleet.telemetry.points.write(tree.root, port, 1.5)  # an ancestor reaches the grandchild
    sibling_port = _dataport(fleet, tree.root)
    with pytest.raises(PermissionDenied):
        fleet.telemetry.points.read(as_child, sibling_port)
    assert fleet.telemetry.inventory.info(as_child, Alias("")).key is None  # only the direct owner sees it
    with pytest.raises(PermissionDenied):
        fleet.telemetry.resources.drop(as_child, Alias(""))
    fleet.telemetry.resources.drop(tree.root, child)
    with pytest.raises(PermissionDenied):
        fleet.telemetry.inventory.info(tree.root, port)  # gone with its owner
    with pytest.raises(Unauthenticated):
        fleet.identity.authenticate(ClientCik(key))


def test_aliases(fleet: Fleet, tree: Tree) -> None:
    port = _dataport(fleet, tree.root)
    fleet.telemetry.names.map_alias(tree.root, port, "temp")
    assert fleet.telemetry.names.lookup_alias(tree.root, "temp") == port
    assert fleet.telemetry.names.lookup_alias(tree.root, "") == tree.root_rid
    fleet.telemetry.points.write(tree.root, Alias("temp"), "2.5")
    assert fleet.telemetry.points.read(tree.root, Alias("temp"))[0][1] == 2.5
    assert fleet.telemetry.inventory.info(tree.root, Alias("")).aliases == {port: ["temp"]}
    with pytest.raises(Conflict):
        fleet.telemetry.names.map_alias(tree.root, port, "temp")
    fleet.telemetry.names.unmap_alias(tree.root, "temp")
    with pytest.raises(NotFound):
        fleet.telemetry.names.lookup_alias(tree.root, "temp")
    with pytest.raises(NotFound):
        fleet.telemetry.names.unmap_alias(tree.root, "temp")


def test_read_ranges_sort_and_limit(fleet: Fleet, tree: Tree) -> None:
    port = _dataport(fleet, tree.root, "integer")
    assert fleet.telemetry.points.record(tree.root, port, [[t, t * 10] for t in range(100, 110)]) == []
    t = fleet.telemetry
    assert t.points.read(tree.root, port) == [(109, 1090)]
    assert t.points.read(tree.root, port, start=103, end=105, limit=10) == [
        (105, 1050),
        (104, 1040),
        (103, 1030),
    ]
    assert t.points.read(tree.root, port, start=103, end=105, descending=False, limit=2) == [
        (103, 1030),
        (104, 1040),
    ]
    assert t.points.read(tree.root, port, start=200, limit=10) == []
    assert t.points.read(tree.root, port, limit=0) == []
    for bad in ({"limit": -1}, {"start": -1}):
        with pytest.raises(Invalid):
            t.points.read(tree.root, port, **bad)  # type: ignore[arg-type]


def test_values_follow_the_format(fleet: Fleet, tree: Tree) -> None:
    t = fleet.telemetry
    f, i, s = (_dataport(fleet, tree.root, fmt) for fmt in ("float", "integer", "string"))
    t.points.write(tree.root, f, 3)
    t.points.write(tree.root, i, "42")
    t.points.write(tree.root, s, "你好")
    assert t.points.read(tree.root, f)[0][1] == 3.0 and isinstance(t.points.read(tree.root, f)[0][1], float)
    assert t.points.read(tree.root, i)[0][1] == 42
    assert t.points.read(tree.root, s)[0][1] == "你好"
    for port, bad in ((f, "x"), (i, 1.5), (f, True), (i, [1])):
        with pytest.raises(Invalid):
            t.points.write(tree.root, port, bad)
    with pytest.raises(Invalid):
        t.points.write(tree.root, tree.root_rid, 1)  # a client holds no points


def test_retention_count_and_duration(fleet: Fleet, tree: Tree) -> None:
    t = fleet.telemetry
    by_count = _dataport(fleet, tree.root, "integer", retention_count=3)
    t.points.record(tree.root, by_count, [[ts, ts] for ts in range(1, 11)])
    assert t.points.read(tree.root, by_count, limit=100, descending=False) == [(8, 8), (9, 9), (10, 10)]
    by_age = _dataport(fleet, tree.root, "integer", retention_seconds=3600)
    at = now()
    t.points.record(tree.root, by_age, [[at - 7200, 1], [at - 60, 2], [-30, 3]])
    assert [v for _, v in t.points.read(tree.root, by_age, limit=10, descending=False)] == [2, 3]
    t.resources.update(tree.root, by_count, ResourceChanges(retention_count=1))
    assert t.points.read(tree.root, by_count, limit=100) == [(10, 10)]
    with pytest.raises(Invalid):
        t.resources.update(tree.root, by_count, ResourceChanges(format="string"))


def test_recordbatch_partial_failure(fleet: Fleet, tree: Tree) -> None:
    t = fleet.telemetry
    port = _dataport(fleet, tree.root, "integer")
    failures = t.points.record(tree.root, port, [[10, 1], [11, "nope"], ["x", 2], [12, 3], [13]])
    assert failures == [
        RecordFailure(11, "invalid"),
        RecordFailure("x", "invalid"),
        RecordFailure([13], "invalid"),
    ]
    assert t.points.read(tree.root, port, limit=10, descending=False) == [(10, 1), (12, 3)]
    with pytest.raises(Invalid):
        t.points.record(tree.root, port, [[20, 1], [21, "nope"]], all_or_none=True)
    assert t.points.read(tree.root, port, start=20, limit=10) == []


def test_flush(fleet: Fleet, tree: Tree) -> None:
    t = fleet.telemetry
    port = _dataport(fleet, tree.root, "integer")
    t.points.record(tree.root, port, [[ts, ts] for ts in range(1, 11)])
    assert t.points.flush(tree.root, port, newer_than=3, older_than=6) == 2
    assert t.points.flush(tree.root, port, newer_than=8) == 2
    assert [ts for ts, _ in t.points.read(tree.root, port, limit=100, descending=False)] == [1, 2, 3, 6, 7, 8]
    assert t.inventory.info(tree.root, port).storage is not None
    t.points.flush(tree.root, port)
    info = t.inventory.info(tree.root, port)
    assert info.storage is not None and info.storage.count == 0


def test_listing(fleet: Fleet, tree: Tree) -> None:
    t = fleet.telemetry
    port = _dataport(fleet, tree.root)
    public = t.resources.create(tree.root, NewResource(type="dataport", format="string", public=True))
    client = t.resources.create(tree.root, NewResource(type="client"))
    t.names.map_alias(tree.root, port, "p")
    found = t.inventory.listing(tree.root, Alias(""), ["client", "dataport"])
    assert set(found) == {"client", "dataport"} and found["client"] == [client]
    assert sorted(found["dataport"]) == sorted([port, public])
    assert t.inventory.listing(tree.root, Alias(""), ["dataport"], public=True) == {"dataport": [public]}
    assert t.inventory.listing(tree.root, Alias(""), ["dataport"], aliased=True) == {"dataport": [port]}
    with pytest.raises(Invalid):
        t.inventory.listing(tree.root, Alias(""), ["gadget"])


def test_native_principals_need_a_client_key(fleet: Fleet, admin: Principal, tree: Tree) -> None:
    with pytest.raises(PermissionDenied):
        fleet.telemetry.points.read(admin, tree.root_rid)
