"""Blocks of points (store.series) against a plain list model: random batches (in and out of time
order, small and large), flushes and retention, and reads of every shape (hypothesis), on SQLite and
PostgreSQL."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as s

from fleetport.core.fleet import Fleet
from fleetport.store import series

SERIES = 4242
timestamps = s.integers(0, 60)
batches = s.lists(s.tuples(timestamps, s.integers(-5, 5)), min_size=1, max_size=40) | s.lists(
    s.tuples(timestamps, s.integers(-5, 5)), min_size=1100, max_size=1200
)
operations = s.lists(
    s.one_of(
        s.tuples(s.just("append"), batches),
        s.tuples(s.just("flush"), s.tuples(s.none() | timestamps, s.none() | timestamps)),
        s.tuples(s.just("trim"), s.tuples(s.none() | s.integers(0, 50), s.none() | timestamps)),
    ),
    max_size=12,
)
reads = s.lists(
    s.tuples(timestamps, timestamps, s.booleans(), s.none() | s.integers(0, 30)), min_size=1, max_size=6
)


def model_read(
    model: list[tuple[int, int]], start: int, end: int, descending: bool, limit: int | None
) -> Any:
    # stable sort keeps arrival order within a timestamp
    ordered = sorted((p for p in model if start <= p[0] <= end), key=lambda p: p[0])
    if descending:
        ordered = sorted(reversed(ordered), key=lambda p: -p[0])  # newest first, later arrival first
    return ordered if limit is None else ordered[:limit]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations, checks=reads)
def test_blocks_behave_like_a_list(fleet: Fleet, ops: list[Any], checks: list[Any]) -> None:
    model: list[tuple[int, int]] = []  # arrival order
    with fleet.store.write() as conn:
        conn.execute(series.b.delete().where(series.b.c.series == SERIES))
        for op, arg in ops:
            if op == "append":
                series.append(conn, SERIES, "integer", list(arg))
                model.extend(arg)
            elif op == "flush":
                newer, older = arg
                series.delete_between(conn, SERIES, "integer", newer_than=newer, older_than=older)
                model = [
                    p
                    for p in model
                    if not ((newer is None or p[0] > newer) and (older is None or p[0] < older))
                ]
            else:
                keep, older = arg
                series.trim(conn, SERIES, "integer", keep=keep, older_than=older)
                if older is not None:
                    model = [p for p in model if p[0] >= older]
                if keep is not None and len(model) > keep:
                    survivors = model_read(model, 0, 10**6, True, keep)
                    ids = {id(p) for p in survivors}
                    model = [p for p in model if id(p) in ids]
        for start, end, descending, limit in checks:
            got = series.read(
                conn, SERIES, "integer", start=start, end=end, descending=descending, limit=limit
            )
            assert got == model_read(model, start, end, descending, limit)
        count, first, last, _ = series.storage(conn, SERIES)
        assert count == len(model)
        assert (first, last) == (
            (min(p[0] for p in model), max(p[0] for p in model)) if model else (None, None)
        )
        newest = series.newest_after(conn, SERIES, "integer", 30)
        assert newest == (model_read(model, 31, 10**6, True, 1) or [None])[0]
        conn.execute(series.b.delete().where(series.b.c.series == SERIES))


def test_values_of_each_format_round_trip(fleet: Fleet) -> None:
    cases: dict[str, list[Any]] = {
        "float": [0.5, -1e300, 3.0],
        "integer": [2**63 - 1, -(2**63), 0],
        "string": ["", "你好", "a" * 1000],
        "binary": ["\x00\x01", "ok", "x"],
    }
    with fleet.store.write() as conn:
        for number, (fmt, values) in enumerate(cases.items()):
            points = [(10 + i, v) for i, v in enumerate(values)]
            series.append(conn, 9000 + number, fmt, points)
            got = series.read(conn, 9000 + number, fmt, start=0, end=100, descending=False, limit=None)
            assert got == points
