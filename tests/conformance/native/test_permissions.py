"""The permission matrix: a key scoped to one location, against everything else in the fleet."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


def _made(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def world(api: TestClient) -> dict[str, str]:
    """Org A: locations L1 (machine M1, nested L1a with M1a) and L2 (M2). Org B: L3 (M3)."""
    ids: dict[str, str] = {}
    ids["A"] = _made(api.post("/api/v1/organizations", json={"name": "A"}))["id"]
    ids["B"] = _made(api.post("/api/v1/organizations", json={"name": "B"}))["id"]
    for name, org, parent in (("L1", "A", None), ("L1a", "A", "L1"), ("L2", "A", None), ("L3", "B", None)):
        body = {"organization_id": ids[org], "name": name, **({"parent_id": ids[parent]} if parent else {})}
        ids[name] = _made(api.post("/api/v1/locations", json=body))["id"]
    for name, loc in (("M1", "L1"), ("M1a", "L1a"), ("M2", "L2"), ("M3", "L3")):
        ids[name] = _made(api.post("/api/v1/machines", json={"location_id": ids[loc], "name": name}))["id"]
        ids[f"{name}.part"] = api.get(f"/api/v1/machines/{ids[name]}/parts").json()["items"][0]["id"]
    return ids


def _key(api: TestClient, world: dict[str, str], role: str) -> TestClient:
    grant = {"role": role, "resource_type": "location", "resource_id": world["L1"]}
    key = _made(
        api.post(f"/api/v1/organizations/{world['A']}/keys", json={"name": role, "authorizations": [grant]})
    )
    return TestClient(api.app, headers={"Authorization": f"Bearer {key['secret']}"})


INSIDE = ("M1", "M1a")
OUTSIDE = ("M2", "M3")


def test_operator_reads_and_controls_its_location_only(api: TestClient, world: dict[str, str]) -> None:
    op = _key(api, world, "operator")
    for m in INSIDE:
        part = world[f"{m}.part"]
        assert op.get(f"/api/v1/machines/{world[m]}").status_code == 200
        assert op.get(f"/api/v1/machines/{world[m]}/parts").status_code == 200
        assert op.get(f"/api/v1/parts/{part}").status_code == 200
        assert op.get(f"/api/v1/parts/{part}/config").status_code == 200
        assert op.get(f"/api/v1/parts/{part}/config/history").status_code == 200
        assert op.post(f"/api/v1/parts/{part}/restart").json()["restart_required"] is True
        # operators read and control; changing a machine takes an owner
        assert op.put(f"/api/v1/parts/{part}/config", json={"config": {}}).status_code == 403
        assert op.patch(f"/api/v1/machines/{world[m]}", json={"name": "x"}).status_code == 403
        assert op.delete(f"/api/v1/machines/{world[m]}").status_code == 403
        assert op.post(f"/api/v1/parts/{part}/secrets").status_code == 403
    for loc in ("L1", "L1a"):
        assert op.get(f"/api/v1/locations/{world[loc]}").status_code == 200
        assert op.patch(f"/api/v1/locations/{world[loc]}", json={"name": "x"}).status_code == 403
    assert op.post("/api/v1/machines", json={"location_id": world["L1"], "name": "new"}).status_code == 403

    for m in OUTSIDE:
        part = world[f"{m}.part"]
        for response in (
            op.get(f"/api/v1/machines/{world[m]}"),
            op.get(f"/api/v1/machines/{world[m]}/parts"),
            op.get(f"/api/v1/parts/{part}"),
            op.get(f"/api/v1/parts/{part}/config"),
            op.get(f"/api/v1/parts/{part}/config/history"),
            op.post(f"/api/v1/parts/{part}/restart"),
            op.put(f"/api/v1/parts/{part}/config", json={"config": {}}),
            op.delete(f"/api/v1/machines/{world[m]}"),
        ):
            assert response.status_code == 403, response.request.url
            assert response.json()["error"]["code"] == "permission_denied"
    for loc in ("L2", "L3"):
        assert op.get(f"/api/v1/locations/{world[loc]}").status_code == 403
        assert op.get("/api/v1/machines", params={"location_id": world[loc]}).status_code == 403
    for org in ("A", "B"):
        assert op.get(f"/api/v1/organizations/{world[org]}").status_code == 403
        assert op.get(f"/api/v1/organizations/{world[org]}/members").status_code == 403
        assert op.get(f"/api/v1/organizations/{world[org]}/keys").status_code == 403
        assert op.patch(f"/api/v1/organizations/{world[org]}", json={"name": "x"}).status_code == 403
    assert op.get("/api/v1/machines", params={"organization_id": world["B"]}).status_code == 403
    assert op.get("/api/v1/locations", params={"organization_id": world["B"]}).status_code == 403
    assert op.post("/api/v1/organizations", json={"name": "mine"}).status_code == 403
    assert op.get("/api/v1/users").status_code == 403

    # listings show exactly what the key reaches
    assert {m["name"] for m in op.get("/api/v1/machines").json()["items"]} == set(INSIDE)
    assert {
        m["name"] for m in op.get("/api/v1/machines", params={"organization_id": world["A"]}).json()["items"]
    } == set(INSIDE)
    assert {loc["name"] for loc in op.get("/api/v1/locations").json()["items"]} == {"L1", "L1a"}
    assert op.get("/api/v1/organizations").json()["items"] == []

    # nothing outside changed
    assert api.get(f"/api/v1/parts/{world['M2.part']}").json()["restart_required"] is False


def test_location_owner_changes_its_location_only(api: TestClient, world: dict[str, str]) -> None:
    owner = _key(api, world, "owner")
    assert (
        owner.put(f"/api/v1/parts/{world['M1a.part']}/config", json={"config": {"a": 1}}).status_code == 200
    )
    assert owner.post("/api/v1/machines", json={"location_id": world["L1"], "name": "new"}).status_code == 201
    assert owner.put(f"/api/v1/parts/{world['M2.part']}/config", json={"config": {"a": 1}}).status_code == 403
    assert owner.post("/api/v1/machines", json={"location_id": world["L2"], "name": "new"}).status_code == 403
    # moving a machine out to a location the key does not own is refused
    assert (
        owner.patch(f"/api/v1/machines/{world['M1']}", json={"location_id": world["L2"]}).status_code == 403
    )
    assert owner.get(f"/api/v1/organizations/{world['A']}").status_code == 403


def test_permission_check_endpoint(api: TestClient, world: dict[str, str]) -> None:
    op = _key(api, world, "operator")
    asked = ["read_robot", "control_robot", "update_robot_config", "read_robot_logs"]
    body = {"resource_type": "robot", "resource_id": world["M1"], "permissions": asked}
    assert op.post("/api/v1/permissions/check", json=body).json() == {
        "granted": ["read_robot", "control_robot", "read_robot_logs"]
    }
    body["resource_id"] = world["M2"]
    assert op.post("/api/v1/permissions/check", json=body).json() == {"granted": []}
