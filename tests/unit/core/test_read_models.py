"""Read models and composite changes the dialects answer a request with in one core call: machines
with what their parts tell, locations with their robot counts, a part renamed and reconfigured in
one transaction; and the rule that keys and roles stay within one organization (SQLite and
PostgreSQL)."""

from __future__ import annotations

import pytest

from fleetport.core.credentials import BearerToken
from fleetport.core.errors import Conflict, Invalid, PermissionDenied
from fleetport.core.fleet import Fleet
from fleetport.core.models import GrantSpec
from fleetport.core.pages import PageRequest
from fleetport.core.permissions import Principal
from tests.unit.core.helpers import login


def test_machine_summaries_carry_last_access_and_main_part(fleet: Fleet, admin: Principal) -> None:
    org = fleet.organizations.create(admin, "rovers")
    lab = fleet.locations.create(admin, org.id, "lab")
    seen, unseen = (fleet.machines.create(admin, lab.id, name) for name in ("seen", "unseen"))
    main = fleet.machines.parts(admin, seen.id)[0]
    extra = fleet.machines.create_part(admin, seen.id, "arm")
    as_part = fleet.identity.authenticate(BearerToken(fleet.machines.create_secret(admin, extra.id).secret))
    fleet.machines.get_config(as_part, extra.id)
    found = {s.machine.id: s for s in fleet.machines.summaries(admin, location_id=lab.id)}
    assert set(found) == {seen.id, unseen.id}
    assert found[seen.id].main_part_id == main.id
    assert found[seen.id].last_access == fleet.machines.get_part(admin, extra.id).last_access
    assert found[seen.id].last_access is not None and found[seen.id].last_access.tzinfo is not None
    assert found[unseen.id].last_access is None
    assert fleet.machines.summary(admin, seen.id) == found[seen.id]
    assert fleet.machines.rentals(admin, org.id) == []


def test_machine_summaries_keep_the_callers_reach(fleet: Fleet, admin: Principal) -> None:
    fleet.identity.create_user(admin, "eve@example.com", "eve", "password1")
    eve = login(fleet, "eve@example.com")
    org = fleet.organizations.create(admin, "theirs")
    lab = fleet.locations.create(admin, org.id, "lab")
    machine = fleet.machines.create(admin, lab.id, "rover")
    with pytest.raises(PermissionDenied):
        fleet.machines.summaries(eve, location_id=lab.id)
    with pytest.raises(PermissionDenied):
        fleet.machines.summary(eve, machine.id)
    with pytest.raises(PermissionDenied):
        fleet.machines.parts_details(eve, machine.id)


def test_location_summaries_count_machines(fleet: Fleet, admin: Principal) -> None:
    org = fleet.organizations.create(admin, "rovers")
    full, empty = (fleet.locations.create(admin, org.id, name) for name in ("full", "empty"))
    for n in range(3):
        fleet.machines.create(admin, full.id, f"rover {n}")
    counts = {s.location.id: s.robot_count for s in fleet.locations.summaries(admin, org.id)}
    assert counts == {full.id: 3, empty.id: 0}
    assert fleet.locations.summary(admin, full.id).robot_count == 3
    moved = fleet.locations.edit(admin, empty.id, name="renamed", parent_id=full.id)
    assert (moved.location.name, moved.location.parent_id, moved.robot_count) == ("renamed", full.id, 0)


