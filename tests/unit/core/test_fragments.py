"""Fragments in the core services (SQLite and PostgreSQL): visibility across organizations,
history, usage counts from part configs, and bad input."""

from __future__ import annotations

import pytest

from fleetport.core.credentials import BearerToken
from fleetport.core.errors import FailedPrecondition, Invalid, NotFound, PermissionDenied
from fleetport.core.fleet import Fleet
from fleetport.core.models import GrantSpec
from fleetport.core.pages import Page, PageRequest
from fleetport.core.permissions import Principal
from fleetport.store import queries as q
from tests.unit.core.helpers import Two, login

UNKNOWN = "00000000-0000-7000-8000-000000000000"


def _user(fleet: Fleet, admin: Principal, email: str) -> Principal:
    fleet.identity.create_user(admin, email, email.split("@")[0], "password1")
    return login(fleet, email)


@pytest.fixture
def two(fleet: Fleet, admin: Principal) -> Two:
    """Two organizations, each owned by its own user."""
    _user(fleet, admin, "ann@example.com")
    _user(fleet, admin, "bob@example.com")
    a = fleet.organizations.create(login(fleet, "ann@example.com"), "Ann's")
    b = fleet.organizations.create(login(fleet, "bob@example.com"), "Bob's")
    return Two(login(fleet, "ann@example.com"), login(fleet, "bob@example.com"), a, b)


def _part(fleet: Fleet, admin: Principal, org_id: str, name: str) -> str:
    loc = fleet.locations.create(admin, org_id, f"{name} lab")
    machine = fleet.machines.create(admin, loc.id, name)
    return fleet.machines.parts(admin, machine.id)[0].id


def test_visibility_across_organizations(fleet: Fleet, two: Two) -> None:
    made = {}
    for org, owner in ((two.a, two.ann), (two.b, two.bob)):
        for vis in ("private", "public", "public_unlisted"):
            made[(org.name, vis)] = fleet.fragments.create(
                owner, org.id, f"{vis} of {org.name}", {"v": vis}, vis
            )
    a_private, a_public, a_unlisted = (made[("Ann's", v)] for v in ("private", "public", "public_unlisted"))
    b_public, b_unlisted = made[("Bob's", "public")], made[("Bob's", "public_unlisted")]
    assert a_public.public and not a_unlisted.public and not a_private.public
    assert a_private.organization_name == "Ann's" and a_private.config == {"v": "private"}

    def ids(fragments: list) -> set[str]:
        return {f.id for f in fragments}

    # the organization's own fragments and the public ones of others, never their unlisted ones
    assert ids(fleet.fragments.list(two.ann, two.a.id)) == {
        a_private.id,
        a_public.id,
        a_unlisted.id,
        b_public.id,
    }
    assert ids(fleet.fragments.list(two.ann, two.a.id, show_public=False)) == {
        a_private.id,
        a_public.id,
        a_unlisted.id,
    }
    assert ids(fleet.fragments.list(two.ann, two.a.id, visibilities=["public"])) == {a_public.id, b_public.id}
    assert ids(fleet.fragments.list(two.ann, two.a.id, visibilities=["public_unlisted", "private"])) == {
        a_private.id,
        a_unlisted.id,
    }
    assert fleet.fragments.list(two.ann, two.a.id, visibilities=[]) == fleet.fragments.list(two.ann, two.a.id)

    # public and unlisted fragments are readable by anyone signed in; private ones are not
    assert fleet.fragments.get(two.bob, a_public.id).name == "public of Ann's"
    assert fleet.fragments.get(two.bob, a_unlisted.id).id == a_unlisted.id
    assert fleet.fragments.get(two.ann, b_unlisted.id).id == b_unlisted.id
    with pytest.raises(PermissionDenied):
        fleet.fragments.get(two.bob, a_private.id)
    with pytest.raises(PermissionDenied):
        fleet.fragments.list(two.bob, two.a.id)
    with pytest.raises(PermissionDenied):
        fleet.fragments.history(two.bob, a_private.id, PageRequest())
    # reading is not changing
    with pytest.raises(PermissionDenied):
        fleet.fragments.update(two.bob, a_public.id, name="mine now")
    with pytest.raises(PermissionDenied):
        fleet.fragments.delete(two.bob, a_public.id)
    with pytest.raises(PermissionDenied):
        fleet.fragments.create(two.bob, two.a.id, "intruder")
    assert fleet.fragments.get(two.ann, a_public.id).name == "public of Ann's"


