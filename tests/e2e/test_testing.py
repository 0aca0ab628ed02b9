"""``fleetport.testing``: the README's test file passes under pytest with the plugin as installing
fleetport registers it, on SQLite and on PostgreSQL; the context manager's server answers the real
viam-sdk and the One Platform client, and leaves nothing running behind it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import pytest
from viam.app.viam_client import ViamClient

import fleetport.testing
from tests.conftest import fresh_pg_database
from tests.e2e.test_readme import code_blocks

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "fleetport.testing.plugin"


@contextmanager
def _database_url(database: str) -> Iterator[str | None]:
    """None for SQLite (the default), or the URL of a fresh PostgreSQL database."""
    if database == "sqlite":
        yield None
    else:
        with fresh_pg_database() as url:
            yield url


def _entry_point_site(site: Path) -> Path:
    """A site directory holding the pytest11 entry point of pyproject.toml as an installed
    distribution declares it, unless this environment's fleetport already declares it."""
    if any(ep.value == PLUGIN for ep in metadata.entry_points(group="pytest11")):
        return site
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"]
    info = site / "fleetport_pytest_plugin-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fleetport-pytest-plugin\nVersion: 0\n")
    lines = "".join(f"{name} = {value}\n" for name, value in declared.items())
    (info / "entry_points.txt").write_text(f"[pytest11]\n{lines}")
    return site


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_the_readme_test_file_passes_with_the_plugin(database: str, tmp_path: Path) -> None:
    [example] = code_blocks("Testing your fleet scripts", "python")
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_fleet.py").write_text(example + "\n")
    site = _entry_point_site(tmp_path / "site")
    path = [str(site), str(ROOT / "src"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    env.pop("FLEETPORT_TESTING_DATABASE_URL", None)
    with _database_url(database) as database_url:
        options = [f"--fleetport-database-url={database_url}"] if database_url else []
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, "test_fleet.py"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


@pytest.mark.parametrize("in_process", [False, True], ids=["subprocess", "in-process"])
@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_the_context_manager_serves_viam_sdk_and_one_platform(database: str, in_process: bool) -> None:
    with (
        _database_url(database) as database_url,
        fleetport.testing.server(database_url=database_url, in_process=in_process) as fp,
    ):
        assert fp.in_process is in_process
        assert (fp.process is None) is in_process
        org = fp.client.organizations.create("Acme Robotics")
        lab = fp.client.locations.create(org.id, "Lab")
        rover = fp.client.machines.create(lab.id, "rover-1")
        key = fp.viam_key(org.id)

        async def robots_seen_by_viam() -> list[str]:
            viam = await ViamClient.create_from_dial_options(key.dial_options(), app_url=key.address)
            try:
                return [robot.name for robot in await viam.app_client.list_robots(lab.id)]
            finally:
                viam.close()

        assert asyncio.run(robots_seen_by_viam()) == ["rover-1"]

        onep = fp.onep()
        cik = fp.device_cik(rover.id)
        retention = {"count": "infinity", "duration": "infinity"}
        ok, rid = onep.create(cik, "dataport", {"format": "float", "retention": retention})
        assert ok, rid
        assert onep.map(cik, rid, "temperature")[0]
        assert onep.write(cik, {"alias": "temperature"}, 21.5)[0]
        [point] = fp.client.dataports.read(rover.id, "temperature")
        assert point.value == 21.5

        async def organizations_seen_natively() -> list[str]:
            async with fp.async_client() as native:
                return [o.name async for o in native.organizations.list()]

        assert asyncio.run(organizations_seen_natively()) == ["Acme Robotics"]
        assert fp.database_url == database_url
        process, data_dir = fp.process, fp.data_dir
    assert not fp.running
    assert process is None or process.poll() is not None
    assert not data_dir.exists()


def test_the_callers_fleetport_settings_stay_out_of_the_test_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own server configuration in the environment (a database, a port of the Viam
    dialect taken by their running server) never reaches the test server."""
    monkeypatch.setenv("FLEETPORT_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("FLEETPORT_VIAM__GRPC_PORT", "1")
    with fleetport.testing.server() as fp:
        assert fp.database_url is None
        org = fp.client.organizations.create("Acme Robotics")
        assert [o.id for o in fp.client.organizations.list()] == [org.id]
        with socket.create_connection((fp.host, fp.grpc_port), timeout=5):
            pass  # the Viam dialect listens on the port handed out, not on the developer's
        assert (fp.data_dir / "fleetport.db").exists()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((fleetport.testing.HOST, port), timeout=2):
            return True
    except OSError:
        return False


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((fleetport.testing.HOST, port))
        except OSError:
            return False
        return True


def test_an_in_process_server_leaves_no_thread_or_port_behind() -> None:
    """The server runs on threads of the test process while it is up (its own, and the worker
    threads of its calls); once stopped, the process has the threads it had before, and every port
    the server listened on is free again."""
    threads_before = set(threading.enumerate())
    with fleetport.testing.server(in_process=True) as fp:
        assert any(t.name == "fleetport-server" for t in threading.enumerate())
        org = fp.client.organizations.create("Acme Robotics")
        lab = fp.client.locations.create(org.id, "Lab")
        fp.client.machines.create(lab.id, "rover-1")
        key = fp.viam_key(org.id)

        async def robots_seen_by_viam() -> list[str]:
            viam = await ViamClient.create_from_dial_options(key.dial_options(), app_url=key.address)
            try:
                return [robot.name for robot in await viam.app_client.list_robots(lab.id)]
            finally:
                viam.close()

        assert asyncio.run(robots_seen_by_viam()) == ["rover-1"]
        ports = [fp.http_port, fp.grpc_port]
        assert all(_listening(port) for port in ports)
    assert not fp.running
    assert set(threading.enumerate()) == threads_before
    assert not any(_listening(port) for port in ports)
    assert all(_bindable(port) for port in ports)


def test_an_in_process_server_that_cannot_start_says_why_and_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    """A port the server cannot listen on stops the start with the server's own one-line reason,
    before a thread is started or anything is written."""
    threads_before = set(threading.enumerate())
    with socket.socket() as busy:
        busy.bind((fleetport.testing.HOST, 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with pytest.raises(
            SystemExit, match=rf"cannot listen for gRPC on 127\.0\.0\.1:{taken}: the port is in use"
        ):
            fleetport.testing.start_server(
                tmp_path / "data", env={"FLEETPORT_GRPC_PORT": str(taken)}, in_process=True
            )
    assert set(threading.enumerate()) == threads_before
    assert not (tmp_path / "data" / "fleetport.db").exists()


def test_the_readme_test_file_passes_with_an_in_process_server(tmp_path: Path) -> None:
    """The plugin's fixture, with ``--fleetport-in-process``, serves the README's test file from a
    thread of the pytest process."""
    [example] = code_blocks("Testing your fleet scripts", "python")
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_fleet.py").write_text(example + "\n")
    site = _entry_point_site(tmp_path / "site")
    path = [str(site), str(ROOT / "src"), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    env.pop("FLEETPORT_TESTING_DATABASE_URL", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--fleetport-in-process",
            "test_fleet.py",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
