"""Fleetport: a self-hosted cloud for fleets of robots and connected devices.

``fleetport.Client`` and ``fleetport.AsyncClient`` are the SDK; they load on first use, so that the
command line and the server start without importing the HTTP client stack twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Client": "fleetport.client.sync",
    "AsyncClient": "fleetport.client.aio",
    "FleetportError": "fleetport.client.errors",
    "InvalidArgument": "fleetport.client.errors",
    "Unauthenticated": "fleetport.client.errors",
    "PermissionDenied": "fleetport.client.errors",
    "NotFound": "fleetport.client.errors",
    "Conflict": "fleetport.client.errors",
    "PayloadTooLarge": "fleetport.client.errors",
    "InvalidServerURL": "fleetport.client.errors",
    "UntrustedCertificate": "fleetport.client.errors",
}

if TYPE_CHECKING:
    from fleetport.client.aio import AsyncClient
    from fleetport.client.errors import (
        Conflict,
        FleetportError,
        InvalidArgument,
        InvalidServerURL,
        NotFound,
        PayloadTooLarge,
        PermissionDenied,
        Unauthenticated,
        UntrustedCertificate,
    )
    from fleetport.client.sync import Client


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fleetport' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "AsyncClient",
    "Client",
    "Conflict",
    "FleetportError",
    "InvalidArgument",
    "InvalidServerURL",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "Unauthenticated",
    "UntrustedCertificate",
    "__version__",
]
