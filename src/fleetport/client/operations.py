"""How one operation, written once in :mod:`fleetport.client.resources`, is typed under each client.

A resource method calls its transport: under ``Client`` the transport answers at once, under
``AsyncClient`` it answers with an awaitable (and pages with an async iterator). The decorators
here say which shape an operation has, so that type checkers see ``client.machines.get(...)`` as a
``Machine`` and ``async_client.machines.get(...)`` as an awaitable of one. At run time they bind the
method as Python would.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Self, TypeVar, cast, overload

if TYPE_CHECKING:
    from fleetport.client.transport import AsyncEventStream, EventStream


class Sync:
    """The mode of ``Client``: operations return their results."""


class Async:
    """The mode of ``AsyncClient``: operations are awaited, listings iterated with ``async for``."""


Mode = TypeVar("Mode", Sync, Async)
P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class Resource(Generic[Mode]):
    """A group of operations on one transport (synchronous or asynchronous)."""

    def __init__(self, transport: Any) -> None:
        self._t = transport


class _Operation(Generic[P, R]):
    def __init__(self, method: Callable[Concatenate[Any, P], R]) -> None:
        self._method = method
        functools.update_wrapper(cast(Any, self), method)  # help() shows the method's name and docs

    def _bind(self, resource: Resource[Any] | None, owner: type | None) -> Any:
        return self if resource is None else self._method.__get__(resource, owner)


class call(_Operation[P, R]):
    """An operation with one answer: returned by ``Client``, awaited with ``AsyncClient``."""

    @overload
    def __get__(self, resource: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, resource: Resource[Sync], owner: type | None = None) -> Callable[P, R]: ...
    @overload
    def __get__(self, resource: Resource[Async], owner: type | None = None) -> Callable[P, Awaitable[R]]: ...
    def __get__(self, resource: Any, owner: type | None = None) -> Any:
        return self._bind(resource, owner)


class listing(_Operation[P, Iterator[T]]):
    """A paged listing: an iterator under ``Client``, an async iterator with ``AsyncClient``."""

    @overload
    def __get__(self, resource: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, resource: Resource[Sync], owner: type | None = None) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(
        self, resource: Resource[Async], owner: type | None = None
    ) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, resource: Any, owner: type | None = None) -> Any:
        return self._bind(resource, owner)


class stream(_Operation[P, "EventStream[T]"]):
    """A live stream of events: open when returned under ``Client``; awaited, then iterated with
    ``async for``, with ``AsyncClient``."""

    @overload
    def __get__(self, resource: None, owner: type | None = None) -> Self: ...
    @overload
    def __get__(self, resource: Resource[Sync], owner: type | None = None) -> Callable[P, EventStream[T]]: ...
    @overload
    def __get__(
        self, resource: Resource[Async], owner: type | None = None
    ) -> Callable[P, Awaitable[AsyncEventStream[T]]]: ...
    def __get__(self, resource: Any, owner: type | None = None) -> Any:
        return self._bind(resource, owner)
