"""Dependencies shared by the native API routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fleetport.core.errors import Invalid, Unauthenticated
from fleetport.core.fleet import Fleet
from fleetport.core.permissions import Principal

bearer = HTTPBearer(
    auto_error=False, description="An API key, a session token from /auth/login, or a part secret"
)


def fleet(request: Request) -> Fleet:
    return request.app.state.fleet  # type: ignore[no-any-return]


def bearer_token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:
    if credentials is None:
        raise Unauthenticated("no credentials: send 'Authorization: Bearer <API key or session token>'")
    return credentials.credentials


def principal(request: Request, token: str = Depends(bearer_token)) -> Principal:
    return fleet(request).identity.authenticate(token)


class Paging:
    def __init__(
        self,
        request: Request,
        limit: int | None = Query(None, ge=1, description="Items per page (the server caps it)"),
        cursor: str | None = Query(None, max_length=200, description="next_cursor of the previous page"),
    ) -> None:
        settings = fleet(request).settings
        if limit is not None and limit > settings.max_page_size:
            raise Invalid(f"limit {limit} is over the maximum page size of {settings.max_page_size}")
        self.limit = limit or settings.default_page_size
        self.cursor = cursor


FleetDep = Annotated[Fleet, Depends(fleet)]
Caller = Annotated[Principal, Depends(principal)]
PagingDep = Annotated[Paging, Depends()]
