"""Provisioning end to end through fleetport.onep against a real server: a vendor makes a model from
a template client, whitelists serial numbers, enables one for an owner; the device activates it,
gets its key once, writes with it; the owner reads what the device wrote; content reaches the device."""

from __future__ import annotations

import httpx
import pytest

from fleetport.onep import OnepV1, Provision
from fleetport.onep.exceptions import ProvisionException
from tests.conformance.onep.client import INFINITE, client_for, open_root
from tests.conftest import RunningServer


def provision_for(url: str, **options: object) -> Provision:
    parsed = httpx.URL(url)
    return Provision(host=parsed.host, port=str(parsed.port), **options)  # type: ignore[arg-type]


def test_vendor_to_device_to_owner(server: RunningServer) -> None:
    root = open_root(server)
    onep: OnepV1 = client_for(server.url)
    # the template: a client with a dataport aliased "temperature"
    ok, template = onep.create(root.cik, "client", {"name": "thermostat template"})
    assert ok
    ok, info = onep.info(root.cik, template, {"key": True})
    template_cik = info["key"]
    ok, port = onep.create(template_cik, "dataport", {"format": "float", "retention": INFINITE})
    assert ok and onep.map(template_cik, port, "temperature") == (True, "ok")
    ok, owner = onep.create(root.cik, "client", {"name": "customer"})
    assert ok

    vendor = provision_for(server.url)
    assert vendor.vendor_register(root.cik, "acme").isok
    assert vendor.vendor_show(root.cik).body == "acme"
    assert vendor.model_create(root.cik, "thermostat", template, aliases=True).isok
    assert vendor.model_list(root.cik).body.splitlines() == ["thermostat"]
    assert vendor.model_info(root.cik, "thermostat").body.startswith(f"rid={template}")
    assert vendor.serialnumber_add(root.cik, "thermostat", "SN-001", extra="blue").isok
    assert vendor.serialnumber_add_batch(root.cik, "thermostat", ["SN-002", "SN-003"]).isok
    listed = vendor.serialnumber_list(root.cik, "thermostat", limit=10).body.splitlines()
    assert listed == ["SN-001,,blue", "SN-002,,", "SN-003,,"]

    enabled = vendor.serialnumber_enable(root.cik, "thermostat", "SN-001", owner)
    assert enabled.status() == 200
    device_rid = enabled.body
    assert len(device_rid) == 40 and vendor.serialnumber_info(root.cik, "thermostat", "SN-001").body == (
        f"notactivated,{device_rid},blue"
    )

    device = provision_for(server.url)
    activated = device.serialnumber_activate("thermostat", "SN-001", "acme")
    assert activated.status() == 200
    device_cik = activated.body
    assert len(device_cik) == 40 and not device_cik.endswith("\n")
    assert device.serialnumber_activate("thermostat", "SN-001", "acme").status() == 409  # once only

    # the device writes through its own key, to the aliased dataport of its clone of the template
    assert onep.write(device_cik, {"alias": "temperature"}, 21.5) == (True, "ok")
    ok, device_port = onep.lookup(device_cik, "alias", "temperature")
    assert ok and device_port != port
    # the owner reads it, acting as its device through connect_as
    owner_key = onep.info(root.cik, owner, {"key": True})[1]["key"]
    onep.connect_as(device_rid)
    ok, points = onep.read(owner_key, {"alias": "temperature"}, {"limit": 1})
    onep.connect_as(None)
    assert ok and points[0][1] == 21.5
    assert onep.lookup(root.cik, "owner", device_rid) == (True, owner)

    # content for the model, downloaded by the device with a range
    assert vendor.content_create(root.cik, "thermostat", "firmware", "v1.2", protected=True).isok
    assert vendor.content_upload(
        root.cik, "thermostat", "firmware", b"0123456789", "application/octet-stream"
    ).isok
    assert vendor.content_list(root.cik, "thermostat").body.splitlines() == ["firmware"]
    blob = device.content_download(device_cik, "acme", "thermostat", "firmware")
    assert blob.status() == 200 and blob.response.content == b"0123456789"

    # disabling refuses activation; re-enabling hands out a new key and the old one stops working
    assert vendor.serialnumber_disable(root.cik, "thermostat", "SN-001").isok
    assert device.serialnumber_activate("thermostat", "SN-001", "acme").status() == 409
    assert vendor.serialnumber_reenable(root.cik, "thermostat", "SN-001").isok
    again = device.serialnumber_activate("thermostat", "SN-001", "acme")
    assert again.status() == 200 and again.body != device_cik
    assert onep.write(again.body, {"alias": "temperature"}, 22.0) == (True, "ok")
    with pytest.raises(Exception, match="401"):
        onep.write(device_cik, {"alias": "temperature"}, 1.0)

    # errors are ProvisionResponses, or ProvisionExceptions when asked for
    assert vendor.serialnumber_add(root.cik, "thermostat", "SN-002").status() == 409
    strict = provision_for(server.url, raise_api_exceptions=True)
    with pytest.raises(ProvisionException, match="404"):
        strict.model_info(root.cik, "no-such-model")
    assert vendor.serialnumber_remove_batch(root.cik, "thermostat", ["SN-002", "SN-003"]).isok
    assert vendor.serialnumber_list(root.cik, "thermostat").body.splitlines() == [f"SN-001,{device_rid},blue"]
