"""Dependencies shared by the native API routers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from fleetport.core.errors import Invalid, Unauthenticated
from fleetport.core.fleet import Fleet
from fleetport.core.permissions import Principal
from fleetport.core.scheduling import runs_long

T = TypeVar("T")
bearer = HTTPBearer(
    auto_error=False, description="An API key, a session token from /auth/login, or a part secret"
)


# Dependencies that do no I/O are async: FastAPI would run sync ones on the thread pool.
async def fleet(request: Request) -> Fleet:
    return request.app.state.fleet  # type: ignore[no-any-return]


async def bearer_token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
    if credentials is None:
        raise Unauthenticated("no credentials: send 'Authorization: Bearer <API key or session token>'")
    return credentials.credentials


class Call:
    """The caller of one request. ``await call(service_method, *args)`` authenticates the bearer
    token and runs ``service_method(principal, *args)``."""

    __slots__ = ("fleet", "token")

    def __init__(self, fleet: Fleet, token: str) -> None:
        self.fleet = fleet
        self.token = token

    def principal(self) -> Principal:
        return self.fleet.identity.authenticate(self.token)

    async def __call__(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
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
    return await run_in_threadpool(work)


async def caller(request: Request, token: str = Depends(bearer_token)) -> Call:
    return Call(request.app.state.fleet, token)


@dataclass(frozen=True)
class Paging:
    limit: int
    cursor: str | None


async def paging(
    request: Request,
    limit: int | None = Query(None, ge=1, description="Items per page (the server caps it)"),
    cursor: str | None = Query(None, max_length=200, description="next_cursor of the previous page"),
) -> Paging:
    settings = request.app.state.fleet.settings
    if limit is not None and limit > settings.max_page_size:
        raise Invalid(f"limit {limit} is over the maximum page size of {settings.max_page_size}")
    return Paging(limit or settings.default_page_size, cursor)


FleetDep = Annotated[Fleet, Depends(fleet)]
Caller = Annotated[Call, Depends(caller)]
PagingDep = Annotated[Paging, Depends(paging)]
