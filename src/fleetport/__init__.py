"""Fleetport: a self-hosted cloud for fleets of robots and connected devices."""

__version__ = "0.1.0"

from fleetport.client.errors import (
    Conflict,
    FleetportError,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    Unauthenticated,
)
from fleetport.client.aio import AsyncClient
from fleetport.client.sync import Client

__all__ = [
    "AsyncClient",
    "Client",
    "Conflict",
    "FleetportError",
    "InvalidArgument",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "Unauthenticated",
    "__version__",
]
