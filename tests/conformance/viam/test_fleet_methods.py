"""Organizations, members, locations, robots, parts, roles and keys through the real AppClient."""

from __future__ import annotations

import uuid

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from viam.app.app_client import APIKeyAuthorization, AppClient
from viam.proto.app import AuthorizedPermissions

from tests.conformance.viam.conftest import Viam, call


def status_of(viam: Viam, method: str, *args: object, **kwargs: object) -> Status:
    with pytest.raises(GRPCError) as caught:
        call(viam, method, *args, **kwargs)
    assert caught.value.message, "errors carry a message"
    return caught.value.status


def test_organizations(viam: Viam) -> None:
    org = call(viam, "get_organization", viam.org.id)
    assert (org.id, org.name) == (viam.org.id, viam.org.name)
    assert viam.org.id in [o.id for o in call(viam, "list_organizations")]
    namespace = f"ns-{uuid.uuid4().hex[:10]}"
    assert call(viam, "get_organization_namespace_availability", namespace) is True
    updated = call(
        viam,
        "update_organization",
        viam.org.id,
        name="Renamed",
        public_namespace=namespace,
        region="eu-west",
        cid="cid-1",
    )
    assert (updated.name, updated.public_namespace, updated.default_region, updated.cid) == (
        "Renamed",
        namespace,
        "eu-west",
        "cid-1",
    )
    assert call(viam, "get_organization_namespace_availability", namespace) is False
    assert status_of(viam, "get_organization_namespace_availability", "Not Valid!") == Status.INVALID_ARGUMENT
    assert status_of(viam, "update_organization", viam.org.id, public_namespace="other-ns") == (
        Status.FAILED_PRECONDITION
    )
    assert status_of(viam, "get_organization", str(uuid.uuid4())) == Status.NOT_FOUND
    assert status_of(viam, "get_organization", "not-a-uuid") == Status.INVALID_ARGUMENT


def test_create_and_delete_organization(viam: Viam) -> None:
    with viam.native() as admin:  # only users and administrator keys create organizations
        user = admin.users.create(f"{uuid.uuid4().hex[:8]}@example.com", "password1")
        session = admin.__class__.login(user.email, "password1", viam.server.url)
    with session:
        token = session.api_key
    assert token

    async def scenario(app: AppClient) -> tuple[str, list[str]]:
        made = await app.create_organization("Made over gRPC")
        mine = [o.id for o in await app.list_organizations()]
        await app.delete_organization(made.id)
        return made.id, mine

    made_id, mine = viam.run(scenario, secret=token) if viam.route == "channel" else (None, None)
    if made_id is not None:
        assert made_id in (mine or [])
    assert status_of(viam, "create_organization", "a key cannot") == Status.PERMISSION_DENIED


def test_members_and_invites(viam: Viam) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    with viam.native() as admin:
        user = admin.users.create(email, "password1")
    assert call(viam, "get_user_id_by_email", email) == user.id
    assert status_of(viam, "get_user_id_by_email", "nobody-here@example.com") == Status.NOT_FOUND
    loc = call(viam, "create_location", viam.org.id, "Lab")
    invite = call(
        viam, "create_organization_invite", viam.org.id, email, [_auth(viam, "location", loc.id, "operator")]
    )
    assert (invite.email, [a.resource_id for a in invite.authorizations]) == (email, [loc.id])
    assert status_of(viam, "create_organization_invite", viam.org.id, email) == Status.ALREADY_EXISTS
    updated = call(
        viam,
        "update_organization_invite_authorizations",
        viam.org.id,
        email,
        add_authorizations=[_auth(viam, "organization", viam.org.id, "owner")],
        remove_authorizations=[_auth(viam, "location", loc.id, "operator")],
    )
    assert [(a.resource_type, a.authorization_id) for a in updated.authorizations] == [
        ("organization", "organization_owner")
    ]
    assert call(viam, "resend_organization_invite", viam.org.id, email).email == email
    members, invites = call(viam, "list_organization_members", viam.org.id)
    assert [i.email for i in invites] == [email]
    assert user.id not in [m.user_id for m in members]
    call(viam, "delete_organization_invite", viam.org.id, email)
    assert call(viam, "list_organization_members", viam.org.id)[1] == []
    assert status_of(viam, "resend_organization_invite", viam.org.id, email) == Status.NOT_FOUND

    call(viam, "add_role", viam.org.id, user.id, "operator", "organization", viam.org.id)
    members, _ = call(viam, "list_organization_members", viam.org.id)
    assert [(m.user_id, list(m.emails)) for m in members] == [(user.id, [email])]
    assert [o.org_id for o in call(viam, "list_organizations_by_user", user.id)] == [viam.org.id]
    call(viam, "delete_organization_member", viam.org.id, user.id)
    assert call(viam, "list_organization_members", viam.org.id)[0] == []


