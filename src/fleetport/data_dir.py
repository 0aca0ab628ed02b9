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


def make_private(path: Path) -> None:
    """Creates the data directory (0700), or takes group and other permissions off an existing one
    and everything in it (left by an earlier version, or made by hand)."""
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    _tighten(path, DIRECTORY_MODE)
    for directory, subdirectories, files in os.walk(path):
        for name in subdirectories:
            _tighten(Path(directory) / name, DIRECTORY_MODE)
        for name in files:
            _tighten(Path(directory) / name, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    try:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or stat.S_IMODE(info.st_mode) & ~mode == 0:
            return
        path.chmod(stat.S_IMODE(info.st_mode) & mode)
    except OSError as exc:  # not ours to change: say so, and go on
        log.warning("could not make %s private: %s", path, exc)