def test_edit_part_renames_and_reconfigures_in_one_transaction(fleet: Fleet, admin: Principal) -> None:
    org = fleet.organizations.create(admin, "rovers")
    lab = fleet.locations.create(admin, org.id, "lab")
    machine = fleet.machines.create(admin, lab.id, "rover")
    main = fleet.machines.parts(admin, machine.id)[0]
    fleet.machines.create_part(admin, machine.id, "arm")
    done = fleet.machines.edit_part(admin, main.id, name="base", config={"components": []})
    assert (done.part.name, done.part.config, done.machine.id) == ("base", {"components": []}, machine.id)
    assert len(done.secrets) == 1
    assert len(fleet.machines.config_history(admin, main.id, PageRequest(10)).items) == 1
    # a name taken by the other part: the new config is not kept either
    with pytest.raises(Conflict):
        fleet.machines.edit_part(admin, main.id, name="arm", config={"components": [{"name": "x"}]})
    # a config refused: the new name is not kept either
    with pytest.raises(Invalid):
        fleet.machines.edit_part(admin, main.id, name="other", config={"x": "y" * 2_000_000})
    after = fleet.machines.get_part(admin, main.id)
    assert (after.name, after.config) == ("base", {"components": []})
    assert len(fleet.machines.config_history(admin, main.id, PageRequest(10)).items) == 1


def test_edit_part_is_refused_to_a_caller_who_may_not_configure(fleet: Fleet, admin: Principal) -> None:
    org = fleet.organizations.create(admin, "rovers")
    lab = fleet.locations.create(admin, org.id, "lab")
    machine = fleet.machines.create(admin, lab.id, "rover")
    main = fleet.machines.parts(admin, machine.id)[0]
    as_part = fleet.identity.authenticate(BearerToken(fleet.machines.create_secret(admin, main.id).secret))
    with pytest.raises(PermissionDenied):
        fleet.machines.edit_part(as_part, main.id, name="mine", config={})
    assert fleet.machines.get_part(admin, main.id).name == main.name


def test_key_authorizations_name_the_keys_organization(fleet: Fleet, admin: Principal) -> None:
    a, b = (fleet.organizations.create(admin, name) for name in ("a", "b"))
    with pytest.raises(Invalid, match="same"):
        fleet.identity.create_key(
            admin,
            a.id,
            "mixed",
            [GrantSpec("owner", "organization", a.id, a.id), GrantSpec("owner", "organization", a.id, b.id)],
        )
    assert fleet.identity.list_keys(admin, a.id, PageRequest(10)).items == []
    key = fleet.identity.create_key(admin, a.id, "named", [GrantSpec("owner", "organization", a.id, a.id)])
    unnamed = fleet.identity.create_key(admin, a.id, "unnamed", [GrantSpec("owner", "organization", a.id)])
    assert {k.id for k in fleet.identity.list_keys(admin, a.id, PageRequest(10)).items} == {
        key.id,
        unnamed.id,
    }


def test_a_role_changes_within_its_organization(fleet: Fleet, admin: Principal) -> None:
    a, b = (fleet.organizations.create(admin, name) for name in ("a", "b"))
    lab = fleet.locations.create(admin, a.id, "lab")
    fleet.identity.create_user(admin, "ann@example.com", "ann", "password1")
    ann = fleet.identity.find_user_by_email("ann@example.com")
    assert ann is not None
    held = GrantSpec("operator", "location", lab.id, a.id)
    fleet.identity.grant_to(admin, a.id, ann.id, held)
    with pytest.raises(Invalid, match="same"):
        fleet.identity.change_grant(
            admin, a.id, ann.id, held, ann.id, GrantSpec("owner", "organization", a.id, b.id)
        )
    with pytest.raises(Invalid, match="same"):
        fleet.identity.grant_to(admin, a.id, ann.id, GrantSpec("owner", "organization", a.id, b.id))
    held_now = [
        (x.role, x.resource_type, x.resource_id)
        for x in fleet.identity.list_authorizations(admin, a.id, PageRequest(10)).items
        if x.subject_id == ann.id
    ]
    assert held_now == [("operator", "location", lab.id)]


