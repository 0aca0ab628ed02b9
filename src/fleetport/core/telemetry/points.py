"""The points of series resources: writes (with preprocess steps), the flow of new points to the
resources subscribed (dataports, datarules, dispatches), the datarule clock, reads, wait, flush and
retention."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fleetport.core.errors import Invalid, NotFound
from fleetport.core.permissions import Principal
from fleetport.core.telemetry import values as tv
from fleetport.core.telemetry.dispatch import Sending
from fleetport.core.telemetry.model import (
    DISPATCH_METHODS,
    MAX_FLOW,
    MAX_READ,
    MAX_RECORD,
    Effects,
    RecordFailure,
    Ref,
    Value,
    int_or_none,
    is_rid,
    now,
    ref_of,
    topic,
)
from fleetport.core.telemetry.tree import TreeAccess
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


class Points(TreeAccess):
    """Writing, flowing, reading and retaining the points of series resources."""

    def write(self, p: Principal, ref: Ref, value: object) -> None:
        """Stores one point at the current time."""
        at = now()
        effects = Effects()
        with self.store.write() as conn:
            row = self._series(conn, p, ref, "write")
            self._require_dataport(row)
            (row,) = self._lock(conn, [row])
            self._ingest(conn, p, row, [[at, value]], at, effects, strict=True)
        self._after(effects)

    def writegroup(self, p: Principal, entries: Sequence[tuple[Ref, object]]) -> None:
        """Stores one point in each of several dataports, all with the same timestamp; all or none."""
        at = now()
        effects = Effects()
        with self.store.write() as conn:
            rows = []
            for ref, _ in entries:
                row = self._series(conn, p, ref, "writegroup")
                self._require_dataport(row)
                rows.append(row)
            rows = self._lock(conn, rows)
            for row, (_, value) in zip(rows, entries, strict=True):
                self._ingest(conn, p, row, [[at, value]], at, effects, strict=True)
        self._after(effects)

    def record(
        self, p: Principal, ref: Ref, points: Sequence[object], *, all_or_none: bool = False
    ) -> list[RecordFailure]:
        """Stores historical points ``[timestamp, value]`` (a negative timestamp counts back from
        now) with one batch insert. Points that do not fit are left out and returned, unless
        ``all_or_none``: then the first one raises Invalid and nothing is stored."""
        if not isinstance(points, Sequence) or isinstance(points, str):
            raise Invalid("points are a list of [timestamp, value] pairs")
        if len(points) > MAX_RECORD:
            raise Invalid(
                f"one call records at most {MAX_RECORD} points, got {len(points)}: send it in parts"
            )
        at = now()
        effects = Effects()
        with self.store.write() as conn:
            row = self._series(conn, p, ref, "recordbatch" if not all_or_none else "record")
            self._require_dataport(row)
            (row,) = self._lock(conn, [row])
            failures = self._ingest(conn, p, row, points, at, effects, strict=all_or_none)
        self._after(effects)
        return failures

    def _lock(self, conn: Tx, rows: Sequence[Row]) -> list[Row]:
        """Locks series resources and every resource their points flow on to, all at once in RID
        order (``store.locks``), before a transaction writes points; the rows as they are once
        locked."""
        fresh = st.lock_flow(conn, rows, MAX_FLOW)
        for row in rows:
            if str(row["rid"]) not in fresh:
                raise NotFound(f"resource {row['rid']} was dropped meanwhile")
        return [fresh[str(row["rid"])] for row in rows]

    def _require_dataport(self, row: Mapping[Any, Any]) -> None:
        if row["type"] != "dataport":
            raise Invalid(f"resource {row['rid']} is a {row['type']}: only dataports are written to")

    def _ingest(
        self,
        conn: Tx,
        p: Principal | None,
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
        self._enforce_retention(conn, row, at)
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
        rid = self._target(conn, owner, ref_of(operand))
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
            self._ingest(
                conn,
                None,
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
            self._ingest(conn, None, rule_row, outputs, at, effects, strict=False, depth=depth)

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
        self._ingest(
            conn,
            None,
            dispatch,
            [[ts, str(value)] for ts, value in incoming],
            at,
            effects,
            strict=False,
            depth=depth,
        )

    def _after(self, effects: Effects) -> None:
        """After commit: tell the waiters and send the dispatches."""
        if self.bus is not None:
            for rid, point in effects.published.items():
                if self.bus.wanted(topic(rid)):
                    self.bus.publish(topic(rid), point)
        for sending in effects.sendings:
            self.dispatcher.send(sending)

    def fire_due(self, at: int | None = None) -> int:
        """Fires the datarules whose deadline passed (timeout and interval rules); how many."""
        at = now() if at is None else at
        effects = Effects()
        fired = 0
        with self.store.write() as conn:
            due = st.due_rules(conn, at)
            locked = st.lock_flow(conn, due, MAX_FLOW)
            for rid in (str(row["rid"]) for row in due):
                row = st.get(conn, rid) if rid in locked else None  # as an earlier rule's flow left it
                if row is None or row["deadline"] is None or row["deadline"] > at:
                    continue  # dropped, or fired by another server, meanwhile
                try:
                    rule = tv.parse_rule((row["description"] or {}).get("rule"))
                except (Invalid, tv.ScriptRule):
                    st.update_resource(conn, row["rid"], {"deadline": None})
                    continue
                outcome = tv.due(rule, row["state"], int(row["deadline"]))
                st.update_resource(conn, row["rid"], {"state": outcome.state, "deadline": outcome.deadline})
                if outcome.outputs:
                    self._ingest(
                        conn, None, row, [[t, v] for t, v in outcome.outputs], at, effects, strict=False
                    )
                fired += 1
        self._after(effects)
        return fired

    def read(
        self,
        p: Principal,
        ref: Ref,
        *,
        start: int = 0,
        end: int | None = None,
        descending: bool = True,
        limit: int = 1,
        selection: str = "all",
    ) -> list[tuple[int, Value]]:
        """Points with ``start <= timestamp <= end`` (end: now by default), newest first unless
        not ``descending``, at most ``limit``. ``selection`` ``givenwindow`` splits the window into
        ``limit`` equal slices and takes the newest point of each; ``autowindow`` takes ``limit``
        points spread evenly over those in the window."""
        for what, number in (("starttime", start), ("endtime", end), ("limit", limit)):
            if number is not None and (isinstance(number, bool) or not isinstance(number, int) or number < 0):
                raise Invalid(f"{what} must be a non-negative integer")
        if limit > MAX_READ:
            raise Invalid(f"limit is at most {MAX_READ}")
        if selection not in ("all", "givenwindow", "autowindow"):
            raise Invalid("selection is all, givenwindow or autowindow")
        end_ts = min(now() if end is None else end, tv.INT64 - 1)
        start = min(start, tv.INT64 - 1)
        with self.store.read() as conn:
            row = self._series(conn, p, ref, "read")
            series, fmt = int(row["series"]), str(row["format"])
            if limit == 0 or end_ts < start:
                return []
            if selection == "all":
                return series_store.read(
                    conn, series, fmt, start=start, end=end_ts, descending=descending, limit=limit
                )
            points = series_store.read(
                conn, series, fmt, start=start, end=end_ts, descending=False, limit=None
            )
        if selection == "givenwindow":
            picked = _windows(points, start, end_ts, limit)
        else:
            picked = _spread(points, limit)
        return picked[::-1] if descending else picked

    def wait_start(self, p: Principal, ref: Ref, since: int | None) -> tuple[str, tuple[int, Value] | None]:
        """The RID a ``wait`` watches and, when a point after ``since`` exists already, the newest
        one. Subscribe to ``topic(rid)`` before calling this, so that no point slips between."""
        if since is not None and (isinstance(since, bool) or not isinstance(since, int)):
            raise Invalid("since is a timestamp or null")
        with self.store.read() as conn:
            row = self._series(conn, p, ref, "wait")
            if since is None:
                return str(row["rid"]), None
            found = series_store.newest_after(conn, int(row["series"]), str(row["format"]), since)
        return str(row["rid"]), found

    def flush(
        self, p: Principal, ref: Ref, *, newer_than: int | None = None, older_than: int | None = None
    ) -> int:
        """Deletes points with ``newer_than < timestamp < older_than``; None leaves a side open."""
        newer_than = int_or_none(newer_than, "newerthan")
        older_than = int_or_none(older_than, "olderthan")
        with self.store.write() as conn:
            row = self._series(conn, p, ref, "flush")
            return series_store.delete_between(
                conn, row["series"], row["format"], newer_than=newer_than, older_than=older_than
            )

    def _enforce_retention(self, conn: Tx, row: Mapping[Any, Any], at: int) -> int:
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

    def sweep(self, at: int | None = None) -> int:
        """Retention for every series (points age out without new writes too); how many points
        were deleted."""
        at = now() if at is None else at
        deleted = 0
        with self.store.read() as conn:
            rids = st.with_retention(conn)
        for rid in rids:  # a short transaction each: writers of other series wait for none of them
            with self.store.write() as conn:
                fresh = st.lock(conn, [rid]).get(rid)
                if fresh is not None:
                    deleted += self._enforce_retention(conn, fresh, at)
        with self.store.write() as conn:
            st.forget_usage(conn, at - 366 * 24 * 3600)
        return deleted


def _windows(
    points: Sequence[tuple[int, Value]], start: int, end: int, slices: int
) -> list[tuple[int, Value]]:
    """The newest point of each of ``slices`` equal slices of ``[start, end]`` that has one (points
    in time order)."""
    width = -(-(end - start + 1) // slices)  # seconds per slice, rounded up
    newest: dict[int, tuple[int, Value]] = {}
    for point in points:
        newest[(point[0] - start) // width] = point  # a later point of the slice replaces it
    return [newest[k] for k in sorted(newest)]


def _spread(points: Sequence[tuple[int, Value]], limit: int) -> list[tuple[int, Value]]:
    """``limit`` points spread evenly (by rank) over ``points``; all of them if no more."""
    total = len(points)
    if total <= limit:
        return list(points)
    return [points[(i * total) // limit] for i in range(limit)]
