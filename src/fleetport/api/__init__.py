"""The native REST API, under /api/v1."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp

from fleetport.api import (
    ci,
    fragments,
    identity,
    locations,
    logs,
    machines,
    organizations,
    registry,
    remote,
    telemetry,
)
from fleetport.api.errors import native_errors
from fleetport.api.routing import PREFIX, RouteTable
from fleetport.core.fleet import Fleet
from fleetport.dialect import HttpOnly
from fleetport.edge import BodyLimit, native_fault
from fleetport.settings import Settings


def router() -> RouteTable:
    """Every /api/v1 route, in the order of the modules (``fleetport.api.routing``)."""
    modules = (identity, organizations, locations, machines, logs, fragments, registry, telemetry, remote, ci)
    return RouteTable(PREFIX, [route for module in modules for route in module.router.routes])


def body_limits(settings: Settings) -> list[BodyLimit]:
    """Routes whose bodies have a size limit of their own (file uploads), for the edge middleware."""
    return [*registry.body_limits(settings), *logs.body_limits(settings), *telemetry.body_limits(settings)]


class NativeApi(HttpOnly):
    """The native API as a dialect: its routes answer errors as ``{"error": {...}}``."""

    name = "native"
    paths: tuple[str, ...] = (PREFIX,)

    def enabled(self, settings: Settings) -> bool:
        return True

    def app(self, fleet: Fleet) -> ASGIApp:
        return native_errors(router())

    def body_limits(self, settings: Settings) -> Sequence[BodyLimit]:
        return body_limits(settings)

    def fault(self, path: str, request_id: str) -> tuple[bytes, bytes]:
        return native_fault(path, request_id)


dialect = NativeApi()
