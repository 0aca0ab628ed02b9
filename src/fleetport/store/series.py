"""Points of telemetry series, stored in blocks.

A block holds the points of one series from one write: their timestamps and values packed into two
byte strings (64-bit little-endian integers and floats, or a JSON list of strings), sorted by
timestamp (points of one timestamp keep their arrival order), with the block's count and its first
and last timestamp in columns. A batch of 10,000 points is one row, so ingest costs one insert
instead of 10,000, and reads decode a few blocks. Small writes (a ``write`` per second) are appended
to the series' newest block while it is small and they come after its last point, so blocks stay
few; anything else starts a new block.

Blocks of one series may overlap in time (historical points recorded late). Points are ordered by
(timestamp, block id, position in the block), which is arrival order within a timestamp. Deleting
points (flush, retention) deletes whole blocks and rewrites the ones cut through.

Appending to the newest block and rewriting blocks read blocks and write back what they derive
from them: each such function first locks the series' resource row (``store.locks``), so that
concurrent writers of one series queue instead of overwriting each other's blocks. A transaction
that writes several series locks their resources beforehand, in RID order; the lock taken here is
then one it holds already.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
from sqlalchemy import Connection, delete, func, insert, select, update

from fleetport.store import tables as t
from fleetport.store.locks import lock

b = t.telemetry_blocks

Value = float | int | str
Point = tuple[int, Value]
SMALL_BLOCK = 1024  # a block with fewer points takes small writes appended to it
_SWAP = sys.byteorder == "big"  # blocks are little-endian on disk
_COLUMNS = (b.c.id, b.c.first, b.c.last, b.c.count, b.c.timestamps, b.c.vals)
_OWNER = t.telemetry_resources.c.series  # the row whose lock guards a series' blocks


@dataclass
class Block:
    id: int
    first: int
    last: int
    count: int
    timestamps: bytes
    vals: bytes

    def points(self, fmt: str) -> list[Point]:
        return list(zip(_unpack_ints(self.timestamps), decode_values(fmt, self.vals), strict=True))


def _pack_ints(values: Sequence[int]) -> bytes:
    packed = array("q", values)
    if _SWAP:
        packed.byteswap()
    return packed.tobytes()


def _unpack_ints(data: bytes) -> array[int]:
    packed = array("q")
    packed.frombytes(data)
    if _SWAP:
        packed.byteswap()
    return packed


def encode_values(fmt: str, values: Sequence[Value]) -> bytes:
    if fmt == "float":
        packed = array("d", cast("Sequence[float]", values))
        if _SWAP:
            packed.byteswap()
        return packed.tobytes()
    if fmt == "integer":
        return _pack_ints(cast("Sequence[int]", values))
    return orjson.dumps(list(values))


def decode_values(fmt: str, data: bytes) -> Sequence[Value]:
    if fmt == "float":
        packed = array("d")
        packed.frombytes(data)
        if _SWAP:
            packed.byteswap()
        return packed
    if fmt == "integer":
        return _unpack_ints(data)
    return list(orjson.loads(data))


def _sorted(points: list[Point]) -> list[Point]:
    """Points in timestamp order, arrival order kept within a timestamp (a stable sort, skipped
    when they are in order already)."""
    previous = -1
    for ts, _ in points:
        if ts < previous:
            return sorted(points, key=lambda p: p[0])
        previous = ts
    return points


def append(conn: Connection, series: int, fmt: str, points: list[Point]) -> None:
    """Stores points of one series (one block, or appended to the newest small block)."""
    if not points:
        return
    points = _sorted(points)
    first, last = points[0][0], points[-1][0]
    if len(points) < SMALL_BLOCK:
        lock(conn, _OWNER, [series])
        newest = conn.execute(
            select(*_COLUMNS).where(b.c.series == series).order_by(b.c.id.desc()).limit(1)
        ).first()
        block = None if newest is None else Block(*newest)
        if block is not None and block.count + len(points) <= SMALL_BLOCK and block.last <= first:
            merged = block.points(fmt) + points
            conn.execute(
                update(b)
                .where(b.c.id == block.id)
                .values(
                    last=last,
                    count=len(merged),
                    timestamps=_pack_ints([p[0] for p in merged]),
                    vals=encode_values(fmt, [p[1] for p in merged]),
                )
            )
            return
    _insert(conn, series, fmt, points)


def append_columns(conn: Connection, series: int, fmt: str, timestamps: list[int], values: list[Any]) -> None:
    """``append`` for points given as two columns (the fast path of large float batches)."""
    if len(timestamps) < SMALL_BLOCK or any(x > y for x, y in itertools.pairwise(timestamps)):
        append(conn, series, fmt, list(zip(timestamps, values, strict=True)))
        return
    conn.execute(
        insert(b).values(
            series=series,
            first=timestamps[0],
            last=timestamps[-1],
            count=len(timestamps),
            timestamps=_pack_ints(timestamps),
            vals=encode_values(fmt, values),
        )
    )


def _insert(conn: Connection, series: int, fmt: str, points: Sequence[Point]) -> None:
    conn.execute(
        insert(b).values(
            series=series,
            first=points[0][0],
            last=points[-1][0],
            count=len(points),
            timestamps=_pack_ints([p[0] for p in points]),
            vals=encode_values(fmt, [p[1] for p in points]),
        )
    )


def _blocks(conn: Connection, series: int, start: int, end: int, *, descending: bool) -> Iterator[Block]:
    """Blocks holding points in ``[start, end]``, by last timestamp (newest first) or by first."""
    stmt = select(*_COLUMNS).where(b.c.series == series, b.c.first <= end, b.c.last >= start)
    order = (b.c.last.desc(), b.c.id.desc()) if descending else (b.c.first, b.c.id)
    stmt = stmt.order_by(*order)
    for row in conn.execute(stmt.execution_options(yield_per=2)):
        yield Block(*row)


def read(
    conn: Connection, series: int, fmt: str, *, start: int, end: int, descending: bool, limit: int | None
) -> list[Point]:
    """Points with ``start <= timestamp <= end`` in time order (newest first when ``descending``),
    at most ``limit``."""
    if limit == 0 or end < start:
        return []
    # Each point gets a key that is larger the better it ranks: (timestamp, block id, position),
    # negated when ascending. A min-heap holds the best ``limit`` seen, its top the worst of them.
    # Blocks come by their last (or first) timestamp, so once the heap is full and its worst point
    # beats the next block's bound, no later block can change the answer.
    heap: list[tuple[tuple[int, int, int], Point]] = []
    sign = 1 if descending else -1
    for block in _blocks(conn, series, start, end, descending=descending):
        if limit is not None and len(heap) >= limit:
            worst = sign * heap[0][0][0]
            if (worst > block.last) if descending else (worst < block.first):
                break
        stamps = _unpack_ints(block.timestamps)
        lo, hi = bisect.bisect_left(stamps, start), bisect.bisect_right(stamps, end)
        if limit is not None:  # within a block points are in order: only the best ``limit`` can count
            lo, hi = (max(lo, hi - limit), hi) if descending else (lo, min(hi, lo + limit))
        values = decode_values(fmt, block.vals)
        for index in range(lo, hi):
            ts = stamps[index]
            entry = ((sign * ts, sign * block.id, sign * index), (ts, values[index]))
            if limit is None or len(heap) < limit:
                heapq.heappush(heap, entry)
            elif entry[0] > heap[0][0]:
                heapq.heapreplace(heap, entry)
    heap.sort(key=lambda e: e[0], reverse=True)
    return [point for _, point in heap]


def newest_after(conn: Connection, series: int, fmt: str, since: int) -> Point | None:
    """The newest point with a timestamp after ``since``."""
    found = read(conn, series, fmt, start=since + 1, end=2**63 - 1, descending=True, limit=1)
    return found[0] if found else None


def _rewrite(
    conn: Connection, fmt: str, blocks: Iterable[Block], keep: Callable[[int, int, int], bool]
) -> int:
    """Keeps the points of the blocks for which ``keep(block_id, position, timestamp)`` holds;
    how many points went."""
    deleted = 0
    for block in blocks:
        points = block.points(fmt)
        kept = [p for i, p in enumerate(points) if keep(block.id, i, p[0])]
        deleted += len(points) - len(kept)
        if not kept:
            conn.execute(delete(b).where(b.c.id == block.id))
        elif len(kept) < len(points):
            conn.execute(
                update(b)
                .where(b.c.id == block.id)
                .values(
                    first=kept[0][0],
                    last=kept[-1][0],
                    count=len(kept),
                    timestamps=_pack_ints([p[0] for p in kept]),
                    vals=encode_values(fmt, [p[1] for p in kept]),
                )
            )
    return deleted


def delete_between(
    conn: Connection, series: int, fmt: str, *, newer_than: int | None, older_than: int | None
) -> int:
    """Deletes points with ``newer_than < timestamp < older_than`` (None: no bound on that side)."""
    lo = -1 if newer_than is None else newer_than  # timestamps are never negative
    if older_than is not None and older_than - lo <= 1:
        return 0

    lock(conn, _OWNER, [series])

    def doomed(ts: int) -> bool:
        return ts > lo and (older_than is None or ts < older_than)

    inside = [b.c.series == series, b.c.first > lo]
    overlapping = [b.c.series == series, b.c.last > lo]
    if older_than is not None:
        inside.append(b.c.last < older_than)
        overlapping.append(b.c.first < older_than)
    counted = conn.execute(select(func.coalesce(func.sum(b.c.count), 0)).where(*inside)).scalar()
    conn.execute(delete(b).where(*inside))
    blocks = [Block(*row) for row in conn.execute(select(*_COLUMNS).where(*overlapping))]
    return int(counted or 0) + _rewrite(conn, fmt, blocks, lambda _b, _i, ts: not doomed(ts))


def trim(conn: Connection, series: int, fmt: str, *, keep: int | None, older_than: int | None) -> int:
    """Retention: deletes points with a timestamp before ``older_than`` and all but the ``keep``
    newest."""
    lock(conn, _OWNER, [series])
    deleted = 0
    if older_than is not None:
        deleted += delete_between(conn, series, fmt, newer_than=None, older_than=older_than)
    if keep is not None:
        counted = select(func.coalesce(func.sum(b.c.count), 0)).where(b.c.series == series)
        total = int(conn.execute(counted).scalar() or 0)
        excess = total - keep
        if excess > 0:
            deleted += _drop_oldest(conn, series, fmt, excess)
    return deleted


def _drop_oldest(conn: Connection, series: int, fmt: str, excess: int) -> int:
    """Deletes the ``excess`` oldest points of a series."""
    # The oldest points, in order, from blocks by first timestamp: stop once ``excess`` are held
    # that all come before the next block's first timestamp.
    heap: list[tuple[tuple[int, int, int], int]] = []  # max-heap of the excess oldest, by negated key
    touched: dict[int, Block] = {}
    stmt = select(*_COLUMNS).where(b.c.series == series).order_by(b.c.first, b.c.id)
    for row in conn.execute(stmt.execution_options(yield_per=2)):
        block = Block(*row)
        if len(heap) >= excess and -heap[0][0][0] < block.first:
            break
        touched[block.id] = block
        for index, ts in enumerate(_unpack_ints(block.timestamps)):
            entry = ((-ts, -block.id, -index), block.id)
            if len(heap) < excess:
                heapq.heappush(heap, entry)
            elif entry[0] > heap[0][0]:
                heapq.heapreplace(heap, entry)
    doomed = {(-key[1], -key[2]) for key, _ in heap}
    return _rewrite(conn, fmt, touched.values(), lambda block_id, i, _ts: (block_id, i) not in doomed)


def storage(conn: Connection, series: int) -> tuple[int, int | None, int | None, int]:
    """Count, first and last timestamp, and bytes stored of a series."""
    count, first, last, size = conn.execute(
        select(
            func.coalesce(func.sum(b.c.count), 0),
            func.min(b.c.first),
            func.max(b.c.last),
            func.coalesce(func.sum(func.length(b.c.timestamps) + func.length(b.c.vals)), 0),
        ).where(b.c.series == series)
    ).one()
    return int(count), None if first is None else int(first), None if last is None else int(last), int(size)


def copy(conn: Connection, source: int, target: int) -> None:
    """Copies a series' blocks to another series (a clone with history)."""
    rows = conn.execute(
        select(b.c.first, b.c.last, b.c.count, b.c.timestamps, b.c.vals)
        .where(b.c.series == source)
        .order_by(b.c.id)
    ).all()
    for first, last, count, timestamps, vals in rows:
        conn.execute(
            insert(b).values(
                series=target, first=first, last=last, count=count, timestamps=timestamps, vals=vals
            )
        )