def _auth(viam: Viam, resource_type: str, resource_id: str, role: str) -> object:
    from viam.proto.app import Authorization

    return Authorization(
        authorization_type="role",
        authorization_id=f"{resource_type}_{role}",
        resource_type=resource_type,
        resource_id=resource_id,
        organization_id=viam.org.id,
        identity_type="user",
    )


def test_locations(viam: Viam) -> None:
    site = call(viam, "create_location", viam.org.id, "Site")
    bay = call(viam, "create_location", viam.org.id, "Bay", parent_location_id=site.id)
    assert (bay.name, bay.parent_location_id) == ("Bay", site.id)
    assert [(o.organization_id, o.primary) for o in bay.organizations] == [(viam.org.id, True)]
    got = call(viam, "get_location", bay.id)
    assert (got.id, got.robot_count) == (bay.id, 0)
    renamed = call(viam, "update_location", bay.id, name="Bay 2")
    assert (renamed.name, renamed.parent_location_id) == ("Bay 2", site.id)
    # the reference's own examples: name "" keeps the name, parent_location_id "" moves to the top
    kept = call(viam, "update_location", bay.id, name="", parent_location_id="")
    assert (kept.name, kept.parent_location_id) == ("Bay 2", "")
    assert call(viam, "get_location", bay.id).parent_location_id == ""
    nested = call(viam, "update_location", bay.id, name="", parent_location_id=site.id)
    assert (nested.name, nested.parent_location_id) == ("Bay 2", site.id)
    unchanged = call(viam, "update_location", bay.id)  # neither given: nothing changes
    assert (unchanged.name, unchanged.parent_location_id) == ("Bay 2", site.id)
    assert {loc.id for loc in call(viam, "list_locations", viam.org.id)} == {site.id, bay.id}
    assert status_of(viam, "get_location") == Status.INVALID_ARGUMENT  # Viam sends "" for no id
    assert status_of(viam, "create_location", viam.org.id, "") == Status.INVALID_ARGUMENT
    assert status_of(viam, "create_location", viam.org.id, "x" * 300) == Status.INVALID_ARGUMENT
    assert status_of(viam, "delete_location", site.id) == Status.FAILED_PRECONDITION

    initial = call(viam, "location_auth", bay.id)  # a new location comes with one secret
    assert (initial.location_id, len(initial.secrets)) == (bay.id, 1) and initial.secret
    assert initial.secret == initial.secrets[0].secret
    auth = call(viam, "create_location_secret", bay.id)
    assert (auth.location_id, len(auth.secrets)) == (bay.id, 2) and auth.secrets[1].secret
    auth = call(viam, "create_location_secret", bay.id)
    assert len(call(viam, "location_auth", bay.id).secrets) == 3
    call(viam, "delete_location_secret", auth.secrets[0].id, bay.id)
    call(viam, "delete_location_secret", auth.secrets[1].id, bay.id)
    assert [s.id for s in call(viam, "location_auth", bay.id).secrets] == [auth.secrets[2].id]

    with viam.native() as admin:
        partner = admin.organizations.create("Partner")
    call(viam, "share_location", partner.id, bay.id)
    identities = call(viam, "get_organizations_with_access_to_location", bay.id)
    assert [(i.id, i.name) for i in identities] == [(viam.org.id, viam.org.name), (partner.id, "Partner")]
    assert status_of(viam, "share_location", partner.id, bay.id) == Status.ALREADY_EXISTS
    call(viam, "unshare_location", partner.id, bay.id)
    assert len(call(viam, "get_organizations_with_access_to_location", bay.id)) == 1
    call(viam, "delete_location", bay.id)
    assert status_of(viam, "get_location", bay.id) == Status.NOT_FOUND


