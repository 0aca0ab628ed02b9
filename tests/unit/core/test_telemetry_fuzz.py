"""The One Platform RPC parser under arbitrary input (hypothesis): any body, any envelope, any
calls with any arguments get a request-level error object or one reply per answerable call with a
known status, and never an exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s

from fleetport.core.fleet import Fleet
from fleetport.core.permissions import Principal
from fleetport.dialects.onep import rpc

STATUSES = {"ok", "invalid", "restricted", "noauth", "expire", "error", "fail", "badarg"}
CONTEXTS = {"arguments", "auth", "calls", "procedure"}

scalars = (
    s.none()
    | s.booleans()
    | s.integers(-(2**70), 2**70)
    | s.floats(allow_nan=False, allow_infinity=False)
    | s.text(max_size=20)
)
json_values = s.recursive(
    scalars,
    lambda inner: s.lists(inner, max_size=4) | s.dictionaries(s.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _check_reply(answer: Any) -> None:
    if isinstance(answer, dict):
        error = answer["error"]
        assert isinstance(error["code"], int) and isinstance(error["message"], str)
        assert error["context"] in CONTEXTS
        return
    assert isinstance(answer, list)
    for reply in answer:
        assert set(reply) <= {"id", "status", "result", "error"}
        status = reply["status"]
        assert status in STATUSES or isinstance(status, list), reply
        if status == "fail":
            assert reply["error"]["code"] in (400, 501), reply  # 500 would be a fault of the server
    json.dumps(answer)  # the reply is JSON


@pytest.fixture
def cik(fleet: Fleet, admin: Principal) -> str:
    org = fleet.organizations.create(admin, "Fuzz")
    key = fleet.telemetry.clients.root_client(admin, org.id)
    assert key.cik is not None
    return key.cik


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=s.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_body(fleet: Fleet, body: bytes) -> None:
    _check_reply(rpc.process(fleet, body))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    calls=s.lists(
        s.fixed_dictionaries(
            {
                "id": s.integers(0, 100) | s.text(max_size=45) | s.none(),
                "procedure": s.sampled_from(sorted(rpc.PROCEDURES)) | s.text(max_size=10),
                "arguments": s.lists(
                    json_values
                    | s.just({"alias": ""})
                    | s.just({"alias": "x"})
                    | s.just("ffffffffffffffffffffffffffffffffffffffff"),
                    max_size=4,
                ),
            }
        ),
        max_size=5,
    )
)
def test_any_calls(fleet: Fleet, cik: str, calls: list[dict[str, Any]]) -> None:
    body = json.dumps({"auth": {"cik": cik}, "calls": calls}).encode()
    answer = rpc.process(fleet, body)
    _check_reply(answer)
    answered = [
        c for c in calls if isinstance(c["id"], int) or (isinstance(c["id"], str) and len(c["id"]) <= 40)
    ]
    if any(c["id"] is not None and c not in answered for c in calls):  # an id that cannot be echoed
        assert answer["error"]["code"] == 400 and answer["error"]["context"] == "calls", answer
        return
    assert isinstance(answer, list), answer
    assert [r["id"] for r in answer] == [c["id"] for c in answered]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(auth=json_values)
def test_any_auth(fleet: Fleet, auth: Any) -> None:
    answer = rpc.process(fleet, json.dumps({"auth": auth, "calls": []}).encode())
    assert answer == [] or answer["error"]["context"] == "auth"


def test_a_fault_fails_its_call_only(
    fleet: Fleet, cik: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(fleet.telemetry.points, "read", broken)  # a fault injected into one procedure
    calls = [
        {"id": 1, "procedure": "lookup", "arguments": ["alias", ""]},
        {"id": 2, "procedure": "read", "arguments": [{"alias": ""}, {}]},
        {"id": 3, "procedure": "lookup", "arguments": ["alias", ""]},
    ]
    first, failed, last = rpc.process(fleet, json.dumps({"auth": {"cik": cik}, "calls": calls}).encode())
    assert first["status"] == last["status"] == "ok"
    assert failed["status"] == "fail" and failed["error"]["code"] == 500
    error_id = failed["error"]["message"].split()[2]
    assert error_id in caplog.text and "RuntimeError: a bug" in caplog.text
