"""The One Platform clients' errors, as ``pyonep.exceptions`` names them (they live in
:mod:`fleetport.client.onep.exceptions`)."""

from fleetport.client.onep.exceptions import *  # noqa: F403
from fleetport.client.onep.exceptions import __all__ as __all__