def test_robots_and_parts(viam: Viam) -> None:
    loc = call(viam, "create_location", viam.org.id, "Yard")
    other = call(viam, "create_location", viam.org.id, "Shed")
    robot_id = call(viam, "new_robot", "rover", loc.id)
    robot = call(viam, "get_robot", robot_id)
    assert (robot.id, robot.name, robot.location) == (robot_id, "rover", loc.id)
    assert [r.id for r in call(viam, "list_robots", loc.id)] == [robot_id]
    assert status_of(viam, "new_robot", "rover") == Status.INVALID_ARGUMENT  # no location
    moved = call(viam, "update_robot", robot_id, "rover-2", other.id)
    assert (moved.name, moved.location) == ("rover-2", other.id)
    assert call(viam, "list_robots", loc.id) == []

    (main,) = call(viam, "get_robot_parts", robot_id)
    assert main.main_part and main.robot == robot_id and main.location_id == other.id and main.fqdn
    assert len(main.secrets) == 1 and main.secret == main.secrets[0].secret  # new_robot's part has one
    arm_id = call(viam, "new_robot_part", robot_id, "arm")
    assert status_of(viam, "new_robot_part", robot_id, "arm") == Status.ALREADY_EXISTS
    config = {"components": [{"name": "gripper", "type": "gripper", "attributes": {"force": 5}}]}
    updated = call(viam, "update_robot_part", arm_id, "arm", config)
    assert updated.robot_config == config
    call(viam, "update_robot_part", arm_id, "arm-2", {"components": []})
    part = call(viam, "get_robot_part", arm_id)
    assert (part.name, part.robot_config, part.main_part) == ("arm-2", {"components": []}, False)
    history = call(viam, "get_robot_part_history", arm_id)
    assert [h.old.robot_config for h in history] == [config, {}]
    assert all(h.part == arm_id and h.robot == robot_id and h.when for h in history)

    call(viam, "mark_part_as_main", arm_id)
    assert {p.name: p.main_part for p in call(viam, "get_robot_parts", robot_id)} == {
        "rover-main": False,
        "arm-2": True,
    }
    assert status_of(viam, "delete_robot_part", arm_id) == Status.FAILED_PRECONDITION
    call(viam, "mark_part_for_restart", arm_id)
    (first,) = call(viam, "get_robot_part", arm_id).secrets  # a new part comes with one secret
    with_secret = call(viam, "create_robot_part_secret", arm_id)
    assert len(with_secret.secrets) == 2 and with_secret.secrets[0].id == first.id
    assert with_secret.secret == first.secret
    for made in with_secret.secrets:
        call(viam, "delete_robot_part_secret", arm_id, made.id)
    assert call(viam, "get_robot_part", arm_id).secrets == []
    call(viam, "delete_robot_part", main.id)
    assert [p.id for p in call(viam, "get_robot_parts", robot_id)] == [arm_id]

    with viam.native(viam.key.secret or "") as fp:  # the same fleet through the native API
        assert fp.parts.get_config(arm_id).config == {"components": []}
        fp.parts.set_config(arm_id, {"services": [{"name": "nav"}]})
        assert fp.parts.get(arm_id).restart_required is True
    assert call(viam, "get_robot_part", arm_id).robot_config == {"services": [{"name": "nav"}]}
    call(viam, "delete_robot", robot_id)
    assert status_of(viam, "get_robot", robot_id) == Status.NOT_FOUND


def test_rover_rentals_are_the_machines_offered_as_deployments(viam: Viam) -> None:
    loc = call(viam, "create_location", viam.org.id, "Rental bay")
    rented = call(viam, "new_robot", "rental-1", loc.id)
    call(viam, "new_robot", "not-for-rent", loc.id)
    assert call(viam, "get_rover_rental_robots", viam.org.id) == []
    with viam.native(viam.key.secret or "") as fp:
        deployment = fp.deployments.create(rented, type="rover", region="us:cali")
    (rental,) = call(viam, "get_rover_rental_robots", viam.org.id)
    main = next(p for p in call(viam, "get_robot_parts", rented) if p.main_part)
    assert (rental.robot_id, rental.robot_name, rental.location_id, rental.robot_main_part_id) == (
        rented,
        "rental-1",
        loc.id,
        main.id,
    )
    key, key_id = call(
        viam,
        "create_key",
        viam.org.id,
        [APIKeyAuthorization(role="operator", resource_type="location", resource_id=loc.id)],
        "bay",
    )

    async def rentals(app: AppClient) -> object:
        return await app.get_rover_rental_robots(viam.org.id)

    with pytest.raises(GRPCError) as caught:  # reads the bay's robots, not the organization
        viam.run(rentals, secret=key, key_id=key_id)
    assert caught.value.status == Status.PERMISSION_DENIED
    with viam.native(viam.key.secret or "") as fp:
        fp.deployments.delete(deployment.id)  # dissolved: no longer for rent
    assert call(viam, "get_rover_rental_robots", viam.org.id) == []


