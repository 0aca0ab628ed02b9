"""A shared location through the native API: every action against every way access is granted
(tests/sharing_matrix.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.sharing_matrix import ACTIONS, ALLOWED, USE, WAYS, build_world, expected, make_key, snapshot

T = "2030-01-01T00:00:00Z"


def _actions(ids: dict[str, str]) -> dict[str, Callable[[TestClient], Any]]:
    la, part = ids["LA"], ids["RA.part"]
    return {
        "get location": lambda c: c.get(f"/api/v1/locations/{la}"),
        "list robots": lambda c: c.get("/api/v1/machines", params={"location_id": la}),
        "get robot": lambda c: c.get(f"/api/v1/machines/{ids['RA']}"),
        "get parts": lambda c: c.get(f"/api/v1/machines/{ids['RA']}/parts"),
        "read config": lambda c: c.get(f"/api/v1/parts/{part}/config"),
        "config history": lambda c: c.get(f"/api/v1/parts/{part}/config/history"),
        "read logs": lambda c: c.get(f"/api/v1/parts/{part}/logs"),
        "restart part": lambda c: c.post(f"/api/v1/parts/{part}/restart"),
        "get nested location": lambda c: c.get(f"/api/v1/locations/{ids['LAn']}"),
        "get nested robot": lambda c: c.get(f"/api/v1/machines/{ids['RAn']}"),
        "rename location": lambda c: c.patch(f"/api/v1/locations/{la}", json={"name": "taken"}),
        "read location secrets": lambda c: c.get(f"/api/v1/locations/{la}/secrets"),
        "create location secret": lambda c: c.post(f"/api/v1/locations/{la}/secrets"),
        "create sub-location": lambda c: c.post(
            "/api/v1/locations", json={"organization_id": ids["A"], "name": "sub", "parent_id": la}
        ),
        "create robot": lambda c: c.post("/api/v1/machines", json={"location_id": la, "name": "new"}),
        "rename robot": lambda c: c.patch(f"/api/v1/machines/{ids['RA']}", json={"name": "taken"}),
        "set config": lambda c: c.put(f"/api/v1/parts/{part}/config", json={"config": {"x": 1}}),
        "read part secrets": lambda c: c.get(f"/api/v1/parts/{part}/secrets"),
        "create part secret": lambda c: c.post(f"/api/v1/parts/{part}/secrets"),
        "write logs": lambda c: c.post(
            f"/api/v1/parts/{part}/logs", json={"entries": [{"time": T, "level": "info", "message": "hi"}]}
        ),
        "new part": lambda c: c.post(f"/api/v1/machines/{ids['RA']}/parts", json={"name": "extra"}),
        "share on": lambda c: c.post(f"/api/v1/locations/{la}/shares", json={"organization_id": ids["C"]}),
        "move location": lambda c: c.patch(f"/api/v1/locations/{la}", json={"parent_id": ids["LA2"]}),
        "move robot within": lambda c: c.patch(
            f"/api/v1/machines/{ids['RA']}", json={"location_id": ids["LA2"]}
        ),
        "move robot to guest": lambda c: c.patch(
            f"/api/v1/machines/{ids['RA']}", json={"location_id": ids["LB"]}
        ),
        "unshare": lambda c: c.delete(f"/api/v1/locations/{la}/shares/{ids['B']}"),
        "delete location": lambda c: c.delete(f"/api/v1/locations/{ids['LAe']}"),
        "delete robot": lambda c: c.delete(f"/api/v1/machines/{ids['RA']}"),
    }


def _outcome(response: Any) -> str:
    if response.is_success:
        return "allowed"
    if response.status_code == 403 and response.json()["error"]["code"] == "permission_denied":
        return "denied"
    return f"{response.status_code} {response.text}"


@pytest.mark.parametrize("way", list(WAYS))
def test_shared_location_matrix(api: TestClient, way: str) -> None:
    ids = build_world(api)
    secret, _ = make_key(api, ids, WAYS[way])
    caller = TestClient(api.app, headers={"Authorization": f"Bearer {secret}"})
    before = snapshot(api, ids)
    actions = _actions(ids)
    assert list(actions) == list(ACTIONS)
    seen = {name: _outcome(act(caller)) for name, act in actions.items()}
    assert seen == expected(way)
    if not ALLOWED[way] - set(USE):
        assert snapshot(api, ids) == before  # a way that may only use changed nothing
    # the owning organization keeps its robot wherever it is (unless it deleted it)
    if "delete robot" not in {k for k, v in seen.items() if v == "allowed"}:
        owner_secret, _ = make_key(api, ids, WAYS["A owner"])
        owner = TestClient(api.app, headers={"Authorization": f"Bearer {owner_secret}"})
        assert owner.get(f"/api/v1/machines/{ids['RA']}").json()["organization_id"] == ids["A"]
        assert owner.patch(f"/api/v1/machines/{ids['RA']}", json={"name": "still mine"}).status_code == 200


def test_guest_listings_show_what_is_shared_without_secrets(api: TestClient) -> None:
    ids = build_world(api)
    secret, _ = make_key(api, ids, WAYS["B owner"])
    guest = TestClient(api.app, headers={"Authorization": f"Bearer {secret}"})
    listed = guest.get("/api/v1/locations", params={"organization_id": ids["B"]}).json()["items"]
    assert {loc["name"] for loc in listed} == {"LA", "LAn", "LAe", "LB"}
    machines = guest.get("/api/v1/machines").json()["items"]
    assert {m["name"] for m in machines} == {"RA", "RAn", "RB"}
    # the owning organization stays hidden from the guest
    assert guest.get(f"/api/v1/organizations/{ids['A']}").status_code == 403
    asked = ["read_location", "update_location", "manage_location_secrets", "read_robot_logs"]
    check = {"resource_type": "location", "resource_id": ids["LA"], "permissions": asked}
    assert guest.post("/api/v1/permissions/check", json=check).json() == {
        "granted": ["read_location", "read_robot_logs"]
    }
    # nor can it hand out roles on what is shared with it
    grant = {"role": "owner", "resource_type": "location", "resource_id": ids["LA"]}
    minted = guest.post(
        f"/api/v1/organizations/{ids['B']}/keys", json={"name": "x", "authorizations": [grant]}
    )
    assert (minted.status_code, minted.json()["error"]["code"]) == (422, "invalid_argument"), minted.text
    # a key on the guest's own location reaches nothing shared with the guest organization
    scoped_secret, _ = make_key(api, ids, WAYS["LB owner"])
    scoped = TestClient(api.app, headers={"Authorization": f"Bearer {scoped_secret}"})
    assert {m["name"] for m in scoped.get("/api/v1/machines").json()["items"]} == {"RB"}


def test_a_guest_does_not_see_the_other_guests(api: TestClient) -> None:
    """Whom else a location is shared with is the owning organization's business: a guest sees the
    share with itself only; a role in the owning organization sees every guest."""
    ids = build_world(api)
    shared = api.post(f"/api/v1/locations/{ids['LA']}/shares", json={"organization_id": ids["C"]})
    assert shared.status_code == 204, shared.text
    for way, shown in (
        ("B owner", [ids["B"]]),
        ("B operator", [ids["B"]]),
        ("A operator", [ids["B"], ids["C"]]),
        ("LA operator", [ids["B"], ids["C"]]),
    ):
        secret, _ = make_key(api, ids, WAYS[way])
        caller = TestClient(api.app, headers={"Authorization": f"Bearer {secret}"})
        assert caller.get(f"/api/v1/locations/{ids['LA']}").json()["shared_with"] == shown, way
