"""What the agent ships as its part's logs: its own log records and the lines of followed files
(``tail -F``: by name, across rotation and truncation), gathered into batches in the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fleetport.agent.outbox import Outbox, Position

BATCH_MAX = 1000  # entries per outbox message
BATCH_BYTES = 1 << 20  # bytes of one, well under the server's message limit (16 MiB by default)
GATHER_SECONDS = 0.5
LINE_MAX = 64 * 1024  # characters of one line (the server's message limit); longer ones are cut
_LEVELS = {"DEBUG": "debug", "INFO": "info", "WARNING": "warn", "ERROR": "error", "CRITICAL": "fatal"}


def _now() -> str:
    return datetime.now(UTC).isoformat()


class OwnLog(logging.Handler):
    """Keeps the agent's own log records (at most 10,000 waiting) for the next batch."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.waiting: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.host = socket.gethostname()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.waiting.append(
                {
                    "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
                    "level": _LEVELS.get(record.levelname, "info"),
                    "message": record.getMessage()[:LINE_MAX],
                    "logger_name": record.name,
                    "host": self.host,
                }
            )
        except Exception:  # a log record that cannot be formatted is not worth failing for
            self.handleError(record)


class FollowedFile:
    """One file followed by name. Starts where the outbox says the last batch read up to, or at
    the file's end the first time."""

    def __init__(self, path: Path, outbox: Outbox) -> None:
        self.path = path
        self.key = str(path)
        self._file: Any = None
        self._inode = 0
        self._partial = b""
        saved = outbox.position(self.key)
        self._saved = saved

    def _open(self, at_end: bool) -> None:
        with contextlib.suppress(OSError):
            handle = open(self.path, "rb")  # noqa: SIM115 (held open across reads, as tail -F does)
            stat = os.fstat(handle.fileno())
            offset = 0
            if self._saved is not None and self._saved[0] == stat.st_ino and self._saved[1] <= stat.st_size:
                offset = self._saved[1]
            elif self._saved is None and at_end:
                offset = stat.st_size
            handle.seek(offset)
            self._file, self._inode, self._saved = handle, stat.st_ino, None

    def read(self, first: bool) -> tuple[list[str], Position | None]:
        """Whole lines written since the last read, and the position after them."""
        if self._file is None:
            self._open(at_end=first)
            if self._file is None:
                return [], None
        lines = self._drain()
        try:
            stat = os.stat(self.path)
        except OSError:
            stat = None
        if stat is not None and stat.st_ino != self._inode:  # rotated: the old file is read out
            self._file.close()
            self._file, self._partial = None, b""
            self._open(at_end=False)
            lines += self._drain()
        elif stat is not None and stat.st_size < self._file.tell():  # truncated: from the start
            self._file.seek(0)
            self._partial = b""
            lines += self._drain()
        if self._file is None:
            return lines, None
        return lines, (self.key, self._inode, self._file.tell() - len(self._partial))

    def _drain(self) -> list[str]:
        data = self._partial + self._file.read(4 << 20)
        *whole, self._partial = data.split(b"\n")
        return [line.decode("utf-8", "replace").rstrip("\r")[:LINE_MAX] for line in whole]


def batches(entries: list[dict[str, Any]]) -> list[str]:
    """The entries as log batch bodies of at most ``BATCH_BYTES`` each (halved until they fit; one
    entry alone may be larger), in order."""
    body = json.dumps({"entries": entries}, ensure_ascii=False)
    if len(entries) < 2 or len(body.encode()) <= BATCH_BYTES:
        return [body] if entries else []
    half = len(entries) // 2
    return batches(entries[:half]) + batches(entries[half:])


async def gather(outbox: Outbox, own: OwnLog, files: list[Path], wake: asyncio.Event) -> None:
    """Every half second: the waiting records and new lines, as batches in the outbox."""
    followed = [FollowedFile(path, outbox) for path in files]
    host = socket.gethostname()
    first = True
    while True:
        entries: list[dict[str, Any]] = []
        positions: list[Position] = []
        while own.waiting and len(entries) < BATCH_MAX:
            entries.append(own.waiting.popleft())
        for source in followed:
            lines, position = source.read(first)
            now = _now()
            entries += [
                {"time": now, "level": "info", "message": line, "logger_name": source.key, "host": host}
                for line in lines
            ]
            if position is not None and (lines or first):
                positions.append(position)
        first = False
        bodies = [
            b
            for start in range(0, len(entries), BATCH_MAX)
            for b in batches(entries[start : start + BATCH_MAX])
        ]
        for i, body in enumerate(bodies):
            outbox.add("logs", body, positions if i == len(bodies) - 1 else None)
        if entries:
            wake.set()
        elif positions:
            outbox.save_positions(positions)
        await asyncio.sleep(GATHER_SECONDS)
