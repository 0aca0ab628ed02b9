"""Set-up shared by the core service tests."""

from __future__ import annotations

from dataclasses import dataclass

from fleetport.core.fleet import Fleet
from fleetport.core.models import Organization
from fleetport.core.permissions import Principal


def login(fleet: Fleet, email: str) -> Principal:
    """The principal of a user created with the password "password1", through a fresh session."""
    return fleet.identity.authenticate(fleet.identity.login(email, "password1").token)


@dataclass
class Two:
    """Two organizations, ``a`` owned by ann and ``b`` by bob."""

    ann: Principal
    bob: Principal
    a: Organization
    b: Organization
