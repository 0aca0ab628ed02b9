"""A content-addressed store for files (module files, uploads) on the local disk.

A blob is named by the SHA-256 of its content and lives at ``root/ab/cd/<digest>`` (the first two
byte pairs of the digest fan the files out over directories). Content is written to a temporary
file under ``root/tmp``, flushed to disk and then renamed into place, so a blob that exists is
always whole; writing the same content twice stores it once. Blobs are never changed in place.

The interface (``put``, ``put_stream``, ``open``, ``path``, ``exists``) is what an object store
would implement later.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from fleetport.core.errors import Invalid, NotFound

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class BlobWriter:
    """Content being written, chunk by chunk. ``commit()`` moves it into the store and returns
    ``(digest, size)``; leaving the ``with`` block without committing throws the content away."""

    def __init__(self, blobs: Blobs) -> None:
        self._blobs = blobs
        blobs._tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=blobs._tmp, prefix="upload-")
        self._file = os.fdopen(fd, "wb")
        self._temp = Path(name)
        self._hash = hashlib.sha256()
        self.size = 0
        self._done = False

    def write(self, chunk: bytes) -> None:
        if self._done:
            raise ValueError("this blob has been committed or discarded")
        if chunk:
            self._file.write(chunk)
            self._hash.update(chunk)
            self.size += len(chunk)

    def commit(self) -> tuple[str, int]:
        """Flushes the content to disk and renames it into place (atomically)."""
        if self._done:
            raise ValueError("this blob has been committed or discarded")
        self._done = True
        digest = self._hash.hexdigest()
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            target = self._blobs.path(digest)
            if target.exists():  # the same content is stored already
                self._temp.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(self._temp, target)
        except BaseException:
            self._discard()
            raise
        return digest, self.size

    def discard(self) -> None:
        if not self._done:
            self._done = True
            self._discard()

    def _discard(self) -> None:
        self._file.close()
        self._temp.unlink(missing_ok=True)

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.discard()


class Blobs:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._tmp = self.root / "tmp"

    def path(self, digest: str) -> Path:
        """Where the blob with this digest lives (whether or not it exists)."""
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            raise Invalid(f"{digest!r} is not a blob digest (64 lowercase hex digits of SHA-256)")
        return self.root / digest[:2] / digest[2:4] / digest

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def writer(self) -> BlobWriter:
        """A blob to write in pieces: ``with blobs.writer() as w: w.write(...); w.commit()``."""
        return BlobWriter(self)

    def put(self, data: bytes) -> str:
        """Stores the bytes; returns their digest."""
        digest, _ = self.put_stream((data,))
        return digest

    def put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Stores the concatenated chunks; returns their digest and size in bytes."""
        with self.writer() as w:
            for chunk in chunks:
                w.write(chunk)
            return w.commit()

    def open(self, digest: str) -> BinaryIO:
        """The blob's content, opened for reading (the caller closes it)."""
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the blob store") from None
