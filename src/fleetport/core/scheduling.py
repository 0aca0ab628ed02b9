"""How long core work takes, for the layers that decide where to run it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def long_running(method: F) -> F:
    """Marks a service method that keeps the CPU busy for a noticeable time (password hashing):
    servers run it off their event loop."""
    method.__fleetport_long_running__ = True  # type: ignore[attr-defined]
    return method


def runs_long(method: Callable[..., Any]) -> bool:
    return bool(getattr(method, "__fleetport_long_running__", False))
