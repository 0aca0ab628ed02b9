"""Dependencies shared by the native API routers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fleetport.core.calls import Call
from fleetport.core.calls import run_core as run_core  # routers use it for work without a caller
from fleetport.core.credentials import BearerToken
from fleetport.core.errors import Invalid, Unauthenticated
from fleetport.core.fleet import Fleet

T = TypeVar("T")
bearer = HTTPBearer(
    auto_error=False, description="An API key, a session token from /auth/login, or a part secret"
)


# Dependencies that do no I/O are async: FastAPI would run sync ones on the thread pool.
async def fleet(request: Request) -> Fleet:
    return request.app.state.fleet  # type: ignore[no-any-return]


async def bearer_token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> BearerToken:
    """The credential of a native API request: ``Authorization: Bearer <token>``."""
    if credentials is None:
        raise Unauthenticated("no credentials: send 'Authorization: Bearer <API key or session token>'")
    return BearerToken(credentials.credentials)


async def caller(request: Request, token: BearerToken = Depends(bearer_token)) -> Call:
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
