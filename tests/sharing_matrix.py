"""Who may do what with a shared location: one world, the ways access can be granted, the actions
and the expected answer of each, shared by the native API's and the Viam dialect's tests.

Organization A owns location LA (shared with organization B), LA's nested location LAn with robot
RAn, an empty nested location LAe, robot RA in LA, and location LA2. B owns location LB; C is a
third organization. Each principal acts in a world of its own (the actions change it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class Http(Protocol):
    """What the world needs of an HTTP client: an httpx.Client or a starlette TestClient."""

    def get(self, url: str, **kwargs: Any) -> Any: ...
    def post(self, url: str, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class Way:
    """A way access is granted: a key of ``org`` holding ``role`` on the world's ``resource``."""

    org: str  # "A", "B" or "C"
    role: str
    resource_type: str
    resource: str  # a key of World.ids


WAYS: dict[str, Way] = {
    "A owner": Way("A", "owner", "organization", "A"),
    "A operator": Way("A", "operator", "organization", "A"),
    "LA owner": Way("A", "owner", "location", "LA"),
    "LA operator": Way("A", "operator", "location", "LA"),
    "RA owner": Way("A", "owner", "robot", "RA"),
    "RA operator": Way("A", "operator", "robot", "RA"),
    "B owner": Way("B", "owner", "organization", "B"),
    "B operator": Way("B", "operator", "organization", "B"),
    "LB owner": Way("B", "owner", "location", "LB"),  # a key scoped to the guest's own location
    "stranger": Way("C", "owner", "organization", "C"),
}

# In the order they are tried: reading and controlling, changing, then moving, unsharing, deleting.
USE = (
    "get location",
    "list robots",
    "get robot",
    "get parts",
    "read config",
    "config history",
    "read logs",
    "restart part",
    "get nested location",
    "get nested robot",
)
CHANGE = (
    "rename location",
    "read location secrets",
    "create location secret",
    "create sub-location",
    "create robot",
    "rename robot",
    "set config",
    "read part secrets",
    "create part secret",
    "write logs",
    "new part",
    "share on",
    "move location",
    "move robot within",
    "move robot to guest",
    "unshare",
    "delete location",
    "delete robot",
)
ACTIONS = USE + CHANGE

ROBOT_USE = {
    "list robots",
    "get robot",
    "get parts",
    "read config",
    "config history",
    "read logs",
    "restart part",
}
ROBOT_CHANGE = {
    "rename robot",
    "set config",
    "read part secrets",
    "create part secret",
    "write logs",
    "new part",
    "delete robot",
}
LOCATION_CHANGE = {
    "rename location",
    "read location secrets",
    "create location secret",
    "create sub-location",
    "create robot",
    "share on",
    "unshare",
    "delete location",
} | ROBOT_CHANGE

# What each way may do; every other action is refused as permission denied. Nobody moves A's
# robot into B's location; moving within A takes a role on both places (the organization's owner).
ALLOWED: dict[str, set[str]] = {
    "A owner": set(USE) | LOCATION_CHANGE | {"move location", "move robot within"},
    "A operator": set(USE),
    "LA owner": set(USE) | LOCATION_CHANGE,
    "LA operator": set(USE),
    "RA owner": ROBOT_USE | ROBOT_CHANGE,
    "RA operator": ROBOT_USE,
    "B owner": set(USE),  # a guest uses what is shared with it, whatever its role
    "B operator": set(USE),
    "LB owner": set(),
    "stranger": set(),
}


def expected(way: str) -> dict[str, str]:
    return {action: "allowed" if action in ALLOWED[way] else "denied" for action in ACTIONS}


def _made(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _items(body: Any) -> list[dict[str, Any]]:
    return body["items"] if isinstance(body, dict) else body  # type: ignore[no-any-return]


def build_world(admin: Http) -> dict[str, str]:
    """The world, made by an administrator: ids by name (orgs, locations, robots, "<robot>.part")."""
    ids: dict[str, str] = {}
    for org in ("A", "B", "C"):
        ids[org] = _made(admin.post("/api/v1/organizations", json={"name": f"org {org}"}))["id"]
    for name, org, parent in (
        ("LA", "A", None),
        ("LAn", "A", "LA"),
        ("LAe", "A", "LA"),
        ("LA2", "A", None),
        ("LB", "B", None),
    ):
        body = {"organization_id": ids[org], "name": name, **({"parent_id": ids[parent]} if parent else {})}
        ids[name] = _made(admin.post("/api/v1/locations", json=body))["id"]
    for name, loc in (("RA", "LA"), ("RAn", "LAn"), ("RB", "LB")):
        ids[name] = _made(admin.post("/api/v1/machines", json={"location_id": ids[loc], "name": name}))["id"]
        (part,) = _items(admin.get(f"/api/v1/machines/{ids[name]}/parts").json())
        ids[f"{name}.part"] = part["id"]
    response = admin.post(f"/api/v1/locations/{ids['LA']}/shares", json={"organization_id": ids["B"]})
    assert response.status_code == 204, response.text
    return ids


def make_key(admin: Http, ids: dict[str, str], way: Way) -> tuple[str, str]:
    """A key granted ``way`` in the world: (secret, id)."""
    grant = {"role": way.role, "resource_type": way.resource_type, "resource_id": ids[way.resource]}
    key = _made(
        admin.post(
            f"/api/v1/organizations/{ids[way.org]}/keys", json={"name": "matrix", "authorizations": [grant]}
        )
    )
    return key["secret"], key["id"]


def snapshot(admin: Http, ids: dict[str, str]) -> dict[str, Any]:
    """What a way without any right to change must leave as it was."""
    la = admin.get(f"/api/v1/locations/{ids['LA']}").json()
    ra = admin.get(f"/api/v1/machines/{ids['RA']}").json()
    return {
        "LA": (la["name"], la.get("parent_id"), la["shared_with"]),
        "LA secrets": len(admin.get(f"/api/v1/locations/{ids['LA']}/secrets").json()),
        "RA": (ra["name"], ra["location_id"], ra["organization_id"]),
        "RA parts": len(_items(admin.get(f"/api/v1/machines/{ids['RA']}/parts").json())),
        "RA config": admin.get(f"/api/v1/parts/{ids['RA.part']}/config").json()["config"],
        "RA secrets": len(admin.get(f"/api/v1/parts/{ids['RA.part']}/secrets").json()),
        "LAe": admin.get(f"/api/v1/locations/{ids['LAe']}").status_code,
        "LA robots": len(_items(admin.get("/api/v1/machines", params={"location_id": ids["LA"]}).json())),
        "LA children": sorted(
            loc["name"]
            for loc in _items(admin.get("/api/v1/locations", params={"organization_id": ids["A"]}).json())
            if loc.get("parent_id") == ids["LA"]
        ),
    }
