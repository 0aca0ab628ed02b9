"""The agent's buffer cap, end to end with a real server and a real agent: while the server is down
the outbox keeps at most ``--buffer-max-mb``; when it comes back exactly the newest points (or a
contiguous run of the newest log lines) arrive in order, with a part log line saying how many were
dropped; a write larger than the whole buffer is refused at once (507)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fleetport import Client
from fleetport.testing import FleetportServer
from tests.conftest import ADMIN_KEY, start_server
from tests.e2e.agent.conftest import FAST, AgentProcess, Robot, agent_for, make_robot, wait_for

BASE = 1_700_000_000
PER_POST = 10  # points per write


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FleetportServer]:
    running = start_server(tmp_path / "server", env=FAST)
    try:
        yield running
    finally:
        if running.running:
            running.stop()


def _kill(server: FleetportServer) -> None:
    assert server.process is not None
    server.process.kill()  # no goodbye: the agent finds the connection gone
    server.process.wait()


def _restart(server: FleetportServer) -> FleetportServer:
    return start_server(server.data_dir, env=FAST, http_port=server.http_port)


def _points(n: int) -> list[dict[str, int]]:
    """Write ``n``: points of a fixed width, so that each buffered message has the same size."""
    return [
        {"timestamp": BASE + PER_POST * n + j, "value": 100_000 + PER_POST * n + j} for j in range(PER_POST)
    ]


def _post(agent: AgentProcess, points: list[dict[str, int]]) -> httpx.Response:
    url = f"http://127.0.0.1:{agent.telemetry_port}/dataports/temp/points"
    return httpx.post(url, json={"points": points}, timeout=10)


def _status(agent: AgentProcess) -> dict[str, object]:
    return dict(httpx.get(f"http://127.0.0.1:{agent.telemetry_port}/status", timeout=5).json())


def _notes(server: FleetportServer, robot: Robot) -> list[str]:
    with Client(server.url, ADMIN_KEY) as fp:
        entries = fp.logs.list(robot.part_id, filter="dropped while offline", order="asc", limit=100)
        return [e.message for e in entries]


def _count(notes: list[str], what: str) -> int:
    found = [int(m.group(1)) for n in notes if (m := re.match(rf"(\d+) {what} dropped while offline", n))]
    return sum(found)


def test_points_past_the_cap_keep_exactly_the_newest_and_report_the_rest(
    server: FleetportServer, tmp_path: Path, agents: list[AgentProcess]
) -> None:
    robot = make_robot(server, tmp_path)
    with Client(server.url, ADMIN_KEY) as fp:
        fp.dataports.create(robot.machine_id, "temp", "integer")
    cap_mb = 0.02
    agent = agent_for(robot, tmp_path / "agent", "--buffer-max-mb", str(cap_mb))
    agents.append(agent.start())
    agent.wait_log(f"connected to the server as part {robot.part_id}")

    _kill(server)
    agent.wait_log("connection to the server lost")
    message = len(json.dumps({"alias": "temp", "points": _points(0)}).encode())  # what the agent keeps
    kept = int(cap_mb * (1 << 20)) // message
    posts = kept * 3
    for n in range(posts):  # never refused or held up: the oldest make room
        answer = _post(agent, _points(n))
        assert answer.status_code == 202 and answer.json() == {"queued": PER_POST}, answer.text
    too_big = _post(agent, [{"timestamp": BASE + i, "value": i} for i in range(5000)])
    assert too_big.status_code == 507 and "--buffer-max-mb" in too_big.json()["error"]
    status = _status(agent)
    assert status["connected"] is False
    assert status["buffer"] == {"bytes": kept * message, "max_bytes": int(cap_mb * (1 << 20))}
    assert status["dropped"]["points"] == (posts - kept) * PER_POST  # type: ignore[index]

    restarted = _restart(server)
    try:
        agent.wait_log("s away", timeout=90)
        expected = [
            (p["timestamp"], float(p["value"])) for n in range(posts - kept, posts) for p in _points(n)
        ]
        with Client(restarted.url, ADMIN_KEY) as fp:

            def stored() -> list[tuple[int, float]]:
                found = fp.dataports.read(robot.machine_id, "temp", start=BASE, limit=10_000, order="asc")
                return [(p.timestamp, p.value) for p in found]

            wait_for(lambda: len(stored()) >= len(expected), 30, "the kept points")
            notes = wait_for(lambda: _notes(restarted, robot), 30, "the note of what was dropped")
            time.sleep(1.0)  # anything more would have landed by now
            assert stored() == expected  # exactly the newest, in order
        assert isinstance(notes, list)
        assert _count(notes, "points") == (posts - kept) * PER_POST, notes
        assert "--buffer-max-mb" in notes[0]
        assert _status(agent)["dropped"] == {"logs": 0, "points": 0}  # reported: counted afresh
    finally:
        restarted.stop()


def test_log_lines_past_the_cap_keep_the_newest_in_order_and_report_the_rest(
    server: FleetportServer, tmp_path: Path, agents: list[AgentProcess]
) -> None:
    robot = make_robot(server, tmp_path)
    logfile = tmp_path / "robot.log"
    logfile.touch()
    agent = agent_for(robot, tmp_path / "agent", "--buffer-max-mb", "0.02", "--log-file", str(logfile))
    agents.append(agent.start())
    agent.wait_log(f"connected to the server as part {robot.part_id}")

    _kill(server)
    agent.wait_log("connection to the server lost")
    written = [f"offline line {i:05d}" for i in range(600)]
    for start in range(0, len(written), 40):  # in batches: each fits, all of them do not
        with logfile.open("a") as out:
            out.write("".join(f"{line}\n" for line in written[start : start + 40]))
        time.sleep(0.7)
    dropped = wait_for(lambda: _status(agent)["dropped"]["logs"], 10, "lines to be dropped")  # type: ignore[index]
    assert isinstance(dropped, int) and dropped > 0

    restarted = _restart(server)
    try:
        agent.wait_log("s away", timeout=90)
        with Client(restarted.url, ADMIN_KEY) as fp:

            def arrived() -> list[str]:
                entries = fp.logs.list(robot.part_id, filter="offline line", order="asc", limit=500)
                return [e.message for e in entries if e.logger_name == str(logfile)]

            wait_for(lambda: arrived() and arrived()[-1] == written[-1], 30, "the newest line")
            notes = wait_for(lambda: _notes(restarted, robot), 30, "the note of what was dropped")
            time.sleep(1.0)
            lines = arrived()
        assert 0 < len(lines) < len(written)
        assert lines == written[-len(lines) :]  # the newest, in order, none missing between
        assert isinstance(notes, list) and _count(notes, "log lines") >= len(written) - len(lines)
    finally:
        restarted.stop()
