"""Part logs through the native API (ASGI app, SQLite and PostgreSQL). The live tail is driven over
a real connection in tests/e2e/test_logs_e2e.py; here only its refusals, which come before any stream."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from fleetport.api.logs import _events
from fleetport.bus import Bus
from fleetport.client.errors import FleetportError
from fleetport.client.models import LogEntry as LogEntryModel
from fleetport.client.transport import EventStream
from fleetport.core.logs import LogEntry, LogTail

UNKNOWN_PART = "00000000-0000-7000-8000-000000000000"


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _error(response: Any, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return str(body["error"]["message"])


@pytest.fixture
def ids(api: TestClient) -> dict[str, str]:
    org = _ok(api.post("/api/v1/organizations", json={"name": "Acme"}), 201)
    lab = _ok(api.post("/api/v1/locations", json={"organization_id": org["id"], "name": "Lab"}), 201)
    far = _ok(api.post("/api/v1/locations", json={"organization_id": org["id"], "name": "Far"}), 201)
    machine = _ok(api.post("/api/v1/machines", json={"location_id": lab["id"], "name": "rover"}), 201)
    (part,) = _ok(api.get(f"/api/v1/machines/{machine['id']}/parts"))["items"]
    far_machine = _ok(api.post("/api/v1/machines", json={"location_id": far["id"], "name": "crane"}), 201)
    (far_part,) = _ok(api.get(f"/api/v1/machines/{far_machine['id']}/parts"))["items"]
    secret = _ok(api.post(f"/api/v1/parts/{part['id']}/secrets"), 201)["secret"]
    grant = {"role": "operator", "resource_type": "location", "resource_id": lab["id"]}
    key = _ok(
        api.post(f"/api/v1/organizations/{org['id']}/keys", json={"name": "ops", "authorizations": [grant]}),
        201,
    )
    return {
        "part": part["id"],
        "far_part": far_part["id"],
        "part_secret": secret,
        "operator_key": key["secret"],
    }


def _entry(
    message: str, level: str = "info", time: str | None = "2030-05-01T12:00:00Z", **extra: Any
) -> dict[str, Any]:
    return {"time": time, "level": level, "message": message, **extra}


def _as(api: TestClient, token: str) -> TestClient:
    return TestClient(api.app, headers={"Authorization": f"Bearer {token}"})


def test_append_then_list_pages_and_filters(api: TestClient, ids: dict[str, str]) -> None:
    part = ids["part"]
    entries = [
        _entry("booting", "INFO", "2030-05-01T14:00:00+02:00", logger_name="rdk", host="rover-1"),
        _entry("motor stalled", "warning", "2030-05-01T12:00:01", caller={"File": "m.go", "Line": 3}),
        _entry("gave up", "error", "2030-05-01T12:00:02.5Z", stack="trace", fields=[{"rpm": 0}]),
        _entry("unix time", "debug", 1_903_867_203),  # seconds since the epoch: 2030-05-01T12:00:03Z
    ]
    assert _ok(api.post(f"/api/v1/parts/{part}/logs", json={"entries": entries})) == {"count": 4}

    page = _ok(api.get(f"/api/v1/parts/{part}/logs", params={"limit": 3}))
    assert [e["message"] for e in page["items"]] == ["unix time", "gave up", "motor stalled"]
    assert page["next_cursor"]
    rest = _ok(api.get(f"/api/v1/parts/{part}/logs", params={"limit": 3, "cursor": page["next_cursor"]}))
    assert [e["message"] for e in rest["items"]] == ["booting"] and rest["next_cursor"] is None
    booting = rest["items"][0]
    assert booting == {
        "id": booting["id"],
        "part_id": part,
        "time": "2030-05-01T12:00:00Z",
        "level": "info",
        "message": "booting",
        "logger_name": "rdk",
        "host": "rover-1",
        "caller": None,
        "stack": "",
        "fields": [],
    }
    stalled, gave_up = page["items"][2], page["items"][1]
    assert (stalled["level"], stalled["time"], stalled["caller"]) == (
        "warn",
        "2030-05-01T12:00:01Z",
        {"File": "m.go", "Line": 3},
    )
    assert (gave_up["time"], gave_up["stack"], gave_up["fields"]) == (
        "2030-05-01T12:00:02.500000Z",
        "trace",
        [{"rpm": 0}],
    )
    assert page["items"][0]["time"] == "2030-05-01T12:00:03Z"

    def messages(**params: Any) -> list[str]:
        body = _ok(api.get(f"/api/v1/parts/{part}/logs", params={"order": "asc", **params}))
        assert body["next_cursor"] is None
        return [e["message"] for e in body["items"]]

    assert messages() == ["booting", "motor stalled", "gave up", "unix time"]
    assert messages(levels=["error", "WARN"]) == ["motor stalled", "gave up"]
    assert messages(filter="RDK") == ["booting"]
    assert messages(filter="motor", levels="warn") == ["motor stalled"]
    assert messages(start="2030-05-01T12:00:01Z", end="2030-05-01T12:00:03Z") == ["motor stalled", "gave up"]
    assert messages(start="2030-05-01T12:00:02.500001Z") == ["unix time"]
    assert messages(filter="nothing") == []


def test_bad_input_is_refused_and_writes_nothing(api: TestClient, ids: dict[str, str]) -> None:
    url = f"/api/v1/parts/{ids['part']}/logs"
    good = _entry("fine")
    refused: list[tuple[Any, str]] = [
        ({"entries": [good, _entry("x", "loud")]}, "entries[1].level 'loud' is not a log level"),
        ({"entries": [_entry("x", time="yesterday")]}, "entries.0.time"),
        ({"entries": [_entry("x", time=10**20)]}, "entries.0.time"),
        ({"entries": [_entry("x", colour="red")]}, "colour"),
        ({"entries": [_entry("x", fields={"a": 1})]}, "fields"),
        ({"entries": [_entry("nul \x00")]}, "NUL"),
        ({"entries": [_entry("x" * 70_000)]}, "limit is 65536"),
        ({"entries": [_entry("x", time="0001-01-01T00:00:00+05:00")]}, "out of range"),
        ({"entries": [good] * 10_001}, "at most 10000 log entries, got 10001"),
        ({"lines": []}, "entries"),
        ([good], ""),
    ]
    for body, problem in refused:
        message = _error(api.post(url, json=body), 422, "invalid_argument")
        assert problem in message
    for raw, problem in [
        (b'"message": "\\ud800"', "surrogate"),
        (b'"message": "x", "caller": {"n": Infinity}', "NaN or Infinity"),
        (b'"message": "x", "fields": [{"n": NaN}]', "NaN or Infinity"),
    ]:
        body = b'{"entries": [{"time": "2030-01-01T00:00:00Z", "level": "info", ' + raw + b"}]}"
        response = api.post(url, content=body, headers={"Content-Type": "application/json"})
        assert problem in _error(response, 422, "invalid_argument")
    _error(
        api.post(url, content=b"{nope", headers={"Content-Type": "application/json"}), 400, "malformed_body"
    )
    assert _ok(api.get(url))["items"] == []

    for params, problem in [
        ({"cursor": "zzz"}, "page token"),
        ({"order": "sideways"}, "order"),
        ({"levels": ["loud"]}, "not a log level"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "maximum page size"),
        ({"start": "soon"}, "start"),
        ({"filter": "x" * 1001}, "filter"),
        ({"levels": ["info"] * 21}, "levels"),
    ]:
        assert problem in _error(api.get(url, params=params), 422, "invalid_argument")


def test_an_entry_without_a_time_is_stamped_when_the_server_receives_it(
    api: TestClient, ids: dict[str, str]
) -> None:
    url = f"/api/v1/parts/{ids['part']}/logs"
    before = datetime.now(UTC)
    body = {"entries": [{"level": "info", "message": "left out"}, _entry("null", time=None), _entry("given")]}
    assert _ok(api.post(url, json=body)) == {"count": 3}
    after = datetime.now(UTC)
    entries = {e["message"]: e for e in _ok(api.get(url))["items"]}
    stamped = [datetime.fromisoformat(entries[m]["time"]) for m in ("left out", "null")]
    assert stamped[0] == stamped[1] and before <= stamped[0] <= after
    assert entries["given"]["time"] == _entry("given")["time"]


def test_large_batches_are_taken_up_to_their_own_body_limit(api: TestClient, ids: dict[str, str]) -> None:
    url = f"/api/v1/parts/{ids['part']}/logs"
    batch = [_entry(f"{i:05d} " + "x" * 400) for i in range(5000)]  # over 2 MB: above the general limit
    assert _ok(api.post(url, json={"entries": batch})) == {"count": 5000}
    assert _ok(api.get(url, params={"limit": 1}))["items"][0]["message"].startswith("04999 ")
    _error(
        api.post(f"/api/v1/parts/{ids['part']}/config", json={"x": "y" * (2 << 20)}), 413, "payload_too_large"
    )


def test_who_may_write_and_read(api: TestClient, ids: dict[str, str]) -> None:
    part, far = ids["part"], ids["far_part"]
    agent, operator = _as(api, ids["part_secret"]), _as(api, ids["operator_key"])
    body = {"entries": [_entry("from the agent")]}
    assert _ok(agent.post(f"/api/v1/parts/{part}/logs", json=body)) == {"count": 1}
    _error(agent.post(f"/api/v1/parts/{far}/logs", json=body), 403, "permission_denied")
    _error(agent.get(f"/api/v1/parts/{part}/logs"), 403, "permission_denied")
    assert [e["message"] for e in _ok(operator.get(f"/api/v1/parts/{part}/logs"))["items"]] == [
        "from the agent"
    ]
    _error(operator.post(f"/api/v1/parts/{part}/logs", json=body), 403, "permission_denied")
    _error(operator.get(f"/api/v1/parts/{far}/logs"), 403, "permission_denied")
    _error(operator.get(f"/api/v1/parts/{far}/logs/tail"), 403, "permission_denied")
    _error(agent.get(f"/api/v1/parts/{part}/logs/tail"), 403, "permission_denied")
    _error(api.get(f"/api/v1/parts/{UNKNOWN_PART}/logs/tail"), 404, "not_found")
    _error(api.get(f"/api/v1/parts/{UNKNOWN_PART}/logs"), 404, "not_found")
    _error(api.post(f"/api/v1/parts/{UNKNOWN_PART}/logs", json=body), 404, "not_found")
    anonymous = TestClient(api.app)
    _error(anonymous.get(f"/api/v1/parts/{part}/logs/tail"), 401, "unauthenticated")
    _error(anonymous.post(f"/api/v1/parts/{part}/logs", json=body), 401, "unauthenticated")


def test_openapi_documents_the_log_routes(api: TestClient) -> None:
    paths = _ok(api.get("/openapi.json"))["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/parts/{part_id}/logs"])
    tail = paths["/api/v1/parts/{part_id}/logs/tail"]["get"]
    assert "text/event-stream" in tail["responses"]["200"]["content"]
    assert {p["name"] for p in tail["parameters"]} >= {"part_id", "errors_only", "filter"}


def test_a_reader_too_slow_gets_an_error_event_then_the_end() -> None:
    """The SSE body of a tail: a data event per batch, and for a reader that fell too far behind an
    error event that the SDK raises."""
    entry = LogEntry(id=7, part_id="p", time=datetime(2030, 1, 1, tzinfo=UTC), level="info", message="m")

    async def scenario() -> list[bytes]:
        bus = Bus()
        tail = LogTail(bus.subscribe("t", max_pending=2))
        events = _events(tail)
        bus.publish("t", (entry,))
        chunks = [await anext(events)]
        for _ in range(3):
            bus.publish("t", (entry,))
        chunks += [chunk async for chunk in events]
        assert bus.subscribers("t") == 0
        return chunks

    data, error = asyncio.run(scenario())
    assert data.startswith(b"data: ") and data.endswith(b"\n\n")
    assert orjson.loads(data[6:]) == [
        {
            "id": 7,
            "part_id": "p",
            "time": "2030-01-01T00:00:00Z",
            "level": "info",
            "message": "m",
            "logger_name": "",
            "host": "",
            "caller": None,
            "stack": "",
            "fields": [],
        }
    ]
    assert error.startswith(b"event: error\ndata: ")
    assert orjson.loads(error.split(b"data: ", 1)[1])["error"]["code"] == "subscriber_too_slow"

    # what the SDK makes of that stream
    response = httpx.Response(200, content=b": keep-alive\n\n" + data + error)
    stream: EventStream[list[LogEntryModel]] = EventStream(response, list[LogEntryModel])
    assert [e.message for e in next(stream)] == ["m"]
    with pytest.raises(FleetportError, match="behind") as raised:
        next(stream)
    assert raised.value.code == "subscriber_too_slow"
    with pytest.raises(StopIteration):
        next(stream)