def test_operators_read_but_do_not_change(fleet: Fleet, admin: Principal, two: Two) -> None:
    fragment = fleet.fragments.create(two.ann, two.a.id, "base", {"components": []})
    key = fleet.identity.create_key(
        two.ann, two.a.id, "operator", [GrantSpec("operator", "organization", two.a.id)]
    )
    assert key.secret is not None
    operator = fleet.identity.authenticate(BearerToken(key.secret))
    assert fleet.fragments.get(operator, fragment.id).config == {"components": []}
    assert [f.id for f in fleet.fragments.list(operator, two.a.id)] == [fragment.id]
    with pytest.raises(PermissionDenied):
        fleet.fragments.update(operator, fragment.id, name="renamed")
    with pytest.raises(PermissionDenied):
        fleet.fragments.create(operator, two.a.id, "another")
    assert fleet.fragments.history(two.ann, fragment.id, PageRequest()) == Page([], None)


def test_history_pages_newest_first(fleet: Fleet, two: Two) -> None:
    fragment = fleet.fragments.create(two.ann, two.a.id, "v0", {"n": 0})
    for n in range(1, 24):
        visibility = "public" if n == 23 else None
        fleet.fragments.update(two.ann, fragment.id, name=f"v{n}", config={"n": n}, visibility=visibility)
    # an update without a config keeps the config
    latest = fleet.fragments.update(two.ann, fragment.id, name="final")
    assert (latest.name, latest.config, latest.visibility) == ("final", {"n": 23}, "public")
    assert latest.updated_at >= latest.created_at

    seen, cursor, sizes = [], None, []
    while True:
        page = fleet.fragments.history(two.bob, fragment.id, PageRequest(cursor=cursor))  # public now
        sizes.append(len(page.items))
        seen += page.items
        cursor = page.next_cursor
        if not cursor:
            break
    assert sizes == [10, 10, 4]
    assert [r.previous_name for r in seen] == ["v23", *(f"v{n}" for n in range(22, -1, -1))]
    assert [r.previous_config for r in seen][:2] == [{"n": 23}, {"n": 22}]
    assert seen[-1].previous_config == {"n": 0} and seen[-1].previous_visibility == "private"
    assert seen[0].previous_visibility == "public"
    assert {r.edited_by for r in seen} == {"ann@example.com"}
    assert all(r.fragment_id == fragment.id for r in seen)
    assert [r.edited_at for r in seen] == sorted((r.edited_at for r in seen), reverse=True)

    page = fleet.fragments.history(two.ann, fragment.id, PageRequest(24))
    assert len(page.items) == 24 and page.next_cursor is None
    page = fleet.fragments.history(two.ann, fragment.id, PageRequest(23))
    assert len(page.items) == 23 and page.next_cursor
    assert len(fleet.fragments.history(two.ann, fragment.id, PageRequest(23, page.next_cursor)).items) == 1
    assert len(fleet.fragments.history(two.ann, fragment.id, PageRequest()).items) == 10  # the default
    with pytest.raises(Invalid):
        fleet.fragments.history(two.ann, fragment.id, PageRequest(-1))
    with pytest.raises(Invalid):
        fleet.fragments.history(two.ann, fragment.id, PageRequest(1001))
    with pytest.raises(Invalid, match=r"cursor|token"):
        fleet.fragments.history(two.ann, fragment.id, PageRequest(cursor="not-a-token"))


