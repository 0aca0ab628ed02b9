"""Finding a machine's deployment by the machine's id or name, as ``fleetport ssh MACHINE`` does,
and whether the machine's agent is online (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from fleetport.core.credentials import BearerToken
from fleetport.core.errors import Invalid, NotFound, PermissionDenied
from fleetport.core.fleet import Fleet
from fleetport.core.pages import PageRequest
from fleetport.core.permissions import Principal
from tests.unit.core.remote_cast import RemoteCast, remote_cast


@pytest.fixture
def cast(fleet: Fleet, admin: Principal) -> RemoteCast:
    return remote_cast(fleet, admin)


def test_a_machine_is_found_by_id_or_name_by_those_who_see_its_deployment(
    fleet: Fleet, admin: Principal, cast: RemoteCast
) -> None:
    find = fleet.remote.deployments.of_machine
    for who in (cast.owner, cast.operator, admin):
        assert find(who, cast.machine.id).id == cast.deployment.id
        assert find(who, cast.machine.id.upper()).id == cast.deployment.id
        assert find(who, "misty").id == cast.deployment.id
        assert find(who, "  misty ").id == cast.deployment.id
    # a user an access rule lets launch sees the deployment by the machine's id, not its name
    assert find(cast.ruled_in, cast.machine.id).id == cast.deployment.id
    with pytest.raises(NotFound, match="no machine named 'misty' that you may read"):
        find(cast.ruled_in, "misty")
    # someone who neither reads the machine nor is ruled in
    with pytest.raises(PermissionDenied):
        find(cast.other, cast.machine.id)
    with pytest.raises(NotFound, match="no machine named 'misty'"):
        find(cast.other, "misty")


def test_unknown_machines_machines_without_a_deployment_and_ambiguous_names(
    fleet: Fleet, admin: Principal, cast: RemoteCast
) -> None:
    find = fleet.remote.deployments.of_machine
    with pytest.raises(NotFound, match="machine 01234567-89ab-cdef-0123-456789abcdef not found"):
        find(cast.owner, "01234567-89ab-cdef-0123-456789abcdef")
    with pytest.raises(NotFound, match="no machine named 'nemo'"):
        find(cast.owner, "nemo")
    lab = fleet.locations.create(cast.owner, cast.org.id, "yard")
    bare = fleet.machines.create(cast.owner, lab.id, "bare")
    with pytest.raises(NotFound, match=rf"machine 'bare' \({bare.id}\) has no deployment"):
        find(cast.owner, "bare")
    with pytest.raises(NotFound, match=rf"machine {bare.id} has no deployment"):
        find(cast.owner, bare.id)
    twin = fleet.machines.create(cast.owner, lab.id, "misty")
    with pytest.raises(Invalid, match="2 machines are named 'misty': name one by its id") as refused:
        find(cast.owner, "misty")
    assert cast.machine.id in refused.value.message and twin.id in refused.value.message
    for _ in range(5):
        fleet.machines.create(cast.owner, lab.id, "misty")
    with pytest.raises(Invalid, match=r"more than 5 machines are named 'misty'.*, \.\.\.\)$"):
        find(cast.owner, "misty")
    assert find(cast.owner, cast.machine.id).id == cast.deployment.id  # the id still names it


def test_hostile_machine_names_are_refused(fleet: Fleet, cast: RemoteCast) -> None:
    for hostile in ("", "   ", "x" * 201, "mis\x00ty", "\udcff", 42, None):
        with pytest.raises(Invalid):
            fleet.remote.deployments.of_machine(cast.owner, hostile)  # type: ignore[arg-type]


def test_a_deployment_says_whether_its_machines_agent_is_online(fleet: Fleet, cast: RemoteCast) -> None:
    deployments = fleet.remote.deployments
    assert deployments.get(cast.owner, cast.deployment.id).online is False
    assert cast.deployment.online is False
    (part,) = fleet.machines.list_parts(cast.owner, cast.machine.id, PageRequest()).items
    enrolment = fleet.agents.enrolment(cast.owner, part.id)
    agent = fleet.identity.authenticate(BearerToken(enrolment.secret))
    fleet.agents.connect(agent)
    assert deployments.get(cast.owner, cast.deployment.id).online is True
    assert deployments.of_machine(cast.ruled_in, cast.machine.id).online is True
    (listed,) = deployments.search(cast.owner, PageRequest()).page.items
    assert listed.online is True
    fleet.agents.disconnect(agent)
    assert deployments.get(cast.owner, cast.deployment.id).online is False
