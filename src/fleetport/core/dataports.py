"""A machine's dataports, as the native API sees them: the time series its device client owns.

A thin layer over the telemetry resource tree (``fleetport.core.telemetry``). Every call first takes
the machine's device client as the caller (``Telemetry.as_device``): reading needs read_robot on
the machine, changing anything update_robot. A dataport is named by an alias of the device client
or by its 40-hex RID, and is one of the device client's own dataports (not a datarule, nor a
resource of a client further down). Aliases made here are unique per machine and usable as one path
segment: no ``/``, no control characters, not ``.`` or ``..``, and not 40 hex digits (a RID).

Points carry a timestamp in Unix seconds and a value of the dataport's format; the same points are
read and written through the One Platform dialect with the device client's key.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from fleetport.core.errors import Conflict, Invalid, NotFound
from fleetport.core.pages import Listing, Page, PageRequest, Text
from fleetport.core.permissions import Principal
from fleetport.core.telemetry import (
    FORMATS,
    Alias,
    NewResource,
    ResourceChanges,
    Telemetry,
    is_rid,
    now,
)
from fleetport.core.telemetry import model as ts
from fleetport.core.telemetry import values as tv
from fleetport.core.telemetry.model import Effects
from fleetport.store import Tx
from fleetport.store import series as series_store
from fleetport.store import telemetry as st

Value = float | int | str

MAX_POINTS = ts.MAX_RECORD  # points one write carries at most
MAX_READ = ts.MAX_READ  # points one read returns at most
ALIAS_MAX = ts.ALIAS_MAX
LISTING = Listing("dataports", key=(Text(optional=True), Text(is_rid)))  # sorted by (alias, rid)
SELECTIONS: tuple[str, ...] = ("all", "givenwindow", "autowindow")
ORDERS: tuple[str, ...] = ("desc", "asc")


class _Keep(Enum):
    KEEP = "keep"


KEEP = _Keep.KEEP  # an update leaves this field as it is


@dataclass(frozen=True)
class Dataport:
    rid: str
    alias: str | None  # the device client's alias for it (the first, if it has several)
    name: str
    format: str
    retention_count: int | None  # None: unlimited
    retention_seconds: int | None  # None: unlimited
    count: int
    first_timestamp: int | None
    last_timestamp: int | None
    last_value: Value | None
    created_at: datetime
    modified_at: datetime


@dataclass(frozen=True)
class Point:
    timestamp: int  # Unix seconds
    value: Value


@dataclass(frozen=True)
class PointFailure:
    index: int | None  # the point's place in the batch; None when the server cannot tell
    timestamp: int | None  # as given, or the time it was given when it had none
    reason: str


@dataclass(frozen=True)
class PointsWritten:
    written: int
    failures: list[PointFailure]


def check_alias(value: object) -> str:
    """An alias the native API can make, and name in a path segment."""
    if not isinstance(value, str) or not value:
        raise Invalid("an alias must not be empty")
    if len(value) > ALIAS_MAX:
        raise Invalid(f"an alias is at most {ALIAS_MAX} characters, got {len(value)}")
    if "/" in value or value in (".", "..") or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise Invalid("an alias may not contain '/' or control characters, nor be '.' or '..'")
    if is_rid(value):
        raise Invalid("an alias may not be 40 hexadecimal characters: that is how RIDs are written")
    return value


def _time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _listed(row: Mapping[Any, Any], summary: series_store.Summary | None) -> Dataport:
    """A dataport of a listing page, from its row and the summary of its points."""
    return Dataport(
        rid=str(row["rid"]),
        alias=row["alias"],
        name=row["name"],
        format=str(row["format"]),
        retention_count=row["retention_count"],
        retention_seconds=row["retention_seconds"],
        count=summary.count if summary is not None else 0,
        first_timestamp=summary.first if summary is not None else None,
        last_timestamp=summary.last if summary is not None else None,
        last_value=summary.newest if summary is not None else None,
        created_at=_time(row["created_at"]),
        modified_at=_time(row["modified_at"]),
    )


class Dataports:
    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    # --- finding ---------------------------------------------------------------------------

    def _locate(self, device: Principal, ref: str) -> tuple[str, Mapping[Any, Any]]:
        """The RID and stored row of the dataport ``ref`` (an alias of the device client, else a
        RID) names: one of the device client's own dataports, or NotFound."""
        with self.telemetry.store.read() as conn:
            return _locate_in(conn, device, ref)

    def _describe(self, device: Principal, rid: str, alias: str | None) -> Dataport:
        info = self.telemetry.inventory.info(device, rid)
        resource, storage = info.resource, info.storage
        last_value: Value | None = None
        if storage is not None and storage.count:
            newest = self.telemetry.points.read(device, rid, start=0, end=tv.INT64 - 1, limit=1)
            last_value = newest[0][1] if newest else None
        return Dataport(
            rid=rid,
            alias=alias,
            name=resource.name,
            format=str(resource.format),
            retention_count=resource.retention_count,
            retention_seconds=resource.retention_seconds,
            count=storage.count if storage is not None else 0,
            first_timestamp=storage.first if storage is not None else None,
            last_timestamp=storage.last if storage is not None else None,
            last_value=last_value,
            created_at=_time(resource.created_at),
            modified_at=_time(resource.modified_at),
        )

    def _aliases(self, device: Principal) -> dict[str, str]:
        """The device client's first alias of each resource it has aliases for, by RID."""
        found = self.telemetry.names.aliases(device)
        return {rid: names[0] for rid, names in found.items() if names}

    def _alias_of(self, device: Principal, rid: str, ref: str) -> str | None:
        if not is_rid(ref):
            return ref
        return self._aliases(device).get(rid)

    # --- the dataports ---------------------------------------------------------------------

    def list(self, p: Principal, machine_id: str, page: PageRequest) -> Page[Dataport]:
        """The machine's dataports, aliased ones by alias first, then the others by RID. A page
        costs the same few statements however many dataports it holds."""
        window = LISTING.open(page)
        device = self.telemetry.clients.as_device(p, machine_id, write=False)
        after = None if window.after is None else (window.after_text(0), window.after_text(1) or "")
        with self.telemetry.store.read() as conn:
            _, client = self.telemetry.tree.resource(conn, device, Alias(""), "listing")
            rows = st.dataport_page(conn, str(client["rid"]), after=after, limit=window.limit + 1)
            kept, next_cursor = LISTING.cut(rows, window, lambda r: (r["alias"], str(r["rid"])))
            found = series_store.summaries(conn, {int(r["series"]): str(r["format"]) for r in kept})
        return Page([_listed(row, found.get(int(row["series"]))) for row in kept], next_cursor)

    def create(
        self,
        p: Principal,
        machine_id: str,
        alias: str,
        format: str,
        *,
        name: str = "",
        retention_count: int | None = None,
        retention_seconds: int | None = None,
    ) -> Dataport:
        """A new dataport of the machine's device client, under a new alias (Conflict when the
        machine has that alias already). ``None`` retention: unlimited."""
        alias = check_alias(alias)
        if format not in FORMATS:
            raise Invalid(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
        device = self.telemetry.clients.as_device(p, machine_id, write=True)
        if self._alias_taken(device, alias):
            raise Conflict(f"this machine has a dataport with the alias {alias!r} already")
        spec = NewResource(
            type="dataport",
            name=name,
            format=format,
            retention_count=retention_count,
            retention_seconds=retention_seconds,
        )
        try:
            rid = self.telemetry.resources.create(device, spec, alias=alias)
        except Conflict:  # taken by another request in the meantime
            raise Conflict(f"this machine has a dataport with the alias {alias!r} already") from None
        return self._describe(device, rid, alias)

    def _alias_taken(self, device: Principal, alias: str) -> bool:
        try:
            self.telemetry.names.lookup_alias(device, alias)
        except NotFound:
            return False
        return True

    def get(self, p: Principal, machine_id: str, ref: str) -> Dataport:
        device = self.telemetry.clients.as_device(p, machine_id, write=False)
        rid, _ = self._locate(device, ref)
        return self._describe(device, rid, self._alias_of(device, rid, ref))

    def update(
        self,
        p: Principal,
        machine_id: str,
        ref: str,
        *,
        name: str | None = None,
        retention_count: int | _Keep | None = KEEP,
        retention_seconds: int | _Keep | None = KEEP,
    ) -> Dataport:
        """Changes the name or the retention (``None``: unlimited; ``KEEP``: as it is). A smaller
        retention deletes the points beyond it at once."""
        device = self.telemetry.clients.as_device(p, machine_id, write=True)
        rid, _ = self._locate(device, ref)
        changes = ResourceChanges(
            name=name,
            retention_count=None if isinstance(retention_count, _Keep) else retention_count,
            retention_seconds=None if isinstance(retention_seconds, _Keep) else retention_seconds,
            unlimited_count=retention_count is None,
            unlimited_seconds=retention_seconds is None,
        )
        self.telemetry.resources.update(device, rid, changes)
        return self._describe(device, rid, self._alias_of(device, rid, ref))

    def delete(self, p: Principal, machine_id: str, ref: str) -> None:
        """Deletes the dataport with its points and aliases."""
        device = self.telemetry.clients.as_device(p, machine_id, write=True)
        rid, _ = self._locate(device, ref)
        self.telemetry.resources.drop(device, rid)

    # --- points ----------------------------------------------------------------------------

    def write(
        self, p: Principal, machine_id: str, ref: str, points: Sequence[Mapping[str, Any]]
    ) -> PointsWritten:
        """Stores points ``{"timestamp": Unix seconds (optional: now; negative: that many seconds
        ago), "value": ...}`` in one batch of at most ``MAX_POINTS``. A malformed point refuses the
        whole batch (Invalid); points whose value does not fit the format, or whose timestamp is
        out of range, are left out and reported, the others stored."""
        batch = _batch(points)
        device = self.telemetry.clients.as_device(p, machine_id, write=True)
        rid, row = self._locate(device, ref)
        failures = self.telemetry.points.record(device, rid, batch)
        if not failures:
            return PointsWritten(len(batch), [])
        return PointsWritten(len(batch) - len(failures), _explain(row, batch, failures))

    def write_in(
        self, conn: Tx, device: Principal, ref: str, points: Sequence[Mapping[str, Any]], effects: Effects
    ) -> PointsWritten:
        """``write`` as the machine's device client (``clients.device_in``), inside a transaction
        of the caller's; hand ``effects`` to ``telemetry.points.after`` once it committed."""
        batch = _batch(points)
        rid, row = _locate_in(conn, device, ref)
        failures = self.telemetry.points.record_in(conn, device, rid, batch, effects)
        if not failures:
            return PointsWritten(len(batch), [])
        return PointsWritten(len(batch) - len(failures), _explain(row, batch, failures))

    def read(
        self,
        p: Principal,
        machine_id: str,
        ref: str,
        *,
        start: int = 0,
        end: int | None = None,
        limit: int = 100,
        order: str = "desc",
        selection: str = "all",
    ) -> builtins.list[Point]:
        """Points with ``start <= timestamp <= end`` (end: now by default), newest first unless
        ``order`` is ``asc``, at most ``limit``. ``selection`` ``givenwindow`` splits the window in
        ``limit`` equal slices and takes the newest point of each; ``autowindow`` takes ``limit``
        points spread evenly over those in the window."""
        if order not in ORDERS:
            raise Invalid("order is desc or asc")
        if selection not in SELECTIONS:
            raise Invalid(f"selection is one of {', '.join(SELECTIONS)}")
        device = self.telemetry.clients.as_device(p, machine_id, write=False)
        rid, _ = self._locate(device, ref)
        found = self.telemetry.points.read(
            device,
            rid,
            start=start,
            end=end,
            descending=order == "desc",
            limit=limit,
            selection=selection,
        )
        return [Point(ts_, value) for ts_, value in found]


def _locate_in(conn: Tx, device: Principal, ref: str) -> tuple[str, Mapping[Any, Any]]:
    client = str(device.client_rid)
    if not isinstance(ref, str) or not ref:
        raise NotFound("name a dataport by its alias or RID")
    rid = st.alias_target(conn, client, ref)
    if rid is None and is_rid(ref):
        rid = ref
    row = st.get(conn, rid) if rid is not None else None
    if rid is None or row is None or row["parent_rid"] != client:
        raise NotFound(f"this machine has no dataport {ref!r}")
    if row["type"] != "dataport":
        raise NotFound(f"{ref!r} names a {row['type']} of this machine, not a dataport")
    return rid, row


def _batch(points: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """Points as ``[timestamp, value]`` pairs for the core; Invalid on the first malformed one."""
    if not isinstance(points, Sequence) or isinstance(points, str | bytes):
        raise Invalid('points are a list of {"timestamp": ..., "value": ...} objects')
    if len(points) > MAX_POINTS:
        raise Invalid(f"one write carries at most {MAX_POINTS} points, got {len(points)}: send it in parts")
    at = now()
    batch: list[list[Any]] = []
    append = batch.append
    for index, point in enumerate(points):
        if not isinstance(point, Mapping) or "value" not in point:
            raise Invalid(f'point {index} is not an object with a "value"')
        if len(point) > 2 or (len(point) == 2 and "timestamp" not in point):
            extra = sorted(str(k) for k in point if k not in ("timestamp", "value"))
            raise Invalid(f"point {index} has unknown fields: {', '.join(extra)}")
        timestamp = point.get("timestamp")
        if timestamp is None:
            timestamp = at
        elif type(timestamp) is not int:
            raise Invalid(f"point {index}: a timestamp is an integer number of Unix seconds")
        append([timestamp, point["value"]])
    return batch


def _explain(
    row: Mapping[Any, Any], batch: Sequence[Sequence[Any]], failures: Sequence[ts.RecordFailure]
) -> list[PointFailure]:
    """The points the core left out, with their place in the batch and why. The core tells only
    their timestamps; the same checks it made find them again (unless preprocess steps, which run
    before them, changed the values)."""
    fmt, at = str(row["format"]), now()
    if not (row["description"] or {}).get("preprocess"):
        found: list[PointFailure] = []
        for index, (timestamp, value) in enumerate(batch):
            try:
                tv.timestamp(timestamp, at)
                tv.coerce(fmt, value)
            except Invalid as exc:
                found.append(PointFailure(index, timestamp, exc.message))
        if len(found) == len(failures):
            return found
    return [
        PointFailure(None, f.timestamp if isinstance(f.timestamp, int) else None, f.reason) for f in failures
    ]
