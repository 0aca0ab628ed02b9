"""One Platform clients for Python, call-compatible with Exosite's ``pyonep`` 0.13.8: write
``from fleetport.onep import OnepV1, Provision`` in place of ``from pyonep import ...``.

They live in :mod:`fleetport.client.onep`, with the native SDK; this name stays their public one.
"""

from fleetport.client.onep import DeferredRequests, OnepV1, Provision, ProvisionResponse
from fleetport.onep import exceptions

__all__ = ["DeferredRequests", "OnepV1", "Provision", "ProvisionResponse", "exceptions"]
