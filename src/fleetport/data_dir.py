"""The data directory holds the SQLite database (with its WAL and SHM files), the TLS key and the
blobs: it is private to the user the server runs as. The directory and those below it are 0700,
the files 0600."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("fleetport")

PRIVATE_UMASK = 0o077  # files the server makes: 0600; directories: 0700
DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
# what the server keeps in the data directory; anything else there is left as it is
OWN_ENTRIES = ("fleetport.db", "fleetport.db-wal", "fleetport.db-shm", "fleetport.db-journal", "tls", "blobs")


def make_private(path: Path) -> None:
    """Creates the data directory (0700), or takes group and other permissions off an existing one
    and off what the server keeps in it (left so by an earlier version, or copied in by hand)."""
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    if path.stat().st_mode & stat.S_ISVTX:  # a shared directory such as /tmp: not ours to close
        log.warning(
            "the data directory %s is shared (sticky bit): give Fleetport a directory of its own", path
        )
    else:
        _tighten(path, DIRECTORY_MODE)
    for name in OWN_ENTRIES:
        entry = path / name
        if entry.is_dir() and not entry.is_symlink():
            _tighten(entry, DIRECTORY_MODE)
            for directory, subdirectories, files in os.walk(entry):
                for sub in subdirectories:
                    _tighten(Path(directory) / sub, DIRECTORY_MODE)
                for file in files:
                    _tighten(Path(directory) / file, FILE_MODE)
        elif entry.exists():
            _tighten(entry, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or stat.S_IMODE(info.st_mode) & ~mode == 0:
            return
        path.chmod(stat.S_IMODE(info.st_mode) & mode)
    except OSError as exc:  # not ours to change: say so, and go on
        log.warning("could not make %s private: %s", path, exc)
