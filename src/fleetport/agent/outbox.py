"""The agent's outbox: what it must deliver (log batches, dataport points), kept in a SQLite file
of its state directory until the server acknowledged it.

Each kind of message is a delivery stream with its own sequence numbers, counted up in the same
transaction that stores the message; the stream's name on the wire carries this outbox's origin
(made once with the file), so that a new state directory never reuses the numbers of an old one.
Messages leave the outbox only when the server acknowledged them (it stored them) or refused them
(they can never be stored); until then they are sent again after each reconnection, in order, and
the server stores each once. The read position of each followed file is stored in the transaction
of the batch that carries its lines, so that a restarted agent neither loses nor repeats lines.

The messages waiting may take at most ``max_bytes`` (their bodies' UTF-8 bytes; the file is
somewhat larger). When a new message would pass it, the oldest log batches go first; a log batch
that still does not fit is dropped itself, so logs never push points out; points push out the
oldest points once no log is left. What was dropped is counted (log lines, points) in the file,
for the agent to report once the server is reachable. A points message larger than the whole
buffer is refused (``BufferFull``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import uuid
from pathlib import Path

log = logging.getLogger("fleetport.agent")

KINDS = ("logs", "points")
ITEMS = {"logs": "entries", "points": "points"}  # what a message of each kind carries

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (kind TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    kind TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, seq)
);
CREATE TABLE IF NOT EXISTS positions (path TEXT PRIMARY KEY, inode INTEGER NOT NULL, offset INTEGER NOT NULL);
"""

Position = tuple[str, int, int]  # a followed file's path, inode and the offset read up to


class BufferFull(Exception):
    """A message larger than the whole buffer: it can never be kept."""


