"""The SDK against a real server on either database: times as ISO 8601 strings wherever the command
line takes them, log entries without a time, and a machine's parts page by page."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fleetport import Client, InvalidArgument
from tests.conftest import ADMIN_KEY, RunningServer, serving


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serving(request.param, tmp_path_factory.mktemp(request.param)) as running:
        yield running


@pytest.fixture
def fp(live: RunningServer) -> Iterator[Client]:
    with Client(live.url, ADMIN_KEY) as client:
        yield client


def _machine(fp: Client, name: str) -> str:
    org = fp.organizations.create(f"{name} org")
    location = fp.locations.create(org.id, "Lab")
    return fp.machines.create(location.id, name).id


def test_dataport_reads_and_writes_take_iso_8601(fp: Client) -> None:
    machine = _machine(fp, "iso")
    fp.dataports.create(machine, "temp", "float")
    written = fp.dataports.write(
        machine,
        "temp",
        [
            {"timestamp": "2025-01-01T00:00:00Z", "value": 1},
            {"timestamp": "2025-01-02T00:00:00+02:00", "value": 2},
            ("2025-01-03T00:00:00", 3),  # no zone: UTC
            {"timestamp": "1735948800", "value": 4},  # 2025-01-04, as Unix seconds in a string
        ],
    )
    assert written.written == 4 and written.failures == []
    day = 86_400
    jan1 = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
    every = fp.dataports.read(machine, "temp", start="2025-01-01T00:00:00Z", order="asc")
    assert [(p.timestamp, p.value) for p in every] == [
        (jan1, 1),
        (jan1 + day - 7200, 2),
        (jan1 + 2 * day, 3),
        (jan1 + 3 * day, 4),
    ]
    window = fp.dataports.read(machine, "temp", start="2025-01-02", end="2025-01-03T00:00:00Z", order="asc")
    assert [p.value for p in window] == [3]
    # the same window as datetimes and as Unix seconds answers the same
    as_datetimes = fp.dataports.read(
        machine, "temp", start=datetime(2025, 1, 2), end=datetime(2025, 1, 3, tzinfo=UTC), order="asc"
    )
    as_seconds = fp.dataports.read(machine, "temp", start=jan1 + day, end=jan1 + 2 * day, order="asc")
    assert as_datetimes == as_seconds == window
    with pytest.raises(InvalidArgument, match="neither Unix seconds nor an ISO 8601 time"):
        fp.dataports.read(machine, "temp", start="yesterday")
    with pytest.raises(InvalidArgument, match="'soon'"):
        fp.dataports.write(machine, "temp", [{"timestamp": "soon", "value": 5}])
    assert len(fp.dataports.read(machine, "temp", start=0)) == 4


def test_a_log_entry_without_a_time_gets_the_time_it_was_received(fp: Client) -> None:
    machine = _machine(fp, "logs")
    (part,) = list(fp.machines.parts(machine))
    before = datetime.now(UTC)
    count = fp.logs.append(
        part.id,
        [
            {"level": "info", "message": "no time"},
            {"level": "warn", "message": "null time", "time": None},
            {"level": "error", "message": "given", "time": "2025-03-01T12:00:00Z"},
        ],
    )
    after = datetime.now(UTC)
    assert count == 3
    entries = {e.message: e for e in fp.logs.list(part.id)}
    for message in ("no time", "null time"):
        # the database keeps microseconds; the server's clock is this machine's
        assert before - timedelta(seconds=1) <= entries[message].time <= after + timedelta(seconds=1)
    assert entries["no time"].time == entries["null time"].time
    assert entries["given"].time == datetime(2025, 3, 1, 12, tzinfo=UTC)
    since = [e.message for e in fp.logs.list(part.id, start=before - timedelta(seconds=1), order="asc")]
    assert since == ["no time", "null time"]


def test_a_machines_parts_come_page_by_page(fp: Client) -> None:
    machine = _machine(fp, "parts")
    for name in ("arm", "base", "camera", "drive"):
        fp.parts.create(machine, name)
    names = [p.name for p in fp.machines.parts(machine, limit=2)]
    assert names == ["parts-main", "arm", "base", "camera", "drive"]


def test_the_command_line_lists_parts_and_reads_iso_windows(live: RunningServer, fp: Client) -> None:
    machine = _machine(fp, "cli")
    fp.parts.create(machine, "arm")
    fp.dataports.create(machine, "temp", "float")
    fp.dataports.write(machine, "temp", [{"timestamp": "2025-05-01T00:00:00Z", "value": 7.5}])

    def cli(*args: str) -> str:
        argv = [sys.executable, "-m", "fleetport.cli", "--url", live.url, "--api-key", ADMIN_KEY, *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert [
        line for line in cli("parts", "list", machine).splitlines() if "cli-main" in line or "arm" in line
    ]
    points = cli("dataports", "read", machine, "temp", "--start", "2025-05-01T00:00:00Z", "--json")
    assert '"value": 7.5' in points


def test_a_points_file_with_iso_timestamps(live: RunningServer, fp: Client, tmp_path: Path) -> None:
    machine = _machine(fp, "file")
    fp.dataports.create(machine, "level", "integer")
    points = tmp_path / "points.json"
    points.write_text('[["2025-06-01T00:00:00Z", 1], {"timestamp": "2025-06-02", "value": 2}]')
    argv = [sys.executable, "-m", "fleetport.cli", "--url", live.url, "--api-key", ADMIN_KEY]
    written = subprocess.run(
        [*argv, "dataports", "write", machine, "level", "--file", str(points)], capture_output=True, text=True
    )
    assert written.returncode == 0, written.stderr
    june1 = int(datetime(2025, 6, 1, tzinfo=UTC).timestamp())
    read = fp.dataports.read(machine, "level", start="2025-06-01T00:00:00Z", order="asc")
    assert [(p.timestamp, p.value) for p in read] == [(june1, 1), (june1 + 86_400, 2)]

    points.write_text('[["next tuesday", 3]]')
    refused = subprocess.run(
        [*argv, "dataports", "write", machine, "level", "--file", str(points)], capture_output=True, text=True
    )
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "'next tuesday' is neither Unix seconds nor an ISO 8601 time" in refused.stderr


def test_the_command_line_logs_with_and_without_a_time(live: RunningServer, fp: Client) -> None:
    machine = _machine(fp, "cli-logs")
    (part,) = list(fp.machines.parts(machine))
    argv = [sys.executable, "-m", "fleetport.cli", "--url", live.url, "--api-key", ADMIN_KEY, "parts", "log"]
    before = datetime.now(UTC)
    for extra in (
        [part.id, "started"],
        [part.id, "earlier", "--time", "2025-02-03T04:05:06Z", "--level", "warn"],
    ):
        result = subprocess.run([*argv, *extra], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    refused = subprocess.run([*argv, part.id, "x", "--level", "loud"], capture_output=True, text=True)
    assert refused.returncode == 1 and "'loud' is not a log level" in refused.stderr
    assert "Traceback" not in refused.stderr
    entries = {e.message: e for e in fp.logs.list(part.id)}
    assert set(entries) == {"started", "earlier"}
    assert before - timedelta(seconds=1) <= entries["started"].time <= datetime.now(UTC)
    assert (entries["earlier"].time, entries["earlier"].level) == (
        datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC),
        "warn",
    )
