"""Provisioning in the core (SQLite and PostgreSQL): what the wire suite cannot reach easily."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fleetport.core import provision as cp
from fleetport.core.credentials import ClientCik, ProvisioningKey
from fleetport.core.errors import Conflict, NotFound, PermissionDenied, Unauthenticated
from fleetport.core.fleet import Fleet
from fleetport.core.permissions import Principal
from fleetport.core.telemetry import Alias, NewResource


@dataclass
class Vendor:
    cik: str  # the vendor client's key
    rid: str
    template: str
    owner: str


def by_key(fleet: Fleet, key: str) -> Principal:
    """The caller a provisioning key (a client's CIK or a vendor token) authenticates."""
    return fleet.identity.authenticate(ProvisioningKey(key))


@pytest.fixture
def vendor(fleet: Fleet, admin: Principal) -> Vendor:
    org = fleet.organizations.create(admin, "Acme")
    root = fleet.telemetry.clients.root_client(admin, org.id)
    assert root.cik is not None
    as_root = fleet.identity.authenticate(ClientCik(root.cik))
    rid = fleet.telemetry.resources.create(as_root, NewResource(type="client", name="vendor"))
    cik = fleet.telemetry.inventory.info(as_root, rid).key
    assert cik is not None
    as_vendor = fleet.identity.authenticate(ClientCik(cik))
    template = fleet.telemetry.resources.create(as_vendor, NewResource(type="client", name="template"))
    owner = fleet.telemetry.resources.create(as_vendor, NewResource(type="client", name="owner"))
    fleet.provision.register(by_key(fleet, cik), "acme")
    fleet.provision.create_model(by_key(fleet, cik), "m", rid=template)
    return Vendor(cik, rid, template, owner)


def test_vendor_token_and_native_lookup(fleet: Fleet, vendor: Vendor) -> None:
    found = fleet.provision.vendor_of_client(vendor.rid)
    assert found is not None and found.name == "acme" and len(found.token) == 40
    assert fleet.provision.vendor_token(by_key(fleet, vendor.cik)) == found.token
    with pytest.raises(PermissionDenied):
        fleet.provision.vendor_token(by_key(fleet, found.token))
    assert fleet.provision.models(by_key(fleet, found.token)) == ["m"]
    assert fleet.provision.vendor_of_client(vendor.owner) is None


def test_dropped_clone_leaves_the_serial_number_unused(fleet: Fleet, vendor: Vendor) -> None:
    fleet.provision.add_serials(by_key(fleet, vendor.cik), "m", [("s", "x")])
    clone = fleet.provision.enable(by_key(fleet, vendor.cik), "m", "s", vendor.owner)
    assert fleet.provision.serial(by_key(fleet, vendor.cik), "m", "s") == cp.Serial(
        "s", "notactivated", clone, "x"
    )
    fleet.telemetry.resources.drop(fleet.identity.authenticate(ClientCik(vendor.cik)), clone)
    assert fleet.provision.serial(by_key(fleet, vendor.cik), "m", "s") == cp.Serial("s", "unused", None, "x")
    with pytest.raises(Conflict):
        fleet.provision.activate("acme", "m", "s")
    # it can be enabled afresh
    again = fleet.provision.enable(by_key(fleet, vendor.cik), "m", "s", vendor.owner)
    assert (
        again != clone
        and fleet.provision.serial(by_key(fleet, vendor.cik), "m", "s").status == "notactivated"
    )


def test_deactivated_key_shows_expired(fleet: Fleet, vendor: Vendor) -> None:
    fleet.provision.add_serials(by_key(fleet, vendor.cik), "m", [("s", None)])
    fleet.provision.enable(by_key(fleet, vendor.cik), "m", "s", vendor.owner)
    key = fleet.provision.activate("acme", "m", "s", connection="10.0.0.7")
    fleet.telemetry.sharing.deactivate(fleet.identity.authenticate(ClientCik(vendor.cik)), "client", key)
    assert fleet.provision.serial(by_key(fleet, vendor.cik), "m", "s").status == "expired"
    with pytest.raises(Unauthenticated):
        fleet.identity.authenticate(ClientCik(key))
    fleet.provision.reenable(by_key(fleet, vendor.cik), "m", "s")
    fresh = fleet.provision.activate("acme", "m", "s")
    assert fleet.identity.authenticate(ClientCik(fresh)).client_rid is not None
    assert [e.connection for e in fleet.provision.activation_log(by_key(fleet, vendor.cik), "m", "s")] == [
        "10.0.0.7",
        "",
    ]


def test_template_gone_and_log_retention(fleet: Fleet, vendor: Vendor) -> None:
    fleet.provision.add_serials(by_key(fleet, vendor.cik), "m", [("a", None), ("b", None)])
    fleet.provision.enable(by_key(fleet, vendor.cik), "m", "a", vendor.owner)
    fleet.provision.activate("acme", "m", "a")
    for _ in range(cp.LOG_KEEP + 5):
        with pytest.raises(Conflict):
            fleet.provision.activate("acme", "m", "a")
    log = fleet.provision.activation_log(by_key(fleet, vendor.cik), "m", "a")
    assert len(log) == cp.LOG_KEEP and all(e.entry.startswith("refused") for e in log)
    fleet.telemetry.resources.drop(fleet.identity.authenticate(ClientCik(vendor.cik)), vendor.template)
    with pytest.raises(Conflict):
        fleet.provision.enable(by_key(fleet, vendor.cik), "m", "b", vendor.owner)
    assert fleet.provision.serial(by_key(fleet, vendor.cik), "m", "b").status == "unused"


def test_unregister_keeps_the_clients(fleet: Fleet, vendor: Vendor) -> None:
    fleet.provision.add_serials(by_key(fleet, vendor.cik), "m", [("s", None)])
    clone = fleet.provision.enable(by_key(fleet, vendor.cik), "m", "s", vendor.owner)
    fleet.provision.create_content(by_key(fleet, vendor.cik), "m", "c", meta="")
    fleet.provision.unregister(by_key(fleet, vendor.cik), "acme")
    with pytest.raises(NotFound):
        fleet.provision.vendor(by_key(fleet, vendor.cik))
    with pytest.raises(PermissionDenied):
        fleet.provision.models(by_key(fleet, vendor.cik))
    as_vendor = fleet.identity.authenticate(ClientCik(vendor.cik))
    assert fleet.telemetry.names.lookup_owner(as_vendor, clone) == vendor.owner
    # a new registration starts empty
    fleet.provision.register(by_key(fleet, vendor.cik), "acme")
    assert fleet.provision.models(by_key(fleet, vendor.cik)) == []
    assert fleet.telemetry.inventory.listing(as_vendor, Alias(""), ["client"])["client"]
