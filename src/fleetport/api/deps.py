"""Dependencies shared by the native API routers."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fleetport.core.calls import Call
from fleetport.core.calls import run_core as run_core  # routers use it for work without a caller
from fleetport.core.credentials import BearerToken
from fleetport.core.errors import Invalid, Unauthenticated
from fleetport.core.fleet import Fleet
from fleetport.core.pages import CURSOR_MAX, PageRequest

T = TypeVar("T")
bearer = HTTPBearer(
    auto_error=False, description="An API key, a session token from /auth/login, or a part secret"
)


# Dependencies that do no I/O are async: FastAPI would run sync ones on the thread pool.
async def fleet(request: Request) -> Fleet:
    return request.app.state.fleet  # type: ignore[no-any-return]


# One dependency on the scheme, not a chain: FastAPI solves each dependency of a request anew.
async def caller(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Call:
    """The caller of a native API request: ``Authorization: Bearer <token>``."""
    if credentials is None:
        raise Unauthenticated("no credentials: send 'Authorization: Bearer <API key or session token>'")
    return Call(request.app.state.fleet, BearerToken(credentials.credentials))


async def paging(
    request: Request,
    limit: int | None = Query(None, ge=1, description="Items per page (the server caps it)"),
    cursor: str | None = Query(None, max_length=CURSOR_MAX, description="next_cursor of the previous page"),
) -> PageRequest:
    """The page a listing route asks core for: the native API's own default and maximum page
    sizes (settings) apply; the page comes back as ``{"items": [...], "next_cursor": ...}``."""
    settings = request.app.state.fleet.settings
    if limit is not None and limit > settings.max_page_size:
        raise Invalid(f"limit {limit} is over the maximum page size of {settings.max_page_size}")
    return PageRequest(limit or settings.default_page_size, cursor)


FleetDep = Annotated[Fleet, Depends(fleet)]
Caller = Annotated[Call, Depends(caller)]
PagingDep = Annotated[PageRequest, Depends(paging)]
