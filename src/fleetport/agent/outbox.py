"""The agent's outbox: what it must deliver (log batches, dataport points), kept in a SQLite file
of its state directory until the server acknowledged it.

Each kind of message is a delivery stream with its own sequence numbers, counted up in the same
transaction that stores the message; the stream's name on the wire carries this outbox's origin
(made once with the file), so that a new state directory never reuses the numbers of an old one.
Messages leave the outbox only when the server acknowledged them (it stored them) or refused them
(they can never be stored); until then they are sent again after each reconnection, in order, and
the server stores each once. The read position of each followed file is stored in the transaction
of the batch that carries its lines, so that a restarted agent neither loses nor repeats lines.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from pathlib import Path

KINDS = ("logs", "points")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (kind TEXT PRIMARY KEY, last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    kind TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, seq)
);
CREATE TABLE IF NOT EXISTS positions (path TEXT PRIMARY KEY, inode INTEGER NOT NULL, offset INTEGER NOT NULL);
"""

Position = tuple[str, int, int]  # a followed file's path, inode and the offset read up to


class Outbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('origin', ?)", (uuid.uuid4().hex,))
            (origin,) = self._db.execute("SELECT value FROM meta WHERE key = 'origin'").fetchone()
        self.origin = str(origin)

    def stream(self, kind: str) -> str:
        """The name of a kind's delivery stream on the wire."""
        return f"{kind}/{self.origin}"

    def kind_of(self, stream: str) -> str | None:
        kind, _, origin = stream.partition("/")
        return kind if origin == self.origin and kind in KINDS else None

    def add(self, kind: str, body: str, positions: list[Position] | None = None) -> int:
        """Stores a message (a JSON object's text) and the file positions it reads up to; its
        sequence number."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT last FROM counters WHERE kind = ?", (kind,)).fetchone()
                seq = (row[0] if row else 0) + 1
                self._db.execute("INSERT OR REPLACE INTO counters VALUES (?, ?)", (kind, seq))
                self._db.execute("INSERT INTO outbox VALUES (?, ?, ?)", (kind, seq, body))
                for path, inode, offset in positions or ():
                    self._db.execute(
                        "INSERT OR REPLACE INTO positions VALUES (?, ?, ?)", (path, inode, offset)
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return seq

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
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE kind = ? AND seq <= ?", (kind, seq))

    def refused(self, kind: str, seq: int) -> None:
        """The server can never store this message: it goes."""
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE kind = ? AND seq = ?", (kind, seq))

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
