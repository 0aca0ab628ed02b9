"""Points of the AppClient reference that need a careful reading, through the real AppClient:
the words of the reference for defaults, empty values and what is refused."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

from grpclib.const import Status
from grpclib.exceptions import GRPCError
from viam.app.app_client import AppClient, Fragment
from viam.proto.app import RegistryItemStatus, Visibility
from viam.proto.app.packages import PackageType

from tests.conformance.viam.conftest import Viam, call
from tests.conformance.viam.test_fleet_methods import status_of


def _other_org(viam: Viam) -> tuple[str, str, str]:
    """Another organization with an owner key: (org id, key secret, key id)."""
    with viam.native() as admin:
        org = admin.organizations.create(f"other {uuid.uuid4().hex[:8]}")
        key = admin.keys.create(
            org.id, "owner", [{"role": "owner", "resource_type": "organization", "resource_id": org.id}]
        )
    return org.id, key.secret or "", key.id


def test_list_fragments_follows_show_public_and_visibilities(viam: Viam) -> None:
    async def make(app: AppClient, prefix: str, org_id: str) -> dict[str, str]:
        made = {}
        for visibility in (
            Fragment.Visibility.PRIVATE,
            Fragment.Visibility.PUBLIC,
            Fragment.Visibility.PUBLIC_UNLISTED,
        ):
            frag = await app.create_fragment(org_id, f"{prefix} {visibility.value}", {})
            if visibility != Fragment.Visibility.PRIVATE:
                await app.update_fragment(frag.id, frag.name, visibility=visibility)
            made[f"{prefix} {visibility.value}"] = frag.id
        return made

    other_org, secret, key_id = _other_org(viam)
    ids = viam.run(lambda app: make(app, "theirs", other_org), secret=secret, key_id=key_id)
    ids |= viam.run(lambda app: make(app, "mine", viam.org.id))
    names = {v: k for k, v in ids.items()}

    def listed(**kwargs: object) -> set[str]:
        found = call(viam, "list_fragments", viam.org.id, **kwargs)
        return {names[f.id] for f in found if f.id in names}

    # "If True, only public fragments will return. If False, only private fragments will return.
    # Defaults to True." and, for visibilities, "If empty, by default only public fragments"
    assert listed() == {"mine public", "theirs public"}
    assert listed(visibilities=[]) == {"mine public", "theirs public"}
    assert listed(show_public=False) == {"mine private"}
    assert listed(visibilities=[Fragment.Visibility.PRIVATE]) == {"mine private"}
    assert listed(visibilities=[Fragment.Visibility.PUBLIC_UNLISTED]) == {"mine public_unlisted"}
    assert listed(visibilities=[Fragment.Visibility.PRIVATE, Fragment.Visibility.PUBLIC]) == {
        "mine private",
        "mine public",
        "theirs public",
    }
    assert listed(show_public=False, visibilities=[Fragment.Visibility.PUBLIC]) == {
        "mine public",
        "theirs public",
    }


def test_check_permissions_with_nothing_to_check_is_refused(viam: Viam) -> None:
    assert status_of(viam, "check_permissions", []) == Status.INVALID_ARGUMENT


def test_invite_without_authorizations_makes_an_owner_and_members_are_not_invited(viam: Viam) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    invite = call(viam, "create_organization_invite", viam.org.id, email)
    assert [
        (a.authorization_id, a.resource_type, a.resource_id, a.organization_id) for a in invite.authorizations
    ] == [("organization_owner", "organization", viam.org.id, viam.org.id)]
    with viam.native() as admin:
        member = admin.users.create(f"{uuid.uuid4().hex[:8]}@example.com", "password1")
    call(viam, "add_role", viam.org.id, member.id, "operator", "location", _location(viam))
    assert status_of(viam, "create_organization_invite", viam.org.id, member.email) == Status.ALREADY_EXISTS
    assert status_of(viam, "create_organization_invite", viam.org.id, member.email.upper()) == (
        Status.ALREADY_EXISTS
    )
    assert [i.email for i in call(viam, "list_organization_members", viam.org.id)[1]] == [email]


def _location(viam: Viam) -> str:
    return str(call(viam, "create_location", viam.org.id, f"loc {uuid.uuid4().hex[:6]}").id)


def test_list_registry_items_returns_every_match(viam: Viam) -> None:
    count = 130

    async def make(app: AppClient) -> None:
        for i in range(count):
            await app.create_registry_item(
                viam.org.id, f"script-{i:03d}", PackageType.PACKAGE_TYPE_ML_TRAINING
            )

    viam.run(make)
    found = call(
        viam,
        "list_registry_items",
        viam.org.id,
        [PackageType.PACKAGE_TYPE_ML_TRAINING],
        [Visibility.VISIBILITY_PRIVATE],
        [],
        [RegistryItemStatus.REGISTRY_ITEM_STATUS_IN_DEVELOPMENT],
    )
    assert sorted(i.name for i in found) == [f"script-{i:03d}" for i in range(count)]
    everything = call(viam, "list_registry_items", viam.org.id, [], [], [], [])
    assert len(everything) == count


def test_updates_refuse_an_empty_name(viam: Viam) -> None:
    loc = _location(viam)
    robot_id = call(viam, "new_robot", "rover", loc)
    (part,) = call(viam, "get_robot_parts", robot_id)
    frag = call(viam, "create_fragment", viam.org.id, "kit", {"a": 1})
    org_name = call(viam, "get_organization", viam.org.id).name
    assert status_of(viam, "update_organization", viam.org.id, name="") == Status.INVALID_ARGUMENT
    assert status_of(viam, "update_robot", robot_id, "") == Status.INVALID_ARGUMENT
    assert status_of(viam, "update_robot", robot_id, "  ", loc) == Status.INVALID_ARGUMENT
    assert status_of(viam, "update_robot_part", part.id, "", {"b": 2}) == Status.INVALID_ARGUMENT
    assert status_of(viam, "update_fragment", frag.id, "", {"b": 2}) == Status.INVALID_ARGUMENT
    # nothing changed
    assert call(viam, "get_organization", viam.org.id).name == org_name
    assert call(viam, "get_robot", robot_id).name == "rover"
    after = call(viam, "get_robot_part", part.id)
    assert (after.name, after.robot_config) == (part.name, {})
    got = call(viam, "get_fragment", frag.id)
    assert (got.name, got.fragment) == ("kit", {"a": 1})
    # the reference's update_location takes "" as "keep the name"
    assert call(viam, "update_location", loc, name="").name.startswith("loc ")


def test_part_logs_newest_first_by_their_time_with_a_filter_folding_every_script(viam: Viam) -> None:
    robot_id = call(viam, "new_robot", "logger", _location(viam))
    (part,) = call(viam, "get_robot_parts", robot_id)
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    arrivals = [  # arrival order differs from time order
        ("Straße 3", t0 + timedelta(seconds=3)),
        ("ÄRGER 1", t0 + timedelta(seconds=1)),
        ("plain 4", t0 + timedelta(seconds=4)),
        ("ärger 0", t0),
        ("ΣΟΦΙΑ 2", t0 + timedelta(seconds=2)),
    ]
    with viam.native(viam.key.secret or "") as fp:
        for message, at in arrivals:
            fp.logs.append(part.id, [{"time": at, "level": "info", "message": message}])

    def messages(**kwargs: object) -> list[str]:
        return [e.message for e in call(viam, "get_robot_part_logs", part.id, **kwargs)]

    assert messages() == ["plain 4", "Straße 3", "ΣΟΦΙΑ 2", "ÄRGER 1", "ärger 0"]
    assert messages(num_log_entries=2) == ["plain 4", "Straße 3"]
    assert messages(filter="äRGER") == ["ÄRGER 1", "ärger 0"]
    assert messages(filter="STRASSE") == ["Straße 3"]
    assert messages(filter="σοφια") == ["ΣΟΦΙΑ 2"]


async def _refusal(work: Awaitable[Any]) -> Status | None:
    """The status a call is refused with (None when it succeeds)."""
    try:
        await work
    except GRPCError as exc:
        return exc.status
    return None


def test_update_robot_part_takes_a_config_as_json_text(viam: Viam) -> None:
    """The viam-sdk's ``robot_config_json`` (raw JSON text, the user's key order) sets the config, and
    wins over ``robot_config``; text that is not a JSON object is refused."""

    async def scenario(app: AppClient) -> tuple[Any, Any, Any, Any]:
        location = await app.create_location(viam.org.id, "json configs")
        part = (await app.get_robot_parts(await app.new_robot("json", location.id)))[0]
        text = '{"z": 1, "a": [2]}'
        set_by_text = await app.update_robot_part(part.id, part.name, robot_config_json=text)
        struct = {"from": "struct"}
        both = await app.update_robot_part(part.id, part.name, struct, robot_config_json='{"b": 3}')
        refused = [
            await _refusal(app.update_robot_part(part.id, part.name, robot_config_json=text))
            for text in ("not json", "[1, 2]", '{"n": 1e999}')
        ]
        # a Struct is a map (no order): the key order comes back in robot_config_json
        keys = list(json.loads(set_by_text.robot_config_json))
        return set_by_text.robot_config, keys, both.robot_config, refused

    config, keys, both, refused = viam.run(scenario)
    assert config == {"z": 1, "a": [2]} and keys == ["z", "a"]
    assert both == {"b": 3}
    assert refused == [Status.INVALID_ARGUMENT] * 3


def test_a_stale_last_known_update_is_refused_and_changes_nothing(viam: Viam) -> None:
    """``last_known_update`` older than the config (or fragment) on the server: the write is refused
    and leaves everything as it was; the time the server last gave out is accepted."""

    async def scenario(app: AppClient) -> dict[str, Any]:
        location = await app.create_location(viam.org.id, "stale writes")
        part = (await app.get_robot_parts(await app.new_robot("stale", location.id)))[0]
        first = await app.update_robot_part(part.id, part.name, {"v": 1})
        long_ago = datetime(2000, 1, 1, tzinfo=UTC)
        out: dict[str, Any] = {}
        out["stale part"] = await _refusal(
            app.update_robot_part(part.id, "renamed", {"v": 2}, last_known_update=long_ago)
        )
        now = await app.get_robot_part(part.id)
        out["part after"] = (now.name, now.robot_config)
        seen = first.last_updated
        fresh = await app.update_robot_part(part.id, part.name, {"v": 3}, last_known_update=seen)
        out["fresh part"] = fresh.robot_config
        fragment = await app.create_fragment(viam.org.id, "stale fragment", {"v": 1})
        out["stale fragment"] = await _refusal(
            app.update_fragment(fragment.id, "renamed", {"v": 2}, last_known_update=long_ago)
        )
        kept = await app.get_fragment(fragment.id)
        out["fragment after"] = (kept.name, kept.fragment)
        updated = await app.update_fragment(
            fragment.id, "fresh", {"v": 3}, last_known_update=kept.last_updated
        )
        out["fresh fragment"] = (updated.name, updated.fragment)
        return out

    out = viam.run(scenario)
    assert out["stale part"] == Status.FAILED_PRECONDITION
    assert out["part after"][1] == {"v": 1} and out["part after"][0] != "renamed"
    assert out["fresh part"] == {"v": 3}
    assert out["stale fragment"] == Status.FAILED_PRECONDITION
    assert out["fragment after"] == ("stale fragment", {"v": 1})
    assert out["fresh fragment"] == ("fresh", {"v": 3})
