"""How new points enter a series: the preprocess steps, the batch insert, the retention, and the
flow on to the resources subscribed (dataports store them, datarules evaluate their rule, dispatches
send them). Runs inside the transaction of the write that brought the points."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fleetport.core.errors import Invalid, NotFound
from fleetport.core.telemetry import values as tv
from fleetport.core.telemetry.dispatch import Sending
from fleetport.core.telemetry.model import (
    DISPATCH_METHODS,
    MAX_FLOW,
    Effects,
    RecordFailure,
    Value,
    is_rid,
    ref_of,
)
from fleetport.core.telemetry.tree import Tree
from fleetport.store import Row, Tx
from fleetport.store import series as series_store
from fleetport.store import telemetry as st


def _float_columns(points: Sequence[object]) -> tuple[list[int], list[float], list[int]]:
    """The fast path of float ingest: timestamps and values of the well-formed points, and the
    indexes of the others (checked again by the general path)."""
    stamps: list[int] = []
    values: list[float] = []
    add_ts, add_value = stamps.append, values.append
    others: list[int] = []
    limit = tv.INT64
    for index, point in enumerate(points):
        if type(point) is list and len(point) == 2:
            ts, value = point
            if type(ts) is int and 0 <= ts < limit:
                kind = type(value)
                if kind is float:
                    if value - value == 0.0:  # finite
                        add_ts(ts)
                        add_value(value)
                        continue
                elif kind is int and -limit <= value < limit:
                    add_ts(ts)
                    add_value(float(value))
                    continue
        others.append(index)
    return stamps, values, others


class Flow:
    """Stores points in series resources and carries them on to their subscribers, inside the
    caller's transaction; what is to happen after commit is gathered in ``Effects``."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree

    def lock(self, conn: Tx, rows: Sequence[Row]) -> list[Row]:
        """Locks series resources and every resource their points flow on to, all at once in RID
        order (``store.locks``), before a transaction writes points; the rows as they are once
        locked."""
        fresh = st.lock_flow(conn, rows, MAX_FLOW)
        for row in rows:
            if str(row["rid"]) not in fresh:
                raise NotFound(f"resource {row['rid']} was dropped meanwhile")
        return [fresh[str(row["rid"])] for row in rows]

    def ingest(
        self,
        conn: Tx,
        row: Mapping[Any, Any],
        points: Sequence[object],
        at: int,
        effects: Effects,
        *,
        strict: bool,
        depth: int = 0,
    ) -> list[RecordFailure]:
        """Stores points in a series resource (after its preprocess steps) and lets them flow on to
        its subscribers. Returns the points left out (``strict``: raises on the first)."""
        series, fmt = int(row["series"]), str(row["format"])
        steps = (row["description"] or {}).get("preprocess") or []
        failures: list[RecordFailure] = []
        if fmt == "float" and not steps:
            stamps, values, others = _float_columns(points)
        else:
            stamps, values, others = [], [], list(range(len(points)))
        if others:
            checked: list[tuple[int, Value]] = list(zip(stamps, values, strict=True))
            for index in others:
                point = points[index]
                if not isinstance(point, Sequence) or isinstance(point, str) or len(point) != 2:
                    if strict:
                        raise Invalid("each point is a [timestamp, value] pair")
                    failures.append(RecordFailure(point, "invalid"))
                    continue
                try:
                    ts = tv.timestamp(point[0], at)
                    value = point[1]
                    if steps:
                        value = tv.apply_preprocess(steps, value, lambda o: self._operand(conn, row, o))
                    value = tv.coerce(fmt, value)
                except Invalid:
                    if strict:
                        raise
                    failures.append(RecordFailure(point[0], "invalid"))
                    continue
                checked.append((ts, value))
            if not checked:
                return failures
            stored = sorted(checked, key=lambda p: p[0]) if len(checked) > len(stamps) else checked
            series_store.append(conn, series, fmt, stored)
        elif stamps:
            series_store.append_columns(conn, series, fmt, stamps, values)
            stored = None
        else:
            return failures
        enforce_retention(conn, row, at)
        if stored is not None:
            effects.published[str(row["rid"])] = max(reversed(stored), key=lambda p: p[0])
        else:  # the newest point (the last to arrive among the newest), without a list of pairs
            newest = max(stamps)
            last = len(stamps) - 1 - stamps[::-1].index(newest)
            effects.published[str(row["rid"])] = (newest, values[last])
        subscribers = st.subscribed_to(conn, str(row["rid"])) if depth < MAX_FLOW else []
        if subscribers:
            incoming = stored if stored is not None else list(zip(stamps, values, strict=True))
            incoming = sorted(incoming, key=lambda p: p[0])
            for subscriber in subscribers:
                self._flow(conn, subscriber, incoming, at, effects, depth + 1)
        return failures

    def _operand(self, conn: Tx, row: Mapping[Any, Any], operand: Any) -> Any:
        """A preprocess operand: a constant, or the newest value of a resource in the owner's tree."""
        if not isinstance(operand, dict | str) or (isinstance(operand, str) and not is_rid(operand)):
            return operand
        owner = str(row["parent_rid"])
        rid = self.tree.target(conn, owner, ref_of(operand))
        source = st.get(conn, rid)
        if source is None or source["series"] is None:
            raise Invalid("a preprocess operand names no resource with points")
        found = series_store.newest_after(conn, source["series"], source["format"], -1)
        if found is None:
            raise Invalid("a preprocess operand's resource has no value yet")
        return found[1]

    def _flow(
        self,
        conn: Tx,
        subscriber: Mapping[Any, Any],
        incoming: Sequence[tuple[int, Value]],
        at: int,
        effects: Effects,
        depth: int,
    ) -> None:
        """New points of a resource (in timestamp order) reach a resource subscribed to it."""
        kind = subscriber["type"]
        if kind == "dataport":
            self.ingest(
                conn,
                subscriber,
                [[ts, v] for ts, v in incoming],
                at,
                effects,
                strict=False,
                depth=depth,
            )
        elif kind == "datarule":
            self._evaluate(conn, subscriber, incoming, at, effects, depth)
        elif kind == "dispatch":
            self._dispatch(conn, subscriber, incoming, at, effects, depth)

    def _evaluate(
        self,
        conn: Tx,
        rule_row: Mapping[Any, Any],
        incoming: Sequence[tuple[int, Value]],
        at: int,
        effects: Effects,
        depth: int,
    ) -> None:
        try:
            rule = tv.parse_rule((rule_row["description"] or {}).get("rule"))
        except (Invalid, tv.ScriptRule):
            return
        state, deadline = rule_row["state"], rule_row["deadline"]
        outputs: list[list[Any]] = []
        for ts, value in incoming:
            outcome = tv.evaluate(rule, state, ts, value)
            state, deadline = outcome.state, outcome.deadline
            outputs.extend([t, v] for t, v in outcome.outputs)
        st.update_resource(conn, rule_row["rid"], {"state": state, "deadline": deadline})
        if outputs:
            self.ingest(conn, rule_row, outputs, at, effects, strict=False, depth=depth)

    def _dispatch(
        self,
        conn: Tx,
        dispatch: Mapping[Any, Any],
        incoming: Sequence[tuple[int, Value]],
        at: int,
        effects: Effects,
        depth: int,
    ) -> None:
        desc = dispatch["description"] or {}
        if (desc.get("locked") is True) or desc.get("method") not in DISPATCH_METHODS:
            return
        owner = str(dispatch["parent_rid"])
        for ts, value in incoming:
            body = str(desc.get("message") or "") or str(value)
            effects.sendings.append(
                Sending(
                    method=str(desc["method"]),
                    url=str(desc.get("recipient", "")),
                    body=body,
                    subject=str(desc.get("subject") or ""),
                    value=value,
                    timestamp=ts,
                )
            )
            st.use(conn, owner, "http", at)
        self.ingest(
            conn,
            dispatch,
            [[ts, str(value)] for ts, value in incoming],
            at,
            effects,
            strict=False,
            depth=depth,
        )


def enforce_retention(conn: Tx, row: Mapping[Any, Any], at: int) -> int:
    """Deletes the points of a series beyond its retention; how many."""
    keep, seconds = row["retention_count"], row["retention_seconds"]
    if (keep is None and seconds is None) or row.get("series") is None:
        return 0
    return series_store.trim(
        conn,
        row["series"],
        row["format"],
        keep=keep,
        older_than=None if seconds is None else at - seconds,
    )
