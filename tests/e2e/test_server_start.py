"""Starting a real server: a busy port stops it with one line before anything is written; the data
directory and its files are private to the server's user; SQLite's synchronous setting is checked."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect

from fleetport.server import open_fleet
from fleetport.settings import Settings
from tests.conftest import ADMIN_KEY, free_ports, fresh_pg_database, serving, start_server, stop_server

HOLD_PORT = """
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("listening", flush=True)
time.sleep(120)
"""


@contextlib.contextmanager
def port_held_by_another_process(port: int) -> Iterator[None]:
    """A separate process listening on ``port`` (a plain socket, as any other program would)."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_PORT, str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "listening"
        yield
    finally:
        holder.kill()
        holder.wait()


def serve_once(data_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPORT_")}
    environ |= {"FLEETPORT_DATA_DIR": str(data_dir), **env}
    return subprocess.run(
        [sys.executable, "-m", "fleetport.cli", "serve"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextlib.contextmanager
def database(kind: str) -> Iterator[dict[str, str]]:
    """The environment that points a server at ``kind``: SQLite in the data directory, or a fresh
    PostgreSQL database."""
    if kind == "sqlite":
        yield {}
    else:
        with fresh_pg_database() as url:
            yield {"FLEETPORT_DATABASE_URL": url}


def tables_in(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


@pytest.mark.parametrize("busy", ["HTTP", "HTTPS", "GRPC"])
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_busy_port_stops_the_server_with_one_line_before_anything_is_written(
    tmp_path: Path, kind: str, busy: str
) -> None:
    ports = dict(zip(("HTTP", "HTTPS", "GRPC"), free_ports(3), strict=True))
    data_dir = tmp_path / "data"  # does not exist yet
    env = {f"FLEETPORT_{name}_PORT": str(port) for name, port in ports.items()}
    with database(kind) as db_env, port_held_by_another_process(ports[busy]):
        result = serve_once(data_dir, {**env, **db_env})
        if kind == "postgres":
            assert tables_in(db_env["FLEETPORT_DATABASE_URL"]) == []  # no migration ran
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0
    assert output.count("\n") == 0, output  # one line, no traceback
    assert str(ports[busy]) in output and f"FLEETPORT_{busy}_PORT" in output
    assert "in use" in output
    assert "password" not in output.lower() and "API key" not in output and ADMIN_KEY not in output
    assert not data_dir.exists()  # no data directory, no database, no TLS key


def test_two_settings_on_one_port_stop_the_server_with_one_line(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    env = {"FLEETPORT_HTTP_PORT": str(port), "FLEETPORT_HTTPS_PORT": "0", "FLEETPORT_GRPC_PORT": str(port)}
    result = serve_once(tmp_path / "data", env)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0 and output.count("\n") == 0, output
    assert "FLEETPORT_HTTP_PORT" in output and "FLEETPORT_GRPC_PORT" in output and str(port) in output
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("setting", "number"), [("HTTP", "70000"), ("HTTP", "-1"), ("HTTPS", "65536"), ("GRPC", "-5")]
)
def test_a_port_number_out_of_range_stops_the_server_with_one_line(
    tmp_path: Path, setting: str, number: str
) -> None:
    """Not bound to the number modulo 65536, nor blamed on the host: the setting is named."""
    names = ("FLEETPORT_HTTP_PORT", "FLEETPORT_HTTPS_PORT", "FLEETPORT_GRPC_PORT")
    env = dict(zip(names, map(str, free_ports(3)), strict=True))
    env[f"FLEETPORT_{setting}_PORT"] = number
    result = serve_once(tmp_path / "data", env)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0 and output.count("\n") == 0, output
    assert f"FLEETPORT_{setting}_PORT" in output and number in output and "65535" in output
    assert not (tmp_path / "data").exists()


def test_a_free_port_is_not_held_after_a_refused_start(tmp_path: Path) -> None:
    """The ports bound before the busy one are let go: the next start on them works."""
    http, grpc = free_ports(2)
    env = {"FLEETPORT_HTTP_PORT": str(http), "FLEETPORT_HTTPS_PORT": "0", "FLEETPORT_GRPC_PORT": str(grpc)}
    with port_held_by_another_process(grpc):
        assert serve_once(tmp_path / "data", env).returncode != 0
    server = start_server(tmp_path / "again")
    try:
        assert httpx.get(server.url + "/health", timeout=5).status_code == 200
    finally:
        stop_server(server)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_the_data_directory_and_its_files_are_private(tmp_path: Path, kind: str) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    old_blob = data_dir / "blobs" / "00" / "00" / ("0" * 64)  # left readable by an earlier version
    old_blob.parent.mkdir(parents=True)
    for directory in (data_dir / "blobs", data_dir / "blobs" / "00", old_blob.parent):
        directory.chmod(0o755)
    old_blob.write_bytes(b"old")
    old_blob.chmod(0o644)
    notes = data_dir / "notes.txt"  # not the server's: left as it is
    notes.write_text("x")
    notes.chmod(0o644)
    with serving(kind, data_dir, env={"FLEETPORT_HTTPS_PORT": str(free_ports(1)[0])}) as server:
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
            org = http.post("/api/v1/organizations", json={"name": "Acme", "public_namespace": "acme"})
            assert org.status_code == 201, org.text
            module = {"organization_id": org.json()["id"], "name": "lidar"}
            assert http.post("/api/v1/modules", json=module).status_code == 201
            upload = http.put("/api/v1/modules/acme:lidar/versions/1.0.0/files/any", content=b"module bytes")
            assert upload.status_code == 200, upload.text
        kept = [p for p in data_dir.rglob("*") if p.name not in ("notes.txt", "server.log")]  # the server's
        files = [p for p in kept if p.is_file()]
        directories = [data_dir, *(p for p in kept if p.is_dir())]
        names = {p.name for p in files}
        assert "key.pem" in names and "cert.pem" in names
        assert len([p for p in files if p.parent.parent.parent.name == "blobs"]) == 2  # old and uploaded
        if kind == "sqlite":
            assert {"fleetport.db", "fleetport.db-wal", "fleetport.db-shm"} <= names
        assert {str(p): oct(mode(p)) for p in files if mode(p) != 0o600} == {}
        assert {str(p): oct(mode(p)) for p in directories if mode(p) != 0o700} == {}
        assert mode(notes) == 0o644


@pytest.mark.parametrize(("setting", "pragma"), [(None, 1), ("NORMAL", 1), ("full", 2), ("FULL", 2)])
def test_sqlite_synchronous_setting_reaches_every_connection(
    tmp_path: Path, setting: str | None, pragma: int
) -> None:
    environ = {} if setting is None else {"FLEETPORT_SQLITE_SYNCHRONOUS": setting}
    fleet = open_fleet(Settings.from_env(environ, data_dir=tmp_path))
    try:
        for _ in range(2):  # a connection from the pool, and a fresh one
            with fleet.store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == pragma
            fleet.store.engine.dispose()
    finally:
        fleet.store.dispose()


def test_sqlite_synchronous_is_normal_or_full(tmp_path: Path) -> None:
    result = serve_once(tmp_path / "data", {"FLEETPORT_SQLITE_SYNCHRONOUS": "OFF"})
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0 and output.count("\n") == 0, output
    assert "FLEETPORT_SQLITE_SYNCHRONOUS" in output and "NORMAL or FULL" in output
    assert not (tmp_path / "data").exists()


def test_a_shared_directory_given_as_the_data_directory_is_left_open(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # as /tmp is
    fleet = open_fleet(Settings(data_dir=shared))
    fleet.store.dispose()
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
