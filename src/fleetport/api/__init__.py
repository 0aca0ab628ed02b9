"""The native REST API, mounted under /api/v1."""

from fastapi import APIRouter, FastAPI

from fleetport.api import identity, locations, machines, organizations


def install(app: FastAPI) -> None:
    """Adds every /api/v1 route to the app itself. (Routes of an included router are matched
    through that router on every request, which costs more than the request's own work.)"""
    api = APIRouter(prefix="/api/v1")
    for module in (identity, organizations, locations, machines):
        api.include_router(module.router)
    app.router.routes.extend(api.routes)