def test_part_details_show_secrets_only_to_who_manages_them(fleet: Fleet, admin: Principal) -> None:
    org = fleet.organizations.create(admin, "rovers")
    lab = fleet.locations.create(admin, org.id, "lab")
    machine = fleet.machines.create(admin, lab.id, "rover")
    fleet.machines.create_part(admin, machine.id, "arm")
    fleet.identity.create_user(admin, "olga@example.com", "olga", "password1")
    olga_user = fleet.identity.find_user_by_email("olga@example.com")
    assert olga_user is not None
    fleet.identity.grant_to(admin, org.id, olga_user.id, GrantSpec("operator", "organization", org.id))
    olga = login(fleet, "olga@example.com")
    owned = fleet.machines.parts_details(admin, machine.id)
    assert [len(d.secrets) for d in owned] == [1, 1]
    assert [d.secrets for d in fleet.machines.parts_details(olga, machine.id)] == [[], []]
    main = owned[0].part
    assert fleet.machines.part_details(admin, main.id).secrets == owned[0].secrets
    assert fleet.machines.part_details(olga, main.id).secrets == []
    as_part = fleet.identity.authenticate(BearerToken(fleet.machines.create_secret(admin, main.id).secret))
    assert fleet.machines.part_details(as_part, main.id).secrets == []


def test_part_history_is_newest_first_within_its_window(fleet: Fleet, admin: Principal) -> None:
    org = fleet.organizations.create(admin, "rovers")
    lab = fleet.locations.create(admin, org.id, "lab")
    machine = fleet.machines.create(admin, lab.id, "rover")
    main = fleet.machines.parts(admin, machine.id)[0]
    for n in range(1, 4):
        fleet.machines.set_config(admin, main.id, {"n": n})
    everything = fleet.machines.part_history(admin, main.id)
    assert (everything.part.id, everything.machine.id) == (main.id, machine.id)
    assert [r.previous_config for r in everything.revisions] == [{"n": 2}, {"n": 1}, {}]
    newest, middle, _ = (r.edited_at for r in everything.revisions)
    assert len(fleet.machines.part_history(admin, main.id, limit=2).revisions) == 2
    window = fleet.machines.part_history(admin, main.id, start=middle, end=newest).revisions
    assert [r.previous_config for r in window] == [{"n": 1}]
    fleet.identity.create_user(admin, "eve@example.com", "eve", "password1")
    with pytest.raises(PermissionDenied):
        fleet.machines.part_history(login(fleet, "eve@example.com"), main.id)


def test_rentals_are_the_machines_offered_as_deployments_for_who_reads_the_organization(
    fleet: Fleet, admin: Principal
) -> None:
    org = fleet.organizations.create(admin, "rovers")
    lab = fleet.locations.create(admin, org.id, "lab")
    rented = fleet.machines.create(admin, lab.id, "for rent")
    fleet.machines.create(admin, lab.id, "kept")
    elsewhere = fleet.organizations.create(admin, "diggers")
    theirs = fleet.machines.create(admin, fleet.locations.create(admin, elsewhere.id, "pit").id, "digger")
    fleet.remote.deployments.create(admin, theirs.id)
    assert fleet.machines.rentals(admin, org.id) == []
    deployment = fleet.remote.deployments.create(admin, rented.id, "fixed_misty2")
    (found,) = fleet.machines.rentals(admin, org.id)
    assert (found.machine.id, found.main_part_id) == (
        rented.id,
        fleet.machines.parts(admin, rented.id)[0].id,
    )
    fleet.identity.create_user(admin, "leo@example.com", "leo", "password1")
    leo_user = fleet.identity.find_user_by_email("leo@example.com")
    assert leo_user is not None
    fleet.identity.grant_to(admin, org.id, leo_user.id, GrantSpec("operator", "location", lab.id))
    leo = login(fleet, "leo@example.com")
    assert rented.id in [s.machine.id for s in fleet.machines.summaries(leo, organization_id=org.id)]
    with pytest.raises(PermissionDenied):
        fleet.machines.rentals(leo, org.id)
    fleet.remote.deployments.delete(admin, deployment.id)  # dissolved: no longer for rent
    assert fleet.machines.rentals(admin, org.id) == []
