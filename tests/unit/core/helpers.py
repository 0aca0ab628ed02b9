"""Set-up shared by the core service tests."""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from fleetport.core.credentials import BearerToken
from fleetport.core.fleet import Fleet
from fleetport.core.models import Organization
from fleetport.core.permissions import Principal
from fleetport.settings import Settings
from fleetport.store import Store
from fleetport.store.engine import MIGRATIONS


def login(fleet: Fleet, email: str) -> Principal:
    """The principal of a user created with the password "password1", through a fresh session."""
    return fleet.identity.authenticate(BearerToken(fleet.identity.login(email, "password1").token))


@dataclass
class Two:
    """Two organizations, ``a`` owned by ann and ``b`` by bob."""

    ann: Principal
    bob: Principal
    a: Organization
    b: Organization


def store_before(settings: Settings, revision: str) -> Store:
    """A store on the settings' database with the migrations applied up to the one before ``revision``,
    to be filled with data in the shape from before it."""
    store = Store(settings.resolved_database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection_engine"] = store.engine
    before = ScriptDirectory.from_config(config).get_revision(revision).down_revision
    assert isinstance(before, str)
    command.upgrade(config, before)
    return store
