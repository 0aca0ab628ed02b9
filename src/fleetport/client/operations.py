"""How one operation, written once in :mod:`fleetport.client.resources`, is typed under each client.

A resource method calls its transport: under ``Client`` the transport answers at once, under
``AsyncClient`` it answers with an awaitable (and pages with an async iterator). The decorators
here say which shape an operation has, so that type checkers see ``client.machines.get(...)`` as a
``Machine`` and ``async_client.machines.get(...)`` as an awaitable of one. They exist for type
checkers only: at run time each returns the method unchanged, so a call costs what it did.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

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


if TYPE_CHECKING:

    class call(Generic[P, R]):
        """An operation with one answer: returned by ``Client``, awaited with ``AsyncClient``."""

        def __init__(self, method: Callable[Concatenate[Any, P], R]) -> None: ...
        @overload
        def __get__(self, resource: None, owner: type | None = None) -> Self: ...
        @overload
        def __get__(self, resource: Resource[Sync], owner: type | None = None) -> Callable[P, R]: ...
        @overload
        def __get__(
            self, resource: Resource[Async], owner: type | None = None
        ) -> Callable[P, Awaitable[R]]: ...
        def __get__(self, resource: Any, owner: type | None = None) -> Any: ...

    class listing(Generic[P, T]):
        """A paged listing: an iterator under ``Client``, an async iterator with ``AsyncClient``."""

        def __init__(self, method: Callable[Concatenate[Any, P], Iterator[T]]) -> None: ...
        @overload
        def __get__(self, resource: None, owner: type | None = None) -> Self: ...
        @overload
        def __get__(
            self, resource: Resource[Sync], owner: type | None = None
        ) -> Callable[P, Iterator[T]]: ...
        @overload
        def __get__(
            self, resource: Resource[Async], owner: type | None = None
        ) -> Callable[P, AsyncIterator[T]]: ...
        def __get__(self, resource: Any, owner: type | None = None) -> Any: ...

    class stream(Generic[P, T]):
        """A live stream of events: open when returned under ``Client``; awaited, then iterated
        with ``async for``, with ``AsyncClient``."""

        def __init__(self, method: Callable[Concatenate[Any, P], EventStream[T]]) -> None: ...
        @overload
        def __get__(self, resource: None, owner: type | None = None) -> Self: ...
        @overload
        def __get__(
            self, resource: Resource[Sync], owner: type | None = None
        ) -> Callable[P, EventStream[T]]: ...
        @overload
        def __get__(
            self, resource: Resource[Async], owner: type | None = None
        ) -> Callable[P, Awaitable[AsyncEventStream[T]]]: ...
        def __get__(self, resource: Any, owner: type | None = None) -> Any: ...

else:

    def call(method: Callable[..., Any]) -> Callable[..., Any]:
        return method

    listing = stream = call
