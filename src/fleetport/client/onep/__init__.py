"""One Platform clients for Python, call-compatible with Exosite's ``pyonep`` 0.13.8 and built on httpx.

``from fleetport.onep import OnepV1, Provision`` in place of ``from pyonep import ...``: the same
constructors, methods, arguments, return values and exceptions (:mod:`fleetport.onep.exceptions`),
the same requests on the wire. It talks to a Fleetport server's One Platform dialect as well as to
any other One Platform server.
"""

from fleetport.client.onep.provision import Provision, ProvisionResponse
from fleetport.client.onep.rpc import DeferredRequests, OnepV1

__all__ = ["DeferredRequests", "OnepV1", "Provision", "ProvisionResponse"]
