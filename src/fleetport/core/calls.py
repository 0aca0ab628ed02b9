"""How a request runs core work: the core is synchronous; the servers in front of it are asyncio."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import anyio.to_thread

if TYPE_CHECKING:
    from fleetport.core.credentials import Credential
    from fleetport.core.fleet import Fleet
    from fleetport.core.permissions import Principal

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
T = TypeVar("T")


def long_running(method: F) -> F:
    """Marks a service method that keeps the CPU busy for a noticeable time (password hashing):
    servers run it off their event loop."""
    method.__fleetport_long_running__ = True  # type: ignore[attr-defined]
    return method


def runs_long(method: Callable[..., Any]) -> bool:
    return bool(getattr(method, "__fleetport_long_running__", False))


class Call:
    """The caller of one request, by the credential it presented. ``await call(service_method,
    *args)`` authenticates the credential and runs ``service_method(principal, *args)`` in one
    go; the arguments are checked against the method's own (a type checker refuses a wrong one)."""

    __slots__ = ("credential", "fleet")

    def __init__(self, fleet: Fleet, credential: Credential) -> None:
        self.fleet = fleet
        self.credential = credential

    def principal(self) -> Principal:
        return self.fleet.identity.authenticate(self.credential)

    async def __call__(
        self, method: Callable[Concatenate[Principal, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        def invoke() -> T:
            return method(self.principal(), *args, **kwargs)

        return await run_core(self.fleet, invoke, long=runs_long(method))


async def run_core(fleet: Fleet, work: Callable[[], T], *, long: bool = False) -> T:
    """Runs synchronous core work for a request.

    On SQLite the work runs right here on the event loop: its calls take microseconds, a thread
    hand-off would cost more than the work, and one process then never has two SQLite writers
    queueing on the same lock. Work marked as long (password hashing) and every call on
    PostgreSQL, which waits on the network, go to the thread pool instead.
    """
    if fleet.store.is_sqlite and not long:
        return work()
    return await anyio.to_thread.run_sync(work)
