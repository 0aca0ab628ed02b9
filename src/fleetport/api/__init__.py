"""The native REST API, mounted under /api/v1."""

from fastapi import APIRouter, FastAPI

from fleetport.api import (
    fragments,
    identity,
    locations,
    logs,
    machines,
    organizations,
    registry,
    telemetry,
)
from fleetport.api.edge import BodyLimit
from fleetport.settings import Settings


def install(app: FastAPI) -> None:
    """Adds every /api/v1 route to the app itself. (Routes of an included router are matched
    through that router on every request, which costs more than the request's own work.)"""
    api = APIRouter(prefix="/api/v1")
    for module in (identity, organizations, locations, machines, logs, fragments, registry, telemetry):
        api.include_router(module.router)
    app.router.routes.extend(api.routes)


def body_limits(settings: Settings) -> list[BodyLimit]:
    """Routes whose bodies have a size limit of their own (file uploads), for the edge middleware."""
    return [*registry.body_limits(settings), *logs.body_limits(settings), *telemetry.body_limits(settings)]