def test_usage_counts_follow_part_configs(fleet: Fleet, admin: Principal, two: Two) -> None:
    shared = fleet.fragments.create(two.ann, two.a.id, "shared", {"x": 1}, "public")
    own = fleet.fragments.create(two.ann, two.a.id, "own")
    a_part = _part(fleet, admin, two.a.id, "rover")
    a_part2 = _part(fleet, admin, two.a.id, "arm")
    b_part = _part(fleet, admin, two.b.id, "drone")

    def counts(fragment_id: str) -> tuple[int, int, bool]:
        f = fleet.fragments.get(two.ann, fragment_id)
        return f.robot_part_count, f.organization_count, f.only_used_by_owner

    assert counts(shared.id) == (0, 0, True)
    # ids as strings or objects, upper case, repeated, unknown and malformed entries
    fleet.machines.set_config(
        admin, a_part, {"fragments": [shared.id, {"id": own.id}, shared.id.upper(), UNKNOWN, 42, "nope", {}]}
    )
    fleet.machines.set_config(admin, a_part2, {"fragments": [{"id": shared.id}]})
    assert counts(shared.id) == (2, 1, True)
    assert counts(own.id) == (1, 1, True)
    fleet.machines.set_config(admin, b_part, {"fragments": [shared.id], "components": []})
    assert counts(shared.id) == (3, 2, False)
    listed = {f.id: f for f in fleet.fragments.list(two.bob, two.b.id)}
    assert listed[shared.id].robot_part_count == 3 and not listed[shared.id].only_used_by_owner

    with pytest.raises(FailedPrecondition, match="3 machine part"):
        fleet.fragments.delete(two.ann, shared.id)
    assert fleet.fragments.get(two.ann, shared.id).id == shared.id

    # a config without fragments stops counting; so does a part that is gone
    fleet.machines.set_config(admin, a_part, {"fragments": "not a list"})
    assert counts(own.id) == (0, 0, True)
    assert counts(shared.id) == (2, 2, False)
    b_machine = fleet.machines.get_part(admin, b_part).machine_id
    fleet.machines.delete(admin, b_machine)
    assert counts(shared.id) == (1, 1, True)
    fleet.machines.set_config(admin, a_part2, {})
    assert counts(shared.id) == (0, 0, True)

    fleet.fragments.update(two.ann, shared.id, name="shared 2")
    fleet.fragments.delete(two.ann, shared.id)
    with pytest.raises(NotFound):
        fleet.fragments.get(two.ann, shared.id)
    with fleet.store.read() as conn:
        assert q.count(conn, "fragment_history", fragment_id=shared.id) == 0
    # a part may keep naming a fragment that is gone: it counts nothing
    fleet.machines.set_config(admin, a_part, {"fragments": [shared.id]})


def test_a_part_reads_the_private_fragments_its_config_uses(fleet: Fleet, admin: Principal, two: Two) -> None:
    used = fleet.fragments.create(two.ann, two.a.id, "used", {"k": "v"})
    unused = fleet.fragments.create(two.ann, two.a.id, "unused")
    part_id = _part(fleet, admin, two.a.id, "rover")
    fleet.machines.set_config(admin, part_id, {"fragments": [used.id]})
    secret = fleet.machines.create_secret(admin, part_id).secret
    part = fleet.identity.authenticate(BearerToken(secret))
    assert fleet.fragments.get(part, used.id).config == {"k": "v"}
    with pytest.raises(PermissionDenied):
        fleet.fragments.get(part, unused.id)


def test_bad_input_changes_nothing(fleet: Fleet, two: Two) -> None:
    fragment = fleet.fragments.create(two.ann, two.a.id, "base", {"a": 1})
    with pytest.raises(Invalid, match="visibility"):
        fleet.fragments.create(two.ann, two.a.id, "x", visibility="secret")
    with pytest.raises(Invalid):
        fleet.fragments.create(two.ann, two.a.id, "   ")
    with pytest.raises(Invalid):
        fleet.fragments.create(two.ann, two.a.id, "x" * 201)
    with pytest.raises(Invalid):
        fleet.fragments.create(two.ann, two.a.id, "x", config=["not", "an", "object"])  # type: ignore[arg-type]
    with pytest.raises(Invalid):
        fleet.fragments.create(two.ann, two.a.id, "x", config={"big": 2**70})
    with pytest.raises(NotFound):
        fleet.fragments.create(two.ann, UNKNOWN, "x")
    with pytest.raises(NotFound):
        fleet.fragments.create(two.ann, "not-an-id", "x")
    assert [f.id for f in fleet.fragments.list(two.ann, two.a.id)] == [fragment.id]

    with pytest.raises(Invalid):
        fleet.fragments.update(two.ann, fragment.id, name="base", visibility="everyone")
    with pytest.raises(Invalid):
        fleet.fragments.update(two.ann, fragment.id, name="")
    with pytest.raises(Invalid):
        fleet.fragments.list(two.ann, two.a.id, visibilities=["nope"])
    after = fleet.fragments.get(two.ann, fragment.id)
    assert (after.name, after.config, after.visibility) == ("base", {"a": 1}, "private")
    assert fleet.fragments.history(two.ann, fragment.id, PageRequest()) == Page([], None)

    for missing in (UNKNOWN, "nope", ""):
        with pytest.raises(NotFound):
            fleet.fragments.get(two.ann, missing)
        with pytest.raises(NotFound):
            fleet.fragments.update(two.ann, missing, name="x")
        with pytest.raises(NotFound):
            fleet.fragments.delete(two.ann, missing)
        with pytest.raises(NotFound):
            fleet.fragments.history(two.ann, missing, PageRequest())
