"""Each dialect answers every path it owns in its own shape, against a real server: unknown paths,
wrong methods and oversized bodies under ``/onep:v1`` and ``/provision`` never get the native API's
``{"error": {"code": "...", "request_id"}}``, and the native API's answers stay its own. A dialect
turned off in its settings section is not served at all."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fleetport.dialect import HttpOnly, collisions, owns
from fleetport.server import DIALECTS
from tests.conftest import RunningServer, serving

JSON = "application/json"
TEXT = "text/plain"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    with serving(request.param, tmp_path_factory.mktemp(f"dialects-{request.param}")) as server:
        yield server


@pytest.fixture
def client(running: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running.url, timeout=10) as client:
        yield client


def native_error(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(JSON)
    error = answer.json()["error"]
    assert error["code"] == code and error["request_id"] == answer.headers["x-request-id"]


def rpc_error(answer: httpx.Response, status: int) -> dict[str, object]:
    """A One Platform request-level error: the status as a number in the body, no request id."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(JSON)
    error: dict[str, object] = answer.json()["error"]
    assert set(error) == {"code", "message", "context"} and error["code"] == status, error
    return error


def provision_error(answer: httpx.Response, status: int) -> str:
    """A provisioning error: one line of text."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(TEXT)
    assert "\n" not in answer.text and not answer.text.startswith("{"), answer.text
    return answer.text


def test_unknown_one_platform_paths_answer_as_rpc_errors(client: httpx.Client) -> None:
    for method, path in (("GET", "/onep:v1/nothing"), ("POST", "/onep:v1/rpc/other"), ("GET", "/onep:v1")):
        error = rpc_error(client.request(method, path, content=b"{}"), 404)
        assert error["context"] == "path" and path in str(error["message"])


def test_a_wrong_method_on_the_rpc_path_answers_as_an_rpc_error(client: httpx.Client) -> None:
    answer = client.get("/onep:v1/rpc/process")
    error = rpc_error(answer, 405)
    assert answer.headers["allow"] == "POST" and "POST" in str(error["message"])


def test_unknown_provisioning_paths_and_methods_answer_in_text(client: httpx.Client) -> None:
    assert "/provision/nothing" in provision_error(client.get("/provision/nothing"), 404)
    assert "/provision" in provision_error(client.get("/provision"), 404)
    wrong = client.put("/provision/register", content=b"")
    assert "PUT" in provision_error(wrong, 405) and wrong.headers["allow"] == "GET, POST"


def test_oversized_bodies_under_one_platform_paths_are_refused_in_its_shape(client: httpx.Client) -> None:
    big = b"x" * ((1 << 20) + 1)  # over the general limit, which other /onep:v1 paths have
    error = rpc_error(client.post("/onep:v1/rpc/other", content=big), 413)
    assert "limit" in str(error["message"])
    assert "limit" in provision_error(client.post("/provision/register", content=big), 413)


def test_native_paths_keep_the_native_shape(client: httpx.Client) -> None:
    native_error(client.get("/api/v1/nothing"), 404, "not_found")
    native_error(client.delete("/api/v1/auth/whoami"), 405, "method_not_allowed")
    native_error(client.get("/api/v1/organizations"), 401, "unauthenticated")
    native_error(client.get("/elsewhere"), 404, "not_found")  # paths no dialect owns: the server's own


def test_a_prefix_owns_its_subtree_only() -> None:
    assert owns("/onep:v1", "/onep:v1") and owns("/onep:v1", "/onep:v1/rpc/process")
    assert not owns("/onep:v1", "/onep:v1x") and not owns("/api/v1", "/api/v10/machines")
    assert owns("/", "/") and not owns("/", "/api/v1")


class Claims(HttpOnly):
    """A dialect that only names its paths."""

    def __init__(self, name: str, *paths: str) -> None:
        self.name, self.paths = name, paths


def test_no_two_dialects_share_a_path() -> None:
    assert collisions(DIALECTS) == []
    coming = [
        Claims("scout", "/api/v0", "/"),
        Claims("amigocloud", "/amigocloud"),
    ]
    assert collisions([*DIALECTS, *coming]) == []
    clash = collisions([*DIALECTS, Claims("amigocloud", "/api/v1/me")])
    assert clash == ["native /api/v1 and amigocloud /api/v1/me"]


def _listening(port: int) -> bool:
    with contextlib.closing(socket.socket()) as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_dialects_turned_off_are_not_served(tmp_path: Path, database: str) -> None:
    off = {"FLEETPORT_ONEP__ENABLED": "false", "FLEETPORT_VIAM__ENABLED": "0"}
    with serving(database, tmp_path / "data", off) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            native_error(client.post("/onep:v1/rpc/process", json={}), 404, "not_found")
            native_error(client.get("/provision/register"), 404, "not_found")
            assert client.get("/health").status_code == 200
        assert not _listening(server.grpc_port)
        assert "gRPC" not in server.log_text()
    with serving(database, tmp_path / "on") as server:  # and served by default
        assert _listening(server.grpc_port)
        rpc_error(httpx.get(f"{server.url}/onep:v1/rpc/process", timeout=10), 405)
