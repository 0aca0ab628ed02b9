"""Identifiers and secrets.

Entity ids are time-ordered UUIDs (version 7 layout), so sorting by id is sorting by creation
time: cursor pagination needs nothing but the id.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import uuid


def new_id() -> str:
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | rand
    # version 7 in bits 76..79, RFC 4122 variant in bits 62..63
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
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
