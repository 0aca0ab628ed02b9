"""The native REST API through the ASGI app, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conformance.native.helpers import error, ok


@pytest.fixture
def fleet_ids(api: TestClient) -> dict[str, str]:
    org = ok(api.post("/api/v1/organizations", json={"name": "Acme"}), 201)
    loc = ok(api.post("/api/v1/locations", json={"organization_id": org["id"], "name": "Lab"}), 201)
    machine = ok(api.post("/api/v1/machines", json={"location_id": loc["id"], "name": "rover"}), 201)
    (part,) = ok(api.get(f"/api/v1/machines/{machine['id']}/parts"))["items"]
    return {"org": org["id"], "location": loc["id"], "machine": machine["id"], "part": part["id"]}


def test_health_and_docs_need_no_credentials(api: TestClient) -> None:
    anonymous = TestClient(api.app)
    assert ok(anonymous.get("/health"))["status"] == "ok"
    spec = ok(anonymous.get("/openapi.json"))
    assert "/api/v1/machines/{machine_id}" in spec["paths"]
    assert anonymous.get("/docs").status_code == 200
    error(anonymous.get("/api/v1/organizations"), 401, "unauthenticated")
    error(
        anonymous.get("/api/v1/organizations", headers={"Authorization": "Bearer nope"}),
        401,
        "unauthenticated",
    )


def test_request_id_is_echoed(api: TestClient) -> None:
    assert api.get("/health", headers={"X-Request-ID": "abc123"}).headers["x-request-id"] == "abc123"
    assert len(api.get("/health").headers["x-request-id"]) == 32


def test_part_config_round_trip(api: TestClient, fleet_ids: dict[str, str]) -> None:
    part = fleet_ids["part"]
    for version in (1, 2):
        updated = ok(api.put(f"/api/v1/parts/{part}/config", json={"config": {"version": version}}))
        assert updated["config"] == {"version": version}
    assert ok(api.get(f"/api/v1/parts/{part}/config")) == {"part_id": part, "config": {"version": 2}}
    history = ok(api.get(f"/api/v1/parts/{part}/config/history"))
    assert [h["previous_config"] for h in history["items"]] == [{"version": 1}, {}]
    assert history["next_cursor"] is None


def test_pagination_over_http(api: TestClient, fleet_ids: dict[str, str]) -> None:
    for i in range(4):
        ok(api.post("/api/v1/machines", json={"location_id": fleet_ids["location"], "name": f"m{i}"}), 201)
    names, cursor = [], None
    while True:
        page = ok(api.get("/api/v1/machines", params={"limit": 2, **({"cursor": cursor} if cursor else {})}))
        assert len(page["items"]) <= 2
        names += [m["name"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == ["rover", "m0", "m1", "m2", "m3"]
    message = error(api.get("/api/v1/machines", params={"limit": 501}), 422, "invalid_argument")
    assert "500" in message
    error(api.get("/api/v1/machines", params={"limit": 0}), 422, "invalid_argument")
    error(api.get("/api/v1/machines", params={"cursor": "bogus"}), 422, "invalid_argument")


def test_a_machines_parts_are_a_page_like_every_listing(api: TestClient, fleet_ids: dict[str, str]) -> None:
    machine = fleet_ids["machine"]
    for name in ("arm", "base", "camera"):
        ok(api.post(f"/api/v1/machines/{machine}/parts", json={"name": name}), 201)
    first = ok(api.get(f"/api/v1/machines/{machine}/parts", params={"limit": 3}))
    assert set(first) == set(ok(api.get("/api/v1/machines"))) == {"items", "next_cursor"}
    assert [p["name"] for p in first["items"]] == ["rover-main", "arm", "base"]
    assert first["items"][0]["main_part"] is True and first["next_cursor"]
    parts = f"/api/v1/machines/{machine}/parts"
    rest = ok(api.get(parts, params={"limit": 3, "cursor": first["next_cursor"]}))
    assert [p["name"] for p in rest["items"]] == ["camera"] and rest["next_cursor"] is None
    whole = ok(api.get(f"/api/v1/machines/{machine}/parts"))
    assert len(whole["items"]) == 4 and whole["next_cursor"] is None
    error(api.get(f"/api/v1/machines/{machine}/parts", params={"cursor": "bogus"}), 422, "invalid_argument")
    error(api.get(f"/api/v1/machines/{machine}/parts", params={"limit": 0}), 422, "invalid_argument")
    error(api.get("/api/v1/machines/00000000-0000-7000-8000-000000000000/parts"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/organizations", {"name": 5}),
        ("post", "/api/v1/organizations", {"name": ""}),
        ("post", "/api/v1/organizations", {"name": "x" * 201}),
        ("post", "/api/v1/organizations", {"name": "ok", "unexpected": True}),
        ("post", "/api/v1/organizations", {"name": "ok", "metadata": [1, 2]}),
        ("post", "/api/v1/organizations", ["name"]),
        ("post", "/api/v1/machines", {"name": "no location"}),
        ("put", "/api/v1/parts/{part}/config", {"config": "not an object"}),
        ("put", "/api/v1/parts/{part}/config", {"config": {"big": -9223372036854775809}}),
        ("put", "/api/v1/parts/{part}/config", {"config": {"nested": [{"x": 2**64}]}}),
        ("patch", "/api/v1/machines/{machine}", {"metadata": {"n": 10**30}}),
        ("post", "/api/v1/organizations/{org}/keys", {"name": "k", "authorizations": []}),
        (
            "post",
            "/api/v1/organizations/{org}/keys",
            {
                "name": "k",
                "authorizations": [{"role": "emperor", "resource_type": "organization", "resource_id": "x"}],
            },
        ),
    ],
)
def test_wrong_types_are_422(
    api: TestClient, fleet_ids: dict[str, str], method: str, path: str, body: Any
) -> None:
    path = path.format(part=fleet_ids["part"], org=fleet_ids["org"], machine=fleet_ids["machine"])
    error(getattr(api, method)(path, json=body), 422, "invalid_argument")


def test_non_finite_numbers_are_refused(api: TestClient, fleet_ids: dict[str, str]) -> None:
    for raw in (b'{"config": {"x": NaN}}', b'{"config": {"x": [Infinity]}}', b'{"config": {"x": -Infinity}}'):
        response = api.put(
            f"/api/v1/parts/{fleet_ids['part']}/config",
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code in (400, 422), response.text
    assert api.get(f"/api/v1/parts/{fleet_ids['part']}/config").json()["config"] == {}


def test_malformed_json_is_400(api: TestClient) -> None:
    for raw in (b"{", b"not json", b'{"name": "a",}', b"\xff\xfe"):
        response = api.post(
            "/api/v1/organizations", content=raw, headers={"Content-Type": "application/json"}
        )
        error(response, 400, "malformed_body")


def test_unknown_ids_are_404(api: TestClient) -> None:
    missing = "01a1fb47-ff20-7964-9ad3-6a224f4b1444"
    for path in (
        "/api/v1/organizations/{id}",
        "/api/v1/locations/{id}",
        "/api/v1/machines/{id}",
        "/api/v1/parts/{id}",
        "/api/v1/parts/{id}/config",
        "/api/v1/keys/{id}",
        "/api/v1/users/{id}",
    ):
        for id_ in (missing, "not-a-uuid", "%20"):
            error(api.get(path.format(id=id_)), 404, "not_found")
    error(api.get("/api/v1/no-such-route"), 404, "not_found")
    error(api.delete("/api/v1/organizations"), 405, "method_not_allowed")


def test_duplicates_are_409(api: TestClient, fleet_ids: dict[str, str]) -> None:
    ok(api.patch(f"/api/v1/organizations/{fleet_ids['org']}", json={"public_namespace": "acme"}))
    message = error(
        api.post("/api/v1/organizations", json={"name": "B", "public_namespace": "acme"}), 409, "conflict"
    )
    assert "acme" in message
    error(
        api.post(f"/api/v1/machines/{fleet_ids['machine']}/parts", json={"name": "rover-main"}),
        409,
        "conflict",
    )
    ok(api.post("/api/v1/users", json={"email": "u@example.com", "password": "password1"}), 201)
    error(
        api.post("/api/v1/users", json={"email": "U@example.com", "password": "password1"}), 409, "conflict"
    )
    error(api.delete(f"/api/v1/parts/{fleet_ids['part']}"), 409, "failed_precondition")


def test_oversized_bodies_are_413_and_change_nothing(api: TestClient, fleet_ids: dict[str, str]) -> None:
    part = fleet_ids["part"]
    ok(api.put(f"/api/v1/parts/{part}/config", json={"config": {"keep": True}}))
    big = {"config": {"blob": "x" * (1 << 20)}}
    message = error(api.put(f"/api/v1/parts/{part}/config", json=big), 413, "payload_too_large")
    assert str(1 << 20) in message

    def chunks() -> Any:  # no Content-Length: the limit is enforced while reading
        yield b'{"config": {"blob": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'"}}'

    response = api.put(
        f"/api/v1/parts/{part}/config", content=chunks(), headers={"Content-Type": "application/json"}
    )
    error(response, 413, "payload_too_large")
    assert ok(api.get(f"/api/v1/parts/{part}/config"))["config"] == {"keep": True}


def test_login_session_and_logout(api: TestClient) -> None:
    ok(
        api.post("/api/v1/users", json={"email": "op@example.com", "name": "Op", "password": "password1"}),
        201,
    )
    anonymous = TestClient(api.app)
    error(
        anonymous.post("/api/v1/auth/login", json={"email": "op@example.com", "password": "nope"}),
        401,
        "unauthenticated",
    )
    session = ok(
        anonymous.post("/api/v1/auth/login", json={"email": "op@example.com", "password": "password1"})
    )
    headers = {"Authorization": f"Bearer {session['token']}"}
    assert ok(anonymous.get("/api/v1/users/me", headers=headers))["email"] == "op@example.com"
    org = ok(anonymous.post("/api/v1/organizations", json={"name": "Mine"}, headers=headers), 201)
    members = ok(anonymous.get(f"/api/v1/organizations/{org['id']}/members", headers=headers))["items"]
    assert [m["user"]["email"] for m in members] == ["op@example.com"]
    error(anonymous.get("/api/v1/users", headers=headers), 403, "permission_denied")
    ok(anonymous.post("/api/v1/auth/logout", headers=headers), 204)
    error(anonymous.get("/api/v1/users/me", headers=headers), 401, "unauthenticated")


def test_keys_over_http(api: TestClient, fleet_ids: dict[str, str]) -> None:
    grant = {"role": "operator", "resource_type": "location", "resource_id": fleet_ids["location"]}
    key = ok(
        api.post(
            f"/api/v1/organizations/{fleet_ids['org']}/keys", json={"name": "ci", "authorizations": [grant]}
        ),
        201,
    )
    as_key = TestClient(api.app, headers={"Authorization": f"Bearer {key['secret']}"})
    who = ok(as_key.get("/api/v1/auth/whoami"))
    assert (who["kind"], who["api_key_id"]) == ("api_key", key["id"])
    listed = ok(api.get(f"/api/v1/organizations/{fleet_ids['org']}/keys"))["items"]
    assert [(k["id"], k["secret"]) for k in listed] == [(key["id"], None)]
    rotated = ok(api.post(f"/api/v1/keys/{key['id']}/rotate"))
    error(as_key.get("/api/v1/auth/whoami"), 401, "unauthenticated")
    as_rotated = TestClient(api.app, headers={"Authorization": f"Bearer {rotated['secret']}"})
    assert ok(as_rotated.get(f"/api/v1/machines/{fleet_ids['machine']}"))["name"] == "rover"
    ok(api.delete(f"/api/v1/keys/{key['id']}"), 204)
    error(as_rotated.get(f"/api/v1/machines/{fleet_ids['machine']}"), 401, "unauthenticated")


def test_invites_and_authorizations_over_http(api: TestClient, fleet_ids: dict[str, str]) -> None:
    org = fleet_ids["org"]
    grant = {"role": "owner", "resource_type": "organization", "resource_id": org}
    invite = ok(
        api.post(
            f"/api/v1/organizations/{org}/invites",
            json={"email": "new@example.com", "authorizations": [grant]},
        ),
        201,
    )
    assert ok(api.post(f"/api/v1/organizations/{org}/invites/{invite['id']}/resend"))["sent_count"] == 2
    ok(api.post("/api/v1/users", json={"email": "new@example.com", "password": "password1"}), 201)
    anonymous = TestClient(api.app)
    token = ok(
        anonymous.post("/api/v1/auth/login", json={"email": "new@example.com", "password": "password1"})
    )
    headers = {"Authorization": f"Bearer {token['token']}"}
    accepted = ok(anonymous.post(f"/api/v1/invites/{invite['id']}/accept", headers=headers))
    assert [(a["role"], a["resource_id"]) for a in accepted] == [("owner", org)]
    auths = ok(api.get(f"/api/v1/organizations/{org}/authorizations"))["items"]
    assert any(a["id"] == accepted[0]["id"] for a in auths)
    ok(api.delete(f"/api/v1/organizations/{org}/authorizations/{accepted[0]['id']}"), 204)
    error(anonymous.get(f"/api/v1/organizations/{org}", headers=headers), 403, "permission_denied")


def test_location_sharing_and_secrets_over_http(api: TestClient, fleet_ids: dict[str, str]) -> None:
    other = ok(api.post("/api/v1/organizations", json={"name": "Partner"}), 201)
    loc = fleet_ids["location"]
    ok(api.post(f"/api/v1/locations/{loc}/shares", json={"organization_id": other["id"]}), 204)
    assert ok(api.get(f"/api/v1/locations/{loc}"))["shared_with"] == [other["id"]]
    listed = ok(api.get("/api/v1/locations", params={"organization_id": other["id"]}))["items"]
    assert [item["id"] for item in listed] == [loc]
    (initial,) = ok(api.get(f"/api/v1/locations/{loc}/secrets"))  # a new location comes with one
    secret = ok(api.post(f"/api/v1/locations/{loc}/secrets"), 201)
    assert [s["id"] for s in ok(api.get(f"/api/v1/locations/{loc}/secrets"))] == [initial["id"], secret["id"]]
    ok(api.delete(f"/api/v1/locations/{loc}/secrets/{secret['id']}"), 204)
    assert [s["id"] for s in ok(api.get(f"/api/v1/locations/{loc}/secrets"))] == [initial["id"]]
    ok(api.delete(f"/api/v1/locations/{loc}/shares/{other['id']}"), 204)
    assert ok(api.get(f"/api/v1/locations/{loc}"))["shared_with"] == []
