"""An operator key on one location, through the real AppClient; and one fleet seen by two APIs."""

from __future__ import annotations

from grpclib.const import Status
from viam.app.app_client import APIKeyAuthorization, AppClient

from tests.conformance.viam.conftest import Viam, call


def test_operator_key_reaches_its_location_only(viam: Viam) -> None:
    inside = call(viam, "create_location", viam.org.id, "Inside")
    outside = call(viam, "create_location", viam.org.id, "Outside")
    robot_in = call(viam, "new_robot", "in", inside.id)
    robot_out = call(viam, "new_robot", "out", outside.id)
    (part_in,) = call(viam, "get_robot_parts", robot_in)
    (part_out,) = call(viam, "get_robot_parts", robot_out)
    secret, key_id = call(
        viam,
        "create_key",
        viam.org.id,
        [APIKeyAuthorization(role="operator", resource_type="location", resource_id=inside.id)],
        "operator",
    )

    async def as_operator(app: AppClient) -> dict[str, object]:
        seen: dict[str, object] = {
            "robot": (await app.get_robot(robot_in)).id,
            "parts": [p.id for p in await app.get_robot_parts(robot_in)],
            "part": (await app.get_robot_part(part_in.id)).id,
            "logs": await app.get_robot_part_logs(part_in.id),
            "robots": [r.id for r in await app.list_robots(inside.id)],
            "locations": [loc.id for loc in await app.list_locations(viam.org.id)],
        }
        await app.mark_part_for_restart(part_in.id)  # operators control machines
        for name, attempt in {
            "robot_out": app.get_robot(robot_out),
            "part_out": app.get_robot_part(part_out.id),
            "logs_out": app.get_robot_part_logs(part_out.id),
            "location_out": app.get_location(outside.id),
            "list_out": app.list_robots(outside.id),
            "organization": app.get_organization(viam.org.id),
            "members": app.list_organization_members(viam.org.id),
            "keys": app.list_keys(viam.org.id),
            "update_part": app.update_robot_part(part_in.id, part_in.name, {"x": 1}),
            "new_robot": app.new_robot("sneaky", inside.id),
            "delete_robot": app.delete_robot(robot_in),
            "create_key": app.create_key(
                viam.org.id,
                [APIKeyAuthorization(role="owner", resource_type="organization", resource_id=viam.org.id)],
            ),
        }.items():
            try:
                await attempt
            except Exception as exc:  # GRPCError; anything else fails the comparison below
                seen[name] = getattr(exc, "status", exc)
            else:
                seen[name] = "allowed"
        return seen

    seen = viam.run(as_operator, secret=secret, key_id=key_id)
    assert seen.pop("robot") == robot_in
    assert seen.pop("parts") == [part_in.id] and seen.pop("part") == part_in.id
    assert seen.pop("logs") == [] and seen.pop("robots") == [robot_in]
    assert seen.pop("locations") == [inside.id]
    assert seen == dict.fromkeys(seen, Status.PERMISSION_DENIED)
    assert call(viam, "get_robot_part", part_in.id).robot_config == {}  # nothing was changed


def test_one_fleet_two_apis(viam: Viam) -> None:
    loc = call(viam, "create_location", viam.org.id, "Shared")
    robot_id = call(viam, "new_robot", "both-ways", loc.id)
    with viam.native(viam.key.secret or "") as fp:
        machine = fp.machines.get(robot_id)
        assert (machine.name, machine.location_id, machine.organization_id) == (
            "both-ways",
            loc.id,
            viam.org.id,
        )
        made = fp.machines.create(loc.id, "from-rest")
        (main,) = list(fp.machines.parts(made.id))
        fp.parts.set_config(main.id, {"components": [{"name": "lidar"}]})
    assert {r.name for r in call(viam, "list_robots", loc.id)} == {"both-ways", "from-rest"}
    part = call(viam, "get_robot_part", main.id)
    assert part.robot_config == {"components": [{"name": "lidar"}]} and part.robot == made.id
