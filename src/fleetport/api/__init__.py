"""The native REST API, mounted under /api/v1."""

from fastapi import APIRouter

from fleetport.api import identity, locations, machines, organizations


def router() -> APIRouter:
    api = APIRouter(prefix="/api/v1")
    for module in (identity, organizations, locations, machines):
        api.include_router(module.router)
    return api