@dataclass(frozen=True)
class Summary:
    """What a listing shows of a series: how many points, the first and last timestamp, and the
    newest point's value (the last to arrive among the newest)."""

    count: int
    first: int
    last: int
    newest: Value


def summaries(conn: Connection, formats: dict[int, str]) -> dict[int, Summary]:
    """The summary of each series given (by its format) that holds points; two statements however
    many series."""
    if not formats:
        return {}
    wanted = list(formats)
    totals = conn.execute(
        select(b.c.series, func.sum(b.c.count), func.min(b.c.first), func.max(b.c.last))
        .where(b.c.series.in_(wanted))
        .group_by(b.c.series)
    ).all()
    newer = b.alias("newer")
    newest_last = select(func.max(newer.c.last)).where(newer.c.series == b.c.series).scalar_subquery()
    newest: dict[int, tuple[int, bytes]] = {}  # series -> (block id, values) of its newest block
    for series, block_id, vals in conn.execute(
        select(b.c.series, b.c.id, b.c.vals).where(b.c.series.in_(wanted), b.c.last == newest_last)
    ):
        if series not in newest or block_id > newest[series][0]:
            newest[series] = (int(block_id), vals)
    out: dict[int, Summary] = {}
    for series, count, first, last in totals:
        if series in newest and count:
            value = decode_values(formats[series], newest[series][1])[-1]
            out[int(series)] = Summary(int(count), int(first), int(last), value)
    return out
