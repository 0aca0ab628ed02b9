"""Datarule evaluation and preprocess steps (pure), and retention swept without writes."""

from __future__ import annotations

import pytest

from fleetport.core.credentials import ClientCik
from fleetport.core.errors import Invalid
from fleetport.core.fleet import Fleet
from fleetport.core.permissions import Principal
from fleetport.core.telemetry import NewResource, now
from fleetport.core.telemetry import values as tv


def run(rule: tv.Rule, points: list[tuple[int, float]]) -> list[tuple[int, int]]:
    state = None
    out: list[tuple[int, int]] = []
    for ts, value in points:
        outcome = tv.evaluate(rule, state, ts, value)
        state = outcome.state
        out.extend(outcome.outputs)
    return out


def test_simple_rule_reports_changes_or_every_value() -> None:
    changes = tv.parse_rule({"simple": {"comparison": "lt", "constant": 0, "repeat": False}})
    assert run(changes, [(1, 5), (2, -1), (3, -2), (4, 3)]) == [(1, 0), (2, 1), (4, 0)]
    every = tv.parse_rule({"simple": {"comparison": "lt", "constant": 0, "repeat": True}})
    assert run(every, [(1, 5), (2, -1), (3, -2)]) == [(1, 0), (2, 1), (3, 1)]


def test_count_rule_counts_within_its_window() -> None:
    rule = tv.parse_rule({"count": {"comparison": "eq", "constant": 1, "count": 2, "timeout": 10}})
    assert run(rule, [(0, 1), (20, 1), (25, 0), (29, 1)]) == [(0, 0), (29, 1)]


def test_interval_and_timeout_rules_fire_on_the_clock() -> None:
    interval = tv.parse_rule({"interval": {"comparison": "gt", "constant": 50, "timeout": 30}})
    outcome = tv.evaluate(interval, None, 100, 60)
    assert outcome.outputs == [(100, 0)] and outcome.deadline == 130
    fired = tv.due(interval, outcome.state, 130)
    assert fired.outputs == [(130, 1)] and fired.deadline is None
    broken = tv.evaluate(interval, outcome.state, 120, 10)
    assert broken.deadline is None and tv.due(interval, broken.state, 130).outputs == []
    quiet = tv.parse_rule({"timeout": {"timeout": 5, "repeat": True}})
    first = tv.evaluate(quiet, None, 10, 1)
    assert first.outputs == [(10, 0)] and first.deadline == 15
    again = tv.due(quiet, first.state, 15)
    assert again.outputs == [(15, 1)] and again.deadline == 20


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"simple": {}},
        {"simple": {"comparison": "gt"}},
        {"count": {"comparison": "gt", "constant": 1, "count": 0, "timeout": 1}},
        {"interval": {"comparison": "gt", "constant": 1, "timeout": -1}},
        {"simple": {"comparison": "gt", "constant": 1, "repeat": "yes"}},
        {"simple": 1, "timeout": 2},
    ],
)
def test_bad_rules_are_invalid(spec: object) -> None:
    with pytest.raises(Invalid):
        tv.parse_rule(spec)


def test_script_rules_are_refused_clearly() -> None:
    with pytest.raises(tv.ScriptRule, match="not supported"):
        tv.parse_rule({"script": "return 1"})


def test_preprocess_steps() -> None:
    steps = tv.check_preprocess([["sub", 32], ["mul", 5], ["div", 9]])
    assert tv.apply_preprocess(steps, 212, lambda o: o) == pytest.approx(100)
    assert tv.apply_preprocess([["gt", 3]], 5, lambda o: o) == 1
    assert tv.apply_preprocess([["value", "on"]], 5, lambda o: o) == "on"
    with pytest.raises(Invalid):
        tv.apply_preprocess([["div", 0]], 5, lambda o: o)
    with pytest.raises(Invalid):
        tv.apply_preprocess([["add", 1]], "text", lambda o: o)
    for bad in ("x", [["pow", 2]], [["add"]], [["add", True]], [["add", None]]):
        with pytest.raises(Invalid):
            tv.check_preprocess(bad)


def test_sweep_enforces_retention_without_writes(fleet: Fleet, admin: Principal) -> None:
    org = fleet.organizations.create(admin, "Sweep")
    key = fleet.telemetry.clients.root_client(admin, org.id)
    assert key.cik is not None
    root = fleet.identity.authenticate(ClientCik(key.cik))
    t = fleet.telemetry
    port = t.resources.create(root, NewResource(type="dataport", format="integer", retention_seconds=3600))
    at = now()
    assert t.points.record(root, port, [[at - 3000, 1], [at - 10, 2]]) == []
    assert len(t.points.read(root, port, limit=10)) == 2
    assert t.points.sweep(at + 1000) == 1  # the older point is past an hour then
    assert [v for _, v in t.points.read(root, port, limit=10)] == [2]
    assert t.points.sweep(at + 1000) == 0
