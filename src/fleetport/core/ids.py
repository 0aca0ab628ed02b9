"""Identifiers and secrets.

Entity ids are time-ordered UUIDs (version 7 layout), so sorting by id is sorting by creation
time: cursor pagination needs nothing but the id.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_last_tail = 0
_TAIL_BITS = 74  # 12 bits of rand_a and 62 of rand_b


def new_id() -> str:
    """A version 7 UUID. Within one process ids strictly increase, also within one millisecond:
    the 74 bits after the timestamp start random and then count up (RFC 9562, method 3)."""
    global _last_ms, _last_tail
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            tail = int.from_bytes(os.urandom(10), "big") >> (
                80 - _TAIL_BITS + 1
            )  # top bit clear: room to count
        else:
            ms = _last_ms
            tail = _last_tail + 1 + (int.from_bytes(os.urandom(2), "big") & 0xFF)
            if tail >= 1 << _TAIL_BITS:  # counter exhausted within this millisecond: borrow the next one
                ms, tail = ms + 1, 0
        _last_ms, _last_tail = ms, tail
    rand_a, rand_b = tail >> 62, tail & ((1 << 62) - 1)
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def new_secret(prefix: str = "") -> str:
    """A high-entropy URL-safe secret (256 bits)."""
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """API-key and session secrets are random, so a fast unsalted digest is enough."""
    return hashlib.sha256(secret.encode()).hexdigest()