def test_keys_roles_and_permissions(viam: Viam) -> None:
    loc = call(viam, "create_location", viam.org.id, "Cell")
    robot_id = call(viam, "new_robot", "welder", loc.id)
    key, key_id = call(
        viam,
        "create_key",
        viam.org.id,
        [APIKeyAuthorization(role="operator", resource_type="location", resource_id=loc.id)],
        "cell",
    )
    assert key and key_id
    listed = {k.api_key.id: k for k in call(viam, "list_keys", viam.org.id)}
    assert [(a.authorization_id, a.resource_id) for a in listed[key_id].authorizations] == [
        ("location_operator", loc.id)
    ]
    assert listed[key_id].api_key.key == ""  # secrets are shown once
    assert key_id in [k.api_key.id for k in call(viam, "get_robot_api_keys", robot_id)]
    assert status_of(viam, "create_key", viam.org.id, []) == Status.INVALID_ARGUMENT

    clone, clone_id = call(viam, "create_key_from_existing_key_authorizations", key_id)
    assert clone_id != key_id and clone
    new_key, same_id = call(viam, "rotate_key", key_id)
    assert same_id == key_id and new_key != key

    asked = [
        AuthorizedPermissions(
            resource_type="robot",
            resource_id=robot_id,
            permissions=["read_robot", "control_robot", "update_robot_config", "fly"],
        )
    ]

    async def as_operator(app: AppClient) -> list[str]:
        (result,) = await app.check_permissions(asked)
        return list(result.permissions)

    assert viam.run(as_operator, secret=new_key, key_id=key_id) == ["read_robot", "control_robot"]
    with pytest.raises(GRPCError) as caught:
        viam.run(as_operator, secret=key, key_id=key_id)  # the rotated-out secret
    assert caught.value.status == Status.UNAUTHENTICATED

    call(viam, "add_role", viam.org.id, clone_id, "owner", "robot", robot_id)
    auths = call(viam, "list_authorizations", viam.org.id, [robot_id])
    assert [(a.identity_id, a.authorization_id, a.identity_type) for a in auths] == [
        (clone_id, "robot_owner", "api-key")
    ]
    call(
        viam,
        "change_role",
        viam.org.id,
        clone_id,
        "owner",
        "robot",
        robot_id,
        clone_id,
        "operator",
        "robot",
        robot_id,
    )
    assert [a.authorization_id for a in call(viam, "list_authorizations", viam.org.id, [robot_id])] == [
        "robot_operator"
    ]
    call(viam, "remove_role", viam.org.id, clone_id, "operator", "robot", robot_id)
    assert call(viam, "list_authorizations", viam.org.id, [robot_id]) == []
    assert (
        status_of(viam, "remove_role", viam.org.id, clone_id, "operator", "robot", robot_id)
        == Status.NOT_FOUND
    )
    call(viam, "delete_key", clone_id)
    assert clone_id not in [k.api_key.id for k in call(viam, "list_keys", viam.org.id)]


def test_unauthenticated_and_unimplemented(viam: Viam) -> None:
    async def anonymous(app: AppClient) -> object:
        return await app.list_organizations()

    with pytest.raises(GRPCError) as caught:
        viam.run(anonymous, secret="fpk_not-a-real-key-" + "x" * 20)
    assert caught.value.status == Status.UNAUTHENTICATED
    if viam.route != "channel":
        return

    async def outside_the_seventy(app: AppClient) -> object:
        return await app.list_favorite_machines()

    with pytest.raises(GRPCError) as caught:
        viam.run(outside_the_seventy)
    assert caught.value.status == Status.UNIMPLEMENTED


def test_locations_carry_their_secrets_for_who_manages_them(viam: Viam) -> None:
    """Location.auth holds the location's secrets, as LocationAuth gives them, in GetLocation,
    ListLocations and UpdateLocation answers to an owner; an operator reads the locations without."""
    lab = call(viam, "create_location", viam.org.id, "Lab")
    yard = call(viam, "create_location", viam.org.id, "Yard")
    call(viam, "create_location_secret", yard.id)
    auths = {loc.id: call(viam, "location_auth", loc.id) for loc in (lab, yard)}
    assert [len(auths[loc.id].secrets) for loc in (lab, yard)] == [1, 2]

    got = call(viam, "get_location", yard.id)
    assert got.auth == auths[yard.id]
    assert (got.auth.location_id, got.auth.secret) == (yard.id, auths[yard.id].secrets[0].secret)
    assert {loc.id: loc.auth for loc in call(viam, "list_locations", viam.org.id)} == auths
    assert call(viam, "update_location", lab.id, name="Lab 2").auth == auths[lab.id]

    secret, key_id = call(
        viam,
        "create_key",
        viam.org.id,
        [APIKeyAuthorization(role="operator", resource_type="organization", resource_id=viam.org.id)],
        "operator",
    )

    async def as_operator(app: AppClient) -> list[bool]:
        listed = await app.list_locations(viam.org.id)
        got = await app.get_location(yard.id)
        return [loc.HasField("auth") for loc in [*listed, got]]

    assert viam.run(as_operator, secret=secret, key_id=key_id) == [False, False, False]
