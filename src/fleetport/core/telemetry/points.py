"""The points of series resources as callers see them: writes (one point, a group, a batch of
history), reads, waits for the next point, flush and retention, and the datarule clock. How new
points are stored and flow on is ``flow``; after commit they are published on the bus (topic
``points:<rid>``) and the dispatches sent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fleetport.bus import Bus
from fleetport.core.errors import Invalid
from fleetport.core.permissions import Principal
from fleetport.core.telemetry import values as tv
from fleetport.core.telemetry.dispatch import Dispatcher
from fleetport.core.telemetry.flow import Flow, enforce_retention
from fleetport.core.telemetry.model import (
    MAX_FLOW,
    MAX_READ,
    MAX_RECORD,
    POINT_CODEC,
    WAIT_DEFAULT_MS,
    WAIT_MAX_MS,
    Effects,
    RecordFailure,
    Ref,
    Value,
    int_or_none,
    now,
    topic,
)
from fleetport.core.telemetry.tree import Tree
from fleetport.core.telemetry.waits import WAIT_MAX_PENDING, PointWait
from fleetport.store import Store, Tx
from fleetport.store import series as series_store
from fleetport.store import telemetry as st


class Points:
    """Writing, reading, waiting for and retaining the points of series resources."""

    def __init__(self, store: Store, tree: Tree, bus: Bus | None, dispatcher: Dispatcher) -> None:
        self.store = store
        self.tree = tree
        self.bus = bus
        if bus is not None:
            bus.define(POINT_CODEC)
        self.dispatcher = dispatcher
        self.flow = Flow(tree)

    def write(self, p: Principal, ref: Ref, value: object) -> None:
        """Stores one point at the current time."""
        at = now()
        effects = Effects()
        with self.store.write() as conn:
            row = self.tree.series(conn, p, ref, "write")
            self._require_dataport(row)
            (row,) = self.flow.lock(conn, [row])
            self.flow.ingest(conn, row, [[at, value]], at, effects, strict=True)
        self.after(effects)

    def writegroup(self, p: Principal, entries: Sequence[tuple[Ref, object]]) -> None:
        """Stores one point in each of several dataports, all with the same timestamp; all or none."""
        at = now()
        effects = Effects()
        with self.store.write() as conn:
            rows = []
            for ref, _ in entries:
                row = self.tree.series(conn, p, ref, "writegroup")
                self._require_dataport(row)
                rows.append(row)
            rows = self.flow.lock(conn, rows)
            for row, (_, value) in zip(rows, entries, strict=True):
                self.flow.ingest(conn, row, [[at, value]], at, effects, strict=True)
        self.after(effects)

    def record(
        self, p: Principal, ref: Ref, points: Sequence[object], *, all_or_none: bool = False
    ) -> list[RecordFailure]:
        """Stores historical points ``[timestamp, value]`` (a negative timestamp counts back from
        now) with one batch insert. Points that do not fit are left out and returned, unless
        ``all_or_none``: then the first one raises Invalid and nothing is stored."""
        effects = Effects()
        with self.store.write() as conn:
            failures = self.record_in(conn, p, ref, points, effects, all_or_none=all_or_none)
        self.after(effects)
        return failures

    def record_in(
        self,
        conn: Tx,
        p: Principal,
        ref: Ref,
        points: Sequence[object],
        effects: Effects,
        *,
        all_or_none: bool = False,
    ) -> list[RecordFailure]:
        """``record``'s work inside a transaction of the caller's; hand ``effects`` to ``after``
        once that transaction committed."""
        if not isinstance(points, Sequence) or isinstance(points, str):
            raise Invalid("points are a list of [timestamp, value] pairs")
        if len(points) > MAX_RECORD:
            raise Invalid(
                f"one call records at most {MAX_RECORD} points, got {len(points)}: send it in parts"
            )
        at = now()
        row = self.tree.series(conn, p, ref, "recordbatch" if not all_or_none else "record")
        self._require_dataport(row)
        (row,) = self.flow.lock(conn, [row])
        return self.flow.ingest(conn, row, points, at, effects, strict=all_or_none)

    def _require_dataport(self, row: Mapping[Any, Any]) -> None:
        if row["type"] != "dataport":
            raise Invalid(f"resource {row['rid']} is a {row['type']}: only dataports are written to")

    def after(self, effects: Effects) -> None:
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
                    self.flow.ingest(
                        conn, row, [[t, v] for t, v in outcome.outputs], at, effects, strict=False
                    )
                fired += 1
        self.after(effects)
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
            row = self.tree.series(conn, p, ref, "read")
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

    def latest(self, p: Principal, ref: Ref, since: int | None) -> tuple[int, Value] | None:
        """The newest point after ``since`` now (None: none, or ``since`` is None): what a ``wait``
        answers at once when it cannot wait."""
        since = _since(since)
        with self.store.read() as conn:
            row = self.tree.series(conn, p, ref, "wait")
            if since is None:
                return None
            return series_store.newest_after(conn, int(row["series"]), str(row["format"]), since)

    def wait(
        self, p: Principal, ref: Ref, since: int | None = None, timeout_ms: float | None = None
    ) -> PointWait:
        """A wait for the newest point after ``since`` (None: after now), checked now: it is
        answered by a point stored already, or else by the first one published after it started,
        or by None once ``timeout_ms`` milliseconds (default 30 s, at most 5 min) have passed.
        Await ``PointWait.point()`` on the event loop, then ``close()`` it."""
        arrived = now()
        since = _since(since)
        if timeout_ms is None:
            timeout_ms = WAIT_DEFAULT_MS
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int | float) or not timeout_ms >= 0:
            raise Invalid("timeout is a non-negative number of milliseconds")
        if self.bus is None:
            raise RuntimeError("waiting for points needs a bus")
        with self.store.read() as conn:
            rid = str(self.tree.series(conn, p, ref, "wait")["rid"])
        # subscribed before the stored points are read: no point slips between the two
        subscription = self.bus.subscribe(topic(rid), max_pending=WAIT_MAX_PENDING)
        try:
            found = self.latest(p, ref, since)
        except BaseException:
            subscription.close()
            raise
        earliest = arrived if since is None else since + 1
        return PointWait(subscription, found, earliest, min(timeout_ms, WAIT_MAX_MS) / 1000)

    def check_wait(self, p: Principal, ref: Ref) -> None:
        """Raises unless ``p`` may still wait on ``ref`` (a wait asks again before it answers)."""
        self.tree.resolve(p, ref, "wait")

    def flush(
        self, p: Principal, ref: Ref, *, newer_than: int | None = None, older_than: int | None = None
    ) -> int:
        """Deletes points with ``newer_than < timestamp < older_than``; None leaves a side open."""
        newer_than = int_or_none(newer_than, "newerthan")
        older_than = int_or_none(older_than, "olderthan")
        with self.store.write() as conn:
            row = self.tree.series(conn, p, ref, "flush")
            return series_store.delete_between(
                conn, row["series"], row["format"], newer_than=newer_than, older_than=older_than
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
                    deleted += enforce_retention(conn, fresh, at)
        with self.store.write() as conn:
            st.forget_usage(conn, at - 366 * 24 * 3600)
        return deleted


def _since(since: object) -> int | None:
    if since is not None and (isinstance(since, bool) or not isinstance(since, int)):
        raise Invalid("since is a timestamp or null")
    return since


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
