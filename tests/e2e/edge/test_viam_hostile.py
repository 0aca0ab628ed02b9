"""Hostile text and numbers through the Viam dialect with the real viam-sdk AppClient (names, ids,
config Structs, log filters, emails), on SQLite and PostgreSQL side by side: never
INTERNAL or UNKNOWN, a clear status (INVALID_ARGUMENT, NOT_FOUND, ...) or a success, and what was
accepted reads back the same on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.encoding.proto import ProtoCodec
from grpclib.exceptions import GRPCError
from viam.app.app_client import APIKeyAuthorization, AppClient
from viam.proto import app as pb
from viam.proto.app import AppServiceStub
from viam.proto.app.packages import PackageType

from tests.e2e.edge.conftest import Side, fuzz_numbers, fuzz_text, same_on_both

CLEAR = {
    Status.INVALID_ARGUMENT,
    Status.NOT_FOUND,
    Status.ALREADY_EXISTS,
    Status.FAILED_PRECONDITION,
    Status.PERMISSION_DENIED,
    Status.OUT_OF_RANGE,
}


async def _attempt(work: Awaitable[Any], read: Callable[[Any], Awaitable[Any]] | None = None) -> Any:
    """``("ok", what read reads back)`` or the clear status it was refused with."""
    try:
        done = await work
    except GRPCError as exc:
        assert exc.status in CLEAR, (exc.status, exc.message)
        return exc.status.name
    except (UnicodeEncodeError, ValueError, TypeError) as exc:  # the client could not send it
        return f"unsendable: {type(exc).__name__}"
    return ("ok", await read(done) if read else None)


def _run(side: Side, scenario: Callable[[AppClient], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        channel = Channel("127.0.0.1", side.server.grpc_port)
        try:
            return await scenario(AppClient(channel, {"authorization": f"Bearer {side.ids['key']}"}))
        finally:
            channel.close()

    return asyncio.run(run())


def _text_outcomes(side: Side, v: str) -> dict[str, Any]:
    ids = side.ids
    org, location, machine, part = ids["org"], ids["location"], ids["machine"], ids["part"]

    async def scenario(app: AppClient) -> dict[str, Any]:
        out: dict[str, Any] = {}

        async def named_location(made: Any) -> Any:
            return (await app.get_location(made.id)).name

        out["create_location"] = await _attempt(app.create_location(org, v), named_location)
        out["update_location"] = await _attempt(
            app.update_location(location, name=v), lambda _: named_location(_)
        )

        async def robot_name(robot_id: str) -> Any:
            return (await app.get_robot(robot_id)).name

        out["new_robot"] = await _attempt(app.new_robot(v, location), robot_name)
        out["update_robot"] = await _attempt(
            app.update_robot(machine, v, location), lambda r: robot_name(r.id)
        )

        async def part_name(part_id: str) -> Any:
            return (await app.get_robot_part(part_id)).name

        out["new_robot_part"] = await _attempt(app.new_robot_part(machine, v), part_name)

        async def config(_: Any) -> Any:
            return (await app.get_robot_part(part)).robot_config

        out["update_robot_part"] = await _attempt(
            app.update_robot_part(part, "main", {"components": [{"name": v, "attributes": {v: [v, 1]}}]}),
            config,
        )

        async def fragment(made: Any) -> Any:
            got = await app.get_fragment(made.id)
            return (got.name, got.fragment)

        out["create_fragment"] = await _attempt(app.create_fragment(org, v, {"k": v}), fragment)
        out["logs filter"] = await _attempt(app.get_robot_part_logs(part, filter=v, num_log_entries=1))
        owner = APIKeyAuthorization(role="owner", resource_type="organization", resource_id=org)
        out["create_key"] = await _attempt(app.create_key(org, [owner], v), lambda _: asyncio.sleep(0))
        out["create_registry_item"] = await _attempt(
            app.create_registry_item(org, v, PackageType.PACKAGE_TYPE_ML_MODEL)
        )
        out["invite"] = await _attempt(app.create_organization_invite(org, v))
        out["user by email"] = await _attempt(app.get_user_id_by_email(v))
        for name, lookup in (
            ("get_robot", app.get_robot),
            ("get_location", app.get_location),
            ("get_robot_part", app.get_robot_part),
            ("get_fragment", app.get_fragment),
            ("get_organization", app.get_organization),
        ):
            out[name] = await _attempt(lookup(v))
        out["still reads"] = (await app.get_location(location)).name, (await app.get_robot_part(part)).name
        return out

    return _run(side, scenario)


@fuzz_text
def test_hostile_text_through_the_viam_app_client(sides: list[Side], v: str) -> None:
    same_on_both(sides, lambda side: _text_outcomes(side, v))


def _number_outcomes(side: Side, n: Any) -> dict[str, Any]:
    ids = side.ids

    async def scenario(app: AppClient) -> dict[str, Any]:
        out: dict[str, Any] = {}

        async def config(_: Any) -> Any:
            return (await app.get_robot_part(ids["part"])).robot_config

        out["config"] = await _attempt(
            app.update_robot_part(ids["part"], "main", {"n": n, "list": [n]}), config
        )
        out["logs count"] = await _attempt(
            app.get_robot_part_logs(ids["part"], num_log_entries=int(n) if isinstance(n, int) else 1)
        )
        return out

    return _run(side, scenario)


@fuzz_numbers
def test_hostile_numbers_through_the_viam_app_client(sides: list[Side], n: Any) -> None:
    same_on_both(sides, lambda side: _number_outcomes(side, n))


class _RawBytes(ProtoCodec):
    """Sends request bodies as the bytes given, so that what no well-behaved client would encode
    (a string field that is not UTF-8, a truncated message) reaches the server as it is."""

    def encode(self, message: Any, message_type: Any) -> bytes:
        return bytes(message)

    def decode(self, data: bytes, message_type: Any) -> bytes:
        return data


def _string_field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


# A lone surrogate as a lenient encoder writes it (CESU-8), bytes that are not UTF-8 at all, an
# overlong encoding, and messages that are not protocol buffers.
UNDECODABLE_REQUESTS = (
    _string_field(1, b"\xed\xa0\x80"),
    _string_field(1, b"\xff"),
    _string_field(1, b"\xc0\xaf"),
    b"\xff\xff\xff",
    b"\x0a\xff\xff\xff\xff\x0f",
)


def test_requests_the_server_cannot_decode_are_invalid_arguments(sides: list[Side]) -> None:
    async def outcomes(side: Side) -> list[Any]:
        channel = Channel("127.0.0.1", side.server.grpc_port, codec=_RawBytes())
        metadata = {"authorization": f"Bearer {side.ids['key']}"}
        found = []
        try:
            for method in ("GetLocation", "GetRobotPart", "CreateOrganization", "GetUserIDByEmail"):
                for body in UNDECODABLE_REQUESTS:
                    path = f"/viam.app.v1.AppService/{method}"
                    unary = Cardinality.UNARY_UNARY
                    async with channel.request(path, unary, bytes, bytes, metadata=metadata) as s:
                        await s.send_message(body, end=True)
                        try:
                            await s.recv_message()
                            await s.recv_trailing_metadata()
                            found.append((method, body, "answered"))
                        except GRPCError as exc:
                            found.append((method, body, exc.status.name))
            authenticate = "/proto.rpc.v1.AuthService/Authenticate"
            async with channel.request(authenticate, Cardinality.UNARY_UNARY, bytes, bytes) as s:
                await s.send_message(_string_field(1, b"\xed\xa0\x80"), end=True)
                try:
                    await s.recv_message()
                except GRPCError as exc:
                    found.append(("Authenticate", exc.status.name))
        finally:
            channel.close()
        return found

    for side in sides:
        found = asyncio.run(outcomes(side))
        assert found and all(outcome[-1] == "INVALID_ARGUMENT" for outcome in found), found


def _nested(depth: int) -> Any:
    """A JSON document ``depth`` objects and arrays deep."""
    value: Any = 1
    for level in range(depth):
        value = {"d": value} if level % 2 else [value]
    return {"doc": value}


def test_documents_nested_too_deep_for_a_client_are_refused_and_the_rest_read_back(sides: list[Side]) -> None:
    """Configs, fragments, metadata and log fields nested deeper than every API can carry are refused
    when written, so that no later read through the Viam dialect fails on them."""

    def outcomes(side: Side) -> dict[str, Any]:
        ids = side.ids
        refused = {
            "config": side.native("PUT", f"/parts/{ids['part']}/config", {"config": _nested(40)}),
            "fragment": side.native(
                "POST", "/fragments", {"organization_id": ids["org"], "name": "deep", "config": _nested(40)}
            ),
            "metadata": side.native("PATCH", f"/organizations/{ids['org']}", {"metadata": _nested(40)}),
            "log fields": side.native(
                "POST",
                f"/parts/{ids['part']}/logs",
                {"entries": [{"level": "info", "message": "deep", "fields": [_nested(40)]}]},
            ),
        }
        out: dict[str, Any] = {name: answer.status_code for name, answer in refused.items()}
        deepest = _nested(28)  # with the log entry's list of fields, 31 deep
        side.native("PUT", f"/parts/{ids['part']}/config", {"config": deepest})
        side.native("PUT", f"/parts/{ids['part']}/config", {"config": {}})
        fragment = {"organization_id": ids["org"], "name": "deepest", "config": deepest}
        side.native("POST", "/fragments", fragment)
        side.native(
            "POST",
            f"/parts/{ids['part']}/logs",
            {"entries": [{"level": "info", "message": "deepest", "fields": [deepest]}]},
        )

        async def reads(app: AppClient) -> dict[str, Any]:
            history = await app.get_robot_part_history(ids["part"])
            fragments = await app.list_fragments(ids["org"], show_public=False)
            logs = await app.get_robot_part_logs(ids["part"], filter="deepest")
            return {
                "history": any(h.old.robot_config == deepest for h in history),
                "fragments": [f.fragment for f in fragments if f.name == "deepest"] == [deepest],
                "logs": [entry.message for entry in logs],
            }

        out.update(_run(side, reads))
        return out

    for side in sides:
        assert outcomes(side) == {
            "config": 422,
            "fragment": 422,
            "metadata": 422,
            "log fields": 422,
            "history": True,
            "fragments": True,
            "logs": ["deepest"],
        }


def test_times_out_of_range_are_invalid_arguments(sides: list[Side]) -> None:
    """Timestamps a datetime cannot hold (past year 9999, before year 1, nanos out of range) in any
    request field that takes a time."""
    bad_times = (
        Timestamp(seconds=253402300800 * 10),
        Timestamp(seconds=-62135596800 * 2),
        Timestamp(seconds=0, nanos=2_000_000_000),
    )

    async def outcomes(side: Side) -> list[str]:
        ids = side.ids
        channel = Channel("127.0.0.1", side.server.grpc_port)
        stub = AppServiceStub(channel)
        metadata = {"authorization": f"Bearer {side.ids['key']}"}
        config = Struct()
        config.update({"k": 1})
        found = []
        try:
            for time in bad_times:
                requests = (
                    stub.GetRobotPartLogs(
                        pb.GetRobotPartLogsRequest(id=ids["part"], start=time), metadata=metadata
                    ),
                    stub.GetRobotPartLogs(
                        pb.GetRobotPartLogsRequest(id=ids["part"], end=time), metadata=metadata
                    ),
                    stub.GetRobotPartHistory(
                        pb.GetRobotPartHistoryRequest(id=ids["part"], start=time), metadata=metadata
                    ),
                    stub.UpdateRobotPart(
                        pb.UpdateRobotPartRequest(
                            id=ids["part"], name="main", robot_config=config, last_known_update=time
                        ),
                        metadata=metadata,
                    ),
                )
                for request in requests:
                    try:
                        await request
                        found.append("answered")
                    except GRPCError as exc:
                        found.append(exc.status.name)
        finally:
            channel.close()
        return found

    for side in sides:
        found = asyncio.run(outcomes(side))
        assert found == ["INVALID_ARGUMENT"] * len(found), found


def test_an_organization_region_or_cid_the_databases_cannot_hold_alike_is_refused(sides: list[Side]) -> None:
    """The Viam dialect has no body schema in front of the core: the core bounds them alike."""

    def outcomes(side: Side) -> list[Any]:
        async def attempts(app: AppClient) -> list[Any]:
            org_id = side.ids["org"]

            async def cid(_: Any) -> str:
                return (await app.get_organization(org_id)).cid

            return [
                await _attempt(app.update_organization(org_id, region="r" * 65)),
                await _attempt(app.update_organization(org_id, cid="c" * 65)),
                await _attempt(app.update_organization(org_id, region="a\x00b")),
                await _attempt(app.update_organization(org_id, cid="a\x00b")),
                await _attempt(app.update_organization(org_id, region="r" * 64, cid="c" * 64), cid),
            ]

        return _run(side, attempts)

    same_on_both(sides, outcomes)
    assert outcomes(sides[0]) == ["INVALID_ARGUMENT"] * 4 + [("ok", "c" * 64)]
