"""Part logs against a real `fleetport serve` process: an agent appends with its part secret while
the SDK and the CLI tail the log over Server-Sent Events."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import pytest

import fleetport
from fleetport import AsyncClient, Client
from fleetport.client import models as m
from tests.conftest import ADMIN_KEY, RunningServer, _reset_postgres, start_server, stop_server

UNKNOWN_PART = "00000000-0000-7000-8000-000000000000"


@dataclass
class Rover:
    part: str
    other_part: str
    part_secret: str
    far_operator_key: str


@pytest.fixture(scope="module")
def rover(server: RunningServer) -> Rover:
    with Client(server.url, ADMIN_KEY) as fp:
        org = fp.organizations.create("Logs Inc")
        lab = fp.locations.create(org.id, "Lab")
        far = fp.locations.create(org.id, "Far")
        machine = fp.machines.create(lab.id, "rover")
        (main,) = list(fp.machines.parts(machine.id))
        other = fp.parts.create(machine.id, "camera")
        key = fp.keys.create(
            org.id, "far ops", [{"role": "operator", "resource_type": "location", "resource_id": far.id}]
        )
        assert key.secret
        return Rover(main.id, other.id, fp.parts.create_secret(main.id).secret, key.secret)


def _entries(batch: int, size: int, level: str = "info") -> list[dict[str, object]]:
    now = datetime.now(UTC)
    return [{"time": now, "level": level, "message": f"batch {batch} line {i}"} for i in range(size)]


def test_sdk_tail_receives_every_entry_in_order(server: RunningServer, rover: Rover) -> None:
    batches, size = 40, 25
    expected = [f"batch {b} line {i}" for b in range(batches) for i in range(size)]
    with Client(server.url, ADMIN_KEY) as fp, Client(server.url, rover.part_secret) as agent:
        agent.logs.append(rover.part, _entries(-1, 3))  # before the tail: not part of it
        with fp.logs.tail(rover.part) as stream:  # open (subscribed) once this returns

            def produce() -> None:
                for b in range(batches):
                    assert agent.logs.append(rover.part, _entries(b, size)) == size
                    fp.logs.append(rover.other_part, _entries(b, 1))  # another part: not in this tail

            producer = threading.Thread(target=produce)
            producer.start()
            received: list[list[m.LogEntry]] = []
            for batch in stream:
                received.append(batch)
                if sum(len(b) for b in received) >= len(expected):
                    break
            producer.join()
        flat = [e for b in received for e in b]
        assert all(received), "never an empty batch"
        assert [e.message for e in flat] == expected
        ids = [e.id for e in flat]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert {e.part_id for e in flat} == {rover.part}
        # what the tail delivered is what is stored
        stored = list(fp.logs.list(rover.part, order="asc", limit=500))[3:]
        assert [e.model_dump() for e in stored] == [e.model_dump() for e in flat]


def test_tail_on_postgresql(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """On PostgreSQL the core runs on worker threads: the tail subscribes from one and appends
    publish from others."""
    _reset_postgres(pg_server_url)
    running = start_server(tmp_path_factory.mktemp("pg"), env={"FLEETPORT_DATABASE_URL": pg_server_url})
    try:
        with Client(running.url, ADMIN_KEY) as fp:
            org = fp.organizations.create("Postgres")
            machine = fp.machines.create(fp.locations.create(org.id, "Lab").id, "rover")
            (part,) = list(fp.machines.parts(machine.id))
            with (
                fp.logs.tail(part.id) as stream,
                Client(running.url, fp.parts.create_secret(part.id).secret) as agent,
            ):
                producer = threading.Thread(
                    target=lambda: [agent.logs.append(part.id, _entries(b, 10)) for b in range(20)]
                )
                producer.start()
                flat: list[m.LogEntry] = []
                for batch in stream:
                    assert batch
                    flat += batch
                    if len(flat) >= 200:
                        break
                producer.join()
        assert [e.message for e in flat] == [f"batch {b} line {i}" for b in range(20) for i in range(10)]
        assert [e.id for e in flat] == sorted(e.id for e in flat)
    finally:
        stop_server(running)


def test_async_sdk_tail_filters_while_another_client_appends(server: RunningServer, rover: Rover) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        async with (
            AsyncClient(server.url, ADMIN_KEY) as fp,
            AsyncClient(server.url, rover.part_secret) as agent,
        ):
            errors = await fp.logs.tail(rover.part, errors_only=True)
            motors = await fp.logs.tail(rover.part, filter="MOTOR")
            async with errors, motors:
                await agent.logs.append(
                    rover.part, [{"time": "2030-01-01T00:00:00Z", "level": "info", "message": "ok"}]
                )
                await agent.logs.append(
                    rover.part,
                    [
                        {"time": "2030-01-01T00:00:01Z", "level": "warn", "message": "motor hot"},
                        {"time": "2030-01-01T00:00:02Z", "level": "error", "message": "camera lost"},
                        {"time": "2030-01-01T00:00:03Z", "level": "fatal", "message": "motor dead"},
                        {"time": "2030-01-01T00:00:04Z", "level": "dpanic", "message": "oops"},
                    ],
                )
                error_batch = await asyncio.wait_for(anext(errors), 10)
                motor_batch = await asyncio.wait_for(anext(motors), 10)
        return [e.message for e in error_batch], [e.message for e in motor_batch]

    error_messages, motor_messages = asyncio.run(scenario())
    assert error_messages == ["camera lost", "motor dead", "oops"]
    assert motor_messages == ["motor hot", "motor dead"]


def test_tail_refusals_come_before_any_stream(server: RunningServer, rover: Rover) -> None:
    with Client(server.url, ADMIN_KEY) as fp, pytest.raises(fleetport.NotFound):
        fp.logs.tail(UNKNOWN_PART)
    far = Client(server.url, rover.far_operator_key)
    with far, pytest.raises(fleetport.PermissionDenied, match="read_robot_logs"):
        far.logs.tail(rover.part)
    with Client(server.url, rover.part_secret) as agent:
        with pytest.raises(fleetport.PermissionDenied):
            agent.logs.tail(rover.part)
        with pytest.raises(fleetport.PermissionDenied):
            agent.logs.append(rover.other_part, _entries(0, 1))
        with pytest.raises(fleetport.InvalidArgument, match="not a log level"):
            agent.logs.append(rover.part, _entries(0, 1, level="loud"))


def _cli(server: RunningServer, *args: str) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPORT_")}
    env.update(COLUMNS="200", NO_COLOR="1")
    return [sys.executable, "-m", "fleetport.cli", "--url", server.url, "--api-key", ADMIN_KEY, *args], env


def test_cli_lists_and_follows(server: RunningServer, rover: Rover) -> None:
    with Client(server.url, ADMIN_KEY) as fp:
        part = fp.parts.create(fp.parts.get(rover.part).machine_id, "lidar")
        fp.logs.append(
            part.id,
            [
                {"time": "2030-01-01T00:00:00Z", "level": "info", "message": "first", "logger_name": "lidar"},
                {"time": "2030-01-01T00:00:01Z", "level": "error", "message": "second [red]x[/red]"},
                {"time": "2030-01-01T00:00:02Z", "level": "warning", "message": "third"},
            ],
        )
        argv, env = _cli(server, "parts", "logs", part.id, "--json", "--limit", "2")
        listed = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert listed.returncode == 0, listed.stderr
        assert [e["message"] for e in orjson.loads(listed.stdout)] == ["second [red]x[/red]", "third"]
        argv, env = _cli(server, "parts", "logs", part.id, "--level", "error", "--level", "WARNING")
        table = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert table.returncode == 0, table.stderr
        assert (
            "second [red]x[/red]" in table.stdout and "third" in table.stdout and "first" not in table.stdout
        )

        argv, env = _cli(server, "parts", "logs", part.id, "--follow", "--limit", "1")
        # as from a terminal: Ctrl-C interrupts (a suite run as a background job inherits SIGINT ignored)
        follower = subprocess.Popen(
            argv,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(
            target=lambda: [lines.put(line) for line in follower.stdout or ()], daemon=True
        )
        reader.start()
        try:
            assert "third" in lines.get(timeout=30)  # the newest entry, then the tail is open
            fp.logs.append(part.id, [{"time": "2030-01-01T00:00:03Z", "level": "info", "message": "fourth"}])
            fp.logs.append(
                part.id,
                [
                    {
                        "time": "2030-01-01T00:00:04Z",
                        "level": "debug",
                        "message": "fifth",
                        "logger_name": "scan",
                    },
                    {"time": "2030-01-01T00:00:05Z", "level": "error", "message": "sixth"},
                ],
            )
            followed = [lines.get(timeout=30) for _ in range(3)]
            assert "INFO" in followed[0] and "fourth" in followed[0]
            assert "DEBUG" in followed[1] and "scan: fifth" in followed[1]
            assert "ERROR" in followed[2] and "sixth" in followed[2]
        finally:
            follower.send_signal(signal.SIGINT)  # Ctrl-C
            code = follower.wait(timeout=30)
        assert code == 0, follower.stderr.read() if follower.stderr else ""
        assert "Traceback" not in (follower.stderr.read() if follower.stderr else "")


def test_stopping_the_server_ends_open_tails(tmp_path_factory: pytest.TempPathFactory) -> None:
    running = start_server(tmp_path_factory.mktemp("stop"))
    stopped = False
    try:
        with Client(running.url, ADMIN_KEY) as fp:
            org = fp.organizations.create("Stop")
            machine = fp.machines.create(fp.locations.create(org.id, "Lab").id, "rover")
            (part,) = list(fp.machines.parts(machine.id))
            stream = fp.logs.tail(part.id)
            ended = threading.Event()

            def read() -> None:
                for _ in stream:
                    pass
                ended.set()

            threading.Thread(target=read, daemon=True).start()
            started = time.monotonic()
            assert stop_server(running) == 0
            stopped = True
            assert ended.wait(10), "the tail did not end when the server stopped"
            # the open stream did not hold the stop up until uvicorn's graceful-stop timeout (10 s)
            assert time.monotonic() - started < 8
    finally:
        if not stopped:
            stop_server(running)
