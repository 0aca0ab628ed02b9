"""A live tail of part logs lasts only as long as its caller may read them: once a share is withdrawn
or the caller's key deleted, the next batch is not delivered and the tail ends, through the native
Server-Sent Events and the real viam-sdk's tail_robot_part_logs, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import orjson
import pytest
from grpclib.client import Channel
from grpclib.exceptions import GRPCError
from viam.app.app_client import AppClient

from tests.conftest import ADMIN_KEY, RunningServer, serving

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    with serving(request.param, tmp_path_factory.mktemp(f"tails-{request.param}")) as server:
        yield server


def _shared_part(admin: httpx.Client) -> dict[str, str]:
    """Organization A's part in a location shared with B, and an owner key of B."""
    made = {}
    for org in ("A", "B"):
        made[org] = admin.post("/api/v1/organizations", json={"name": f"tails {org}"}).json()["id"]
    made["L"] = admin.post("/api/v1/locations", json={"organization_id": made["A"], "name": "L"}).json()["id"]
    machine = admin.post("/api/v1/machines", json={"location_id": made["L"], "name": "m"}).json()["id"]
    made["part"] = admin.get(f"/api/v1/machines/{machine}/parts").json()["items"][0]["id"]
    assert admin.post(f"/api/v1/locations/{made['L']}/shares", json={"organization_id": made["B"]}).is_success
    grant = [{"role": "owner", "resource_type": "organization", "resource_id": made["B"]}]
    body = {"name": "guest", "authorizations": grant}
    key = admin.post(f"/api/v1/organizations/{made['B']}/keys", json=body)
    made["key_id"], made["secret"] = key.json()["id"], key.json()["secret"]
    return made


def _log(admin: httpx.Client, part: str, message: str) -> None:
    entries = [{"level": "error", "message": message}]
    assert admin.post(f"/api/v1/parts/{part}/logs", json={"entries": entries}).is_success


REVOCATIONS: dict[str, Callable[[httpx.Client, dict[str, str]], httpx.Response]] = {
    "unshare": lambda admin, made: admin.delete(f"/api/v1/locations/{made['L']}/shares/{made['B']}"),
    "key deleted": lambda admin, made: admin.delete(f"/api/v1/keys/{made['key_id']}"),
}


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert condition()


@pytest.mark.parametrize("revocation", list(REVOCATIONS))
def test_a_server_sent_events_tail_ends_when_access_ends(running: RunningServer, revocation: str) -> None:
    with httpx.Client(base_url=running.url, headers=ADMIN, timeout=30) as admin:
        made = _shared_part(admin)
        seen: list[str] = []
        opened = threading.Event()

        def read() -> None:
            headers = {"Authorization": f"Bearer {made['secret']}"}
            url = f"{running.url}/api/v1/parts/{made['part']}/logs/tail"
            with httpx.stream("GET", url, headers=headers, timeout=30) as answer:
                opened.set()
                for line in answer.iter_lines():
                    if line.startswith("data: "):
                        value = orjson.loads(line[6:])
                        if isinstance(value, list):
                            seen.extend(entry["message"] for entry in value)
                        else:  # the error event that ends the tail
                            seen.append(value["error"]["code"])
            seen.append("ended")

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert opened.wait(10)
        time.sleep(0.3)  # the tail subscribes once its answer has started
        _log(admin, made["part"], "before")
        _wait_until(lambda: "before" in seen)
        assert REVOCATIONS[revocation](admin, made).is_success
        _log(admin, made["part"], "after")
        reader.join(15)
        assert not reader.is_alive()
        ending = "permission_denied" if revocation == "unshare" else "unauthenticated"
        assert seen == ["before", ending, "ended"], seen


@pytest.mark.parametrize("revocation", list(REVOCATIONS))
def test_a_viam_tail_ends_when_access_ends(running: RunningServer, revocation: str) -> None:
    with httpx.Client(base_url=running.url, headers=ADMIN, timeout=30) as admin:
        made = _shared_part(admin)

        async def scenario() -> list[str]:
            channel = Channel("127.0.0.1", running.grpc_port)
            app = AppClient(channel, {"authorization": f"Bearer {made['secret']}"})
            seen: list[str] = []
            try:
                stream = await app.tail_robot_part_logs(made["part"], errors_only=False)
                first = asyncio.create_task(anext(stream))  # opens the stream
                await asyncio.sleep(0.5)
                await asyncio.to_thread(_log, admin, made["part"], "before")
                seen += [e.message for e in await asyncio.wait_for(first, 10)]
                assert (await asyncio.to_thread(REVOCATIONS[revocation], admin, made)).is_success
                await asyncio.to_thread(_log, admin, made["part"], "after")
                try:
                    async with asyncio.timeout(10):
                        async for batch in stream:
                            seen += [e.message for e in batch]
                except GRPCError as exc:
                    seen.append(exc.status.name)
            finally:
                channel.close()
            return seen

        seen = asyncio.run(scenario())
        expected_status = "PERMISSION_DENIED" if revocation == "unshare" else "UNAUTHENTICATED"
        assert seen == ["before", expected_status], seen


def test_tails_of_those_who_keep_access_go_on(running: RunningServer) -> None:
    """The owner's tail is not ended by the guest losing its share."""
    with httpx.Client(base_url=running.url, headers=ADMIN, timeout=30) as admin:
        made = _shared_part(admin)
        seen: list[str] = []

        def read() -> None:
            url = f"{running.url}/api/v1/parts/{made['part']}/logs/tail"
            with httpx.stream("GET", url, headers=ADMIN, timeout=30) as answer:
                for line in answer.iter_lines():
                    if line.startswith("data: "):
                        seen.extend(e["message"] for e in orjson.loads(line[6:]))
                        if "after" in seen:
                            return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(0.5)
        _log(admin, made["part"], "before")
        assert REVOCATIONS["unshare"](admin, made).is_success
        _log(admin, made["part"], "after")
        reader.join(15)
        assert seen == ["before", "after"]
