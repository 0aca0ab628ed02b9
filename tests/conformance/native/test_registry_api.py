"""Fragments, the registry and module files through the native REST API (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fleetport.core.fleet import Fleet
from fleetport.server import create_app
from tests.conformance.native.helpers import error, ok
from tests.conftest import ADMIN_KEY

MB = 1 << 20


@pytest.fixture
def org(api: TestClient) -> dict[str, Any]:
    return ok(api.post("/api/v1/organizations", json={"name": "Acme", "public_namespace": "acme"}), 201)


def _chunks(data: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def test_module_file_round_trip(api: TestClient, org: dict[str, Any]) -> None:
    created = ok(api.post("/api/v1/modules", json={"organization_id": org["id"], "name": "lidar"}), 201)
    assert created == {"module_id": "acme:lidar", "url": "/api/v1/modules/acme:lidar"}
    patched = api.patch(
        "/api/v1/modules/acme:lidar",
        json={"description": "LIDAR", "models": [{"api": "rdk:component:camera", "model": "acme:lidar:x"}]},
    )
    assert ok(patched) == created

    content = os.urandom(5 * MB + 123)  # well over the general body limit of 1 MiB
    path = "/api/v1/modules/acme:lidar/versions/1.0.0/files/linux/arm64"
    uploaded = ok(api.put(path, content=content, headers={"Content-Type": "application/octet-stream"}))
    assert uploaded == {
        "version": "1.0.0",
        "platform": "linux/arm64",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "url": path,
    }
    # a streamed (chunked) body of the same size for another platform
    other = os.urandom(5 * MB)
    ok(api.put("/api/v1/modules/acme:lidar/versions/1.0.0/files/any", content=_chunks(other)))

    response = api.get(path)
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(content))
    assert response.headers["content-type"] == "application/octet-stream"
    assert "lidar-1.0.0-linux-arm64" in response.headers["content-disposition"]
    assert response.content == content
    assert api.get("/api/v1/modules/acme:lidar/versions/1.0.0/files/any").content == other

    module = ok(api.get(f"/api/v1/modules/{org['id']}:lidar"))
    assert (module["id"], module["status"], module["description"]) == ("acme:lidar", "published", "LIDAR")
    assert module["models"] == [{"api": "rdk:component:camera", "model": "acme:lidar:x"}]
    (version,) = module["versions"]
    assert [(f["platform"], f["size"]) for f in version["files"]] == [
        ("any", len(other)),
        ("linux/arm64", len(content)),
    ]
    listed = ok(api.get("/api/v1/modules", params={"organization_id": org["id"]}))
    assert [m["id"] for m in listed["items"]] == ["acme:lidar"] and listed["next_cursor"] is None

    error(api.get("/api/v1/modules/acme:lidar/versions/2.0.0/files/linux/arm64"), 404, "not_found")
    error(api.get("/api/v1/modules/acme:nope/versions/1.0.0/files/any"), 404, "not_found")
    error(api.put("/api/v1/modules/acme:lidar/versions/1.0/files/any", content=b"x"), 422, "invalid_argument")
    error(
        api.put("/api/v1/modules/acme:lidar/versions/1.0.0/files/linux", content=b"x"),
        422,
        "invalid_argument",
    )
    error(api.put("/api/v1/modules/acme:nope/versions/1.0.0/files/any", content=b"x"), 404, "not_found")
    assert len(ok(api.get("/api/v1/modules/acme:lidar"))["versions"]) == 1


def test_uploads_over_the_limit_are_refused(fleet: Fleet, org: dict[str, Any]) -> None:
    small = Fleet(fleet.store, fleet.settings.model_copy(update={"max_upload_bytes": 2 * MB}))
    with TestClient(create_app(small), headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as api:
        ok(api.post("/api/v1/modules", json={"organization_id": org["id"], "name": "big"}), 201)
        path = "/api/v1/modules/acme:big/versions/1.0.0/files/linux/amd64"
        blobs_before = sorted(p.name for p in small.blobs.root.rglob("*") if p.is_file())

        message = error(api.put(path, content=os.urandom(2 * MB + 1)), 413, "payload_too_large")
        assert str(2 * MB) in message
        # without a Content-Length the server counts what arrives
        body = api.put(path, content=_chunks(os.urandom(3 * MB)))
        error(body, 413, "payload_too_large")
        assert body.json()["error"]["limit"] == 2 * MB

        module = ok(api.get("/api/v1/modules/acme:big"))
        assert (module["versions"], module["status"]) == ([], "in_development")
        assert sorted(p.name for p in small.blobs.root.rglob("*") if p.is_file()) == blobs_before

        # at the limit it is taken; other routes keep the general limit
        ok(api.put(path, content=os.urandom(2 * MB)))
        error(
            api.post(
                "/api/v1/fragments",
                json={"organization_id": org["id"], "name": "x", "config": {"a": "b" * MB}},
            ),
            413,
            "payload_too_large",
        )


def test_fragments_api(api: TestClient, org: dict[str, Any]) -> None:
    other = ok(api.post("/api/v1/organizations", json={"name": "Other"}), 201)
    body = {"organization_id": org["id"], "name": "base", "config": {"components": [{"name": "cam"}]}}
    fragment = ok(api.post("/api/v1/fragments", json=body), 201)
    assert (fragment["visibility"], fragment["public"], fragment["robot_part_count"]) == ("private", False, 0)
    public = ok(
        api.post(
            "/api/v1/fragments", json={"organization_id": other["id"], "name": "pub", "visibility": "public"}
        ),
        201,
    )
    ok(
        api.post(
            "/api/v1/fragments",
            json={"organization_id": other["id"], "name": "hidden", "visibility": "public_unlisted"},
        ),
        201,
    )

    listed = ok(api.get("/api/v1/fragments", params={"organization_id": org["id"]}))
    assert [f["name"] for f in listed["items"]] == ["base", "pub"]
    only_own = ok(api.get("/api/v1/fragments", params={"organization_id": org["id"], "show_public": "false"}))
    assert [f["name"] for f in only_own["items"]] == ["base"]
    public_only = ok(
        api.get("/api/v1/fragments", params={"organization_id": org["id"], "visibility": "public"})
    )
    assert [f["id"] for f in public_only["items"]] == [public["id"]]

    fid = fragment["id"]
    for n in range(3):
        ok(api.patch(f"/api/v1/fragments/{fid}", json={"config": {"n": n}}))
    renamed = ok(api.patch(f"/api/v1/fragments/{fid}", json={"name": "renamed", "visibility": "public"}))
    assert (renamed["name"], renamed["config"], renamed["public"]) == ("renamed", {"n": 2}, True)
    page = ok(api.get(f"/api/v1/fragments/{fid}/history", params={"limit": 3}))
    assert [h["previous_config"] for h in page["items"]] == [{"n": 2}, {"n": 1}, {"n": 0}]
    rest = ok(api.get(f"/api/v1/fragments/{fid}/history", params={"limit": 3, "cursor": page["next_cursor"]}))
    assert [h["previous_name"] for h in rest["items"]] == ["base"] and rest["next_cursor"] is None
    error(api.get(f"/api/v1/fragments/{fid}/history", params={"cursor": "junk"}), 422, "invalid_argument")

    # a part that uses the fragment keeps it from being deleted
    loc = ok(api.post("/api/v1/locations", json={"organization_id": org["id"], "name": "Lab"}), 201)
    machine = ok(api.post("/api/v1/machines", json={"location_id": loc["id"], "name": "rover"}), 201)
    (part,) = ok(api.get(f"/api/v1/machines/{machine['id']}/parts"))["items"]
    ok(api.put(f"/api/v1/parts/{part['id']}/config", json={"config": {"fragments": [fid]}}))
    assert ok(api.get(f"/api/v1/fragments/{fid}"))["robot_part_count"] == 1
    error(api.delete(f"/api/v1/fragments/{fid}"), 409, "failed_precondition")
    ok(api.put(f"/api/v1/parts/{part['id']}/config", json={"config": {}}))
    ok(api.delete(f"/api/v1/fragments/{fid}"), 204)
    error(api.get(f"/api/v1/fragments/{fid}"), 404, "not_found")

    error(api.post("/api/v1/fragments", json={**body, "visibility": "secret"}), 422, "invalid_argument")
    error(api.get("/api/v1/fragments", params={"organization_id": "nope"}), 404, "not_found")
    error(api.get("/api/v1/fragments"), 422, "invalid_argument")


def test_registry_items_api(api: TestClient, org: dict[str, Any]) -> None:
    item = ok(
        api.post(
            "/api/v1/registry/items", json={"organization_id": org["id"], "name": "det", "type": "ml_model"}
        ),
        201,
    )
    assert (item["id"], item["type"], item["visibility"]) == ("acme:det", "ml_model", "private")
    error(
        api.post(
            "/api/v1/registry/items", json={"organization_id": org["id"], "name": "det", "type": "module"}
        ),
        409,
        "conflict",
    )
    error(
        api.post(
            "/api/v1/registry/items",
            json={"organization_id": org["id"], "name": "bad name", "type": "module"},
        ),
        422,
        "invalid_argument",
    )
    error(
        api.post(
            "/api/v1/registry/items", json={"organization_id": org["id"], "name": "x", "type": "plugin"}
        ),
        422,
        "invalid_argument",
    )
    updated = ok(api.patch("/api/v1/registry/items/acme:det", json={"description": "Finds People"}))
    assert (updated["description"], updated["type"], updated["visibility"]) == (
        "Finds People",
        "ml_model",
        "private",
    )
    ok(api.post("/api/v1/modules", json={"organization_id": org["id"], "name": "driver"}), 201)
    ok(api.put("/api/v1/modules/acme:driver/versions/0.1.0/files/linux/amd64", content=b"bin"))

    def names(**params: Any) -> list[str]:
        return [i["name"] for i in ok(api.get("/api/v1/registry/items", params=params))["items"]]

    assert names() == ["det", "driver"]
    assert names(type=["module", "archive"]) == ["driver"]
    assert names(platform="linux/amd64") == ["driver"]
    assert names(status="in_development") == ["det"]
    assert names(search="people", organization_id=org["id"]) == ["det"]
    assert names(visibility="public") == []
    first = ok(api.get("/api/v1/registry/items", params={"limit": 1}))
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = ok(api.get("/api/v1/registry/items", params={"limit": 1, "cursor": first["next_cursor"]}))
    assert [i["name"] for i in second["items"]] == ["driver"] and second["next_cursor"] is None
    error(api.get("/api/v1/registry/items", params={"status": "done"}), 422, "invalid_argument")
    error(api.get("/api/v1/registry/items", params={"type": "plugin"}), 422, "invalid_argument")

    deprecated = ok(api.put("/api/v1/registry/items/acme:driver/deprecation", json={"message": "use v2"}))
    assert (deprecated["deprecated"], deprecated["deprecation_message"]) == (True, "use v2")
    assert not ok(api.delete("/api/v1/registry/items/acme:driver/deprecation"))["deprecated"]
    version = ok(
        api.put("/api/v1/registry/items/acme:driver/versions/0.1.0/deprecation", json={"message": "old"})
    )
    assert version["versions"][0]["deprecated"] is True
    restored = ok(api.delete("/api/v1/registry/items/acme:driver/versions/0.1.0/deprecation"))
    assert restored["versions"][0]["deprecated"] is False
    error(api.put("/api/v1/registry/items/acme:driver/versions/9.0.0/deprecation", json={}), 404, "not_found")

    error(api.get("/api/v1/modules/acme:det"), 404, "not_found")  # not a module
    ok(api.delete("/api/v1/registry/items/acme:det"), 204)
    error(api.get("/api/v1/registry/items/acme:det"), 404, "not_found")
    assert (
        "/api/v1/modules/{module_id}/versions/{version}/files/{platform}"
        in ok(api.get("/openapi.json"))["paths"]
    )
