"""How a native API request finds its route: by the first segment of its path, then in order.

FastAPI keeps an included router as one entry to match through, so a router made of a router per
module matches a request against every route it passes on the way, twice (to choose, then to
handle). The native API's routes are made with the full path instead (``api_router``) and served
by a :class:`RouteTable`, which sends a request straight to the few routes that can answer it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

PREFIX = "/api/v1"


def api_router(**options: Any) -> APIRouter:
    """A router of native API routes: their paths start with ``PREFIX``."""
    return APIRouter(prefix=PREFIX, **options)


def _first_segment(path: str, prefix: str) -> str:
    """The segment after ``prefix`` (``machines`` of ``/api/v1/machines/{id}``); "" when none."""
    return path[len(prefix) + 1 :].partition("/")[0] if path.startswith(prefix + "/") else ""


class RouteTable:
    """Routes under ``prefix``, answered as one router of them all would answer: the first route
    that matches in full, else the first that matches the path but not the method (405), else a
    redirect to the path with or without its trailing slash when a route has that, else 404.

    A request is matched only against the routes that can match its path: those whose first
    segment after the prefix is the request's, in their order, with those whose first segment is
    a parameter. Each such group is a router of its own; a path of no group goes to the router of
    all routes."""

    def __init__(self, prefix: str, routes: Sequence[BaseRoute]) -> None:
        self.prefix = prefix
        self.routes = list(routes)  # what the OpenAPI document lists
        firsts = [_first_segment(str(getattr(route, "path", "")), prefix) for route in self.routes]
        literal = {first for first in firsts if first and "{" not in first}
        self._everything = _router(self.routes)
        self._by_segment = {
            segment: _router(
                [
                    route
                    for route, first in zip(self.routes, firsts, strict=True)
                    if first == segment or "{" in first
                ]
            )
            for segment in literal
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        router = self._by_segment.get(_first_segment(scope["path"], self.prefix), self._everything)
        await router(scope, receive, send)


def _router(routes: list[BaseRoute]) -> APIRouter:
    router = APIRouter()
    router.routes.extend(routes)
    return router