class Outbox:
    def __init__(self, path: Path, max_bytes: int | None = None) -> None:
        self.max_bytes = max_bytes  # None: no cap
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('origin', ?)", (uuid.uuid4().hex,))
            (origin,) = self._db.execute("SELECT value FROM meta WHERE key = 'origin'").fetchone()
            self._sizes = {kind: self._bytes("kind = ?", kind) for kind in KINDS}
        self.origin = str(origin)

    @property
    def size(self) -> int:
        """The bytes of the messages waiting."""
        return sum(self._sizes.values())

    def stream(self, kind: str) -> str:
        """The name of a kind's delivery stream on the wire."""
        return f"{kind}/{self.origin}"

    def kind_of(self, stream: str) -> str | None:
        kind, _, origin = stream.partition("/")
        return kind if origin == self.origin and kind in KINDS else None

    def add(self, kind: str, body: str, positions: list[Position] | None = None) -> int | None:
        """Stores a message (a JSON object's text) and the file positions it reads up to; its
        sequence number, or None when it was dropped for want of room (a log batch)."""
        size = len(body.encode())
        if kind == "points" and self.max_bytes is not None and size > self.max_bytes:
            raise BufferFull(
                f"the write takes {size} bytes and the agent's buffer holds at most {self.max_bytes}"
            )
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seq = None
                if self._make_room(kind, size):
                    row = self._db.execute("SELECT last FROM counters WHERE kind = ?", (kind,)).fetchone()
                    seq = (row[0] if row else 0) + 1
                    self._db.execute("INSERT OR REPLACE INTO counters VALUES (?, ?)", (kind, seq))
                    self._db.execute("INSERT INTO outbox VALUES (?, ?, ?)", (kind, seq, body))
                else:
                    self._count_dropped(kind, [body])
                for path, inode, offset in positions or ():
                    self._db.execute(
                        "INSERT OR REPLACE INTO positions VALUES (?, ?, ?)", (path, inode, offset)
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._sizes = {k: self._bytes("kind = ?", k) for k in KINDS}
                raise
            if seq is not None:
                self._sizes[kind] += size
        return seq

    def _make_room(self, kind: str, size: int) -> bool:
        """Drops the oldest messages (logs first; points only for points) until ``size`` more
        bytes fit; whether they do. Inside the caller's transaction."""
        if self.max_bytes is None or self.size + size <= self.max_bytes:
            return True
        victims = ("logs", "points") if kind == "points" else ("logs",)
        if self.size + size - sum(self._sizes[v] for v in victims) > self.max_bytes:
            return False  # (a log batch that would not fit even alone beside the points)
        for victim in victims:
            need = self.size + size - self.max_bytes
            if need > 0:
                self._drop_oldest(victim, need)
        return True

    def _drop_oldest(self, kind: str, need: int) -> None:
        freed, last, bodies = 0, 0, []
        while freed < need:
            rows = self._db.execute(
                "SELECT seq, body, length(CAST(body AS BLOB)) FROM outbox WHERE kind = ? AND seq > ? "
                "ORDER BY seq LIMIT 16",
                (kind, last),
            ).fetchall()
            if not rows:
                break
            for seq, body, size in rows:
                freed, last = freed + int(size), int(seq)
                bodies.append(str(body))
                if freed >= need:
                    break
        if not bodies:
            return
        self._db.execute("DELETE FROM outbox WHERE kind = ? AND seq <= ?", (kind, last))
        self._sizes[kind] -= freed
        self._count_dropped(kind, bodies)

    def _count_dropped(self, kind: str, bodies: list[str]) -> None:
        items = 0
        for body in bodies:
            try:
                carried = json.loads(body).get(ITEMS[kind])
            except (ValueError, AttributeError):
                carried = None
            items += len(carried) if isinstance(carried, list) else 0
        key = f"dropped:{kind}"
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        before = int(row[0]) if row else 0
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(before + items)))
        if before == 0 and items:
            what = "log lines" if kind == "logs" else "points"
            log.warning(
                "the agent's buffer is full (%d bytes): dropping %s, oldest first; the count "
                "reaches the part's logs once the server is reachable",
                self.max_bytes or 0,
                what,
            )

    def dropped(self) -> dict[str, int]:
        """How many log lines and points were dropped since the last ``take_dropped``."""
        with self._lock:
            return self._dropped()

    def _dropped(self) -> dict[str, int]:
        counts = dict.fromkeys(KINDS, 0)
        for key, value in self._db.execute("SELECT key, value FROM meta WHERE key LIKE 'dropped:%'"):
            kind = str(key).partition(":")[2]
            if kind in counts:
                counts[kind] = int(value)
        return counts

    def take_dropped(self) -> dict[str, int]:
        """How many log lines and points were dropped, counting from zero again."""
        with self._lock:
            counts = self._dropped()
            self._db.execute("DELETE FROM meta WHERE key LIKE 'dropped:%'")
        return counts

    def _bytes(self, where: str, *args: object) -> int:
        (n,) = self._db.execute(
            f"SELECT coalesce(sum(length(CAST(body AS BLOB))), 0) FROM outbox WHERE {where}", args
        ).fetchone()
        return int(n)

    def save_positions(self, positions: list[Position]) -> None:
        """Positions of followed files read up to without a line to carry (a first look)."""
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO positions VALUES (?, ?, ?)", positions)

    def pending(self, kind: str, after: int, limit: int) -> list[tuple[int, str]]:
        """Messages of a kind past ``after``, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, body FROM outbox WHERE kind = ? AND seq > ? ORDER BY seq LIMIT ?",
                (kind, after, limit),
            ).fetchall()
        return [(int(seq), str(body)) for seq, body in rows]

    def acknowledged(self, kind: str, seq: int) -> None:
        """The server stored every message of the kind up to ``seq``."""
        self._remove(kind, "kind = ? AND seq <= ?", kind, seq)

    def refused(self, kind: str, seq: int) -> None:
        """The server can never store this message: it goes."""
        self._remove(kind, "kind = ? AND seq = ?", kind, seq)

    def _remove(self, kind: str, where: str, *args: object) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                gone = self._bytes(where, *args)
                self._db.execute(f"DELETE FROM outbox WHERE {where}", args)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._sizes[kind] -= gone

    def count(self, kind: str, upto: int | None = None) -> int:
        """Messages of a kind waiting (with ``upto``, those numbered up to it)."""
        limit = (1 << 63) - 1 if upto is None else upto
        with self._lock:
            (n,) = self._db.execute(
                "SELECT count(*) FROM outbox WHERE kind = ? AND seq <= ?", (kind, limit)
            ).fetchone()
        return int(n)

    def position(self, path: str) -> tuple[int, int] | None:
        with self._lock:
            row = self._db.execute("SELECT inode, offset FROM positions WHERE path = ?", (path,)).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def put(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def close(self) -> None:
        with self._lock:
            self._db.close()
