"""Property-based fuzzing of every operation in /openapi.json: whatever the input, no 5xx."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from fleetport.core.credentials import BearerToken
from fleetport.core.models import GrantSpec
from fleetport.server import create_app, open_fleet
from fleetport.settings import Settings
from tests.conftest import ADMIN_KEY


def _fuzzed_app() -> object:
    """A server with one organization, location, machine and key, so that some generated ids hit."""
    data_dir = Path(tempfile.mkdtemp(prefix="fleetport-fuzz-"))
    atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    fleet = open_fleet(Settings(data_dir=data_dir))
    fleet.identity.bootstrap("admin@example.com", "admin-password", ADMIN_KEY)
    admin = fleet.identity.authenticate(BearerToken(ADMIN_KEY))
    org = fleet.organizations.create(admin, "Fuzz")
    loc = fleet.locations.create(admin, org.id, "Lab")
    fleet.machines.create(admin, loc.id, "rover")
    fleet.identity.create_key(admin, org.id, "k", [GrantSpec("owner", "organization", org.id)])
    return create_app(fleet)


# The live log tail is an endless Server-Sent Events stream, which a client reading whole bodies
# would wait on forever; tests/conformance/native/test_logs.py and tests/e2e/test_logs_e2e.py cover it.
schema = schemathesis.openapi.from_asgi("/openapi.json", _fuzzed_app()).exclude(
    path="/api/v1/parts/{part_id}/logs/tail"
)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    case.validate_response(response, checks=[not_a_server_error])
