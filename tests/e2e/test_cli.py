"""The ``fleetport`` command line against a real server: both run as subprocesses, nothing is mocked."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port

ADMIN_KEY = "a" * 40
UNKNOWN_ID = "00000000-0000-7000-8000-000000000000"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPORT_") and k != "FORCE_COLOR"}
    return {**env, "COLUMNS": "200", "NO_COLOR": "1", **extra}


@dataclass
class LiveServer:
    url: str
    log: Path

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Runs ``fleetport --url <server> --api-key <admin key> ARGS``; a later --url or --api-key in
        ARGS wins."""
        argv = [sys.executable, "-m", "fleetport.cli", "--url", self.url, "--api-key", ADMIN_KEY, *args]
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=_env(), timeout=60)

    def ok(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        result = self.cli(*args, **kwargs)
        assert result.returncode == 0, f"{args} failed: {result.stderr}"
        return result

    def json(self, *args: str, **kwargs: Any) -> Any:
        return json.loads(self.ok(*args, "--json", **kwargs).stdout)

    def many(self, *calls: Sequence[str]) -> list[subprocess.CompletedProcess[str]]:
        """Independent commands, run side by side to keep the suite fast."""
        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(lambda argv: self.cli(*argv), calls))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("fleetport")
    port = free_port()
    # flags and environment together: the flags must win over FLEETPORT_HTTP_PORT
    env = _env(
        FLEETPORT_HTTP_PORT="1",
        FLEETPORT_HTTPS_PORT="0",
        FLEETPORT_GRPC_PORT="0",
        FLEETPORT_ADMIN_API_KEY=ADMIN_KEY,
        FLEETPORT_ADMIN_PASSWORD="password123",
    )
    argv = [sys.executable, "-m", "fleetport.cli", "serve", "--http-port", str(port), "--data-dir", str(data)]
    log = data / "server.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(argv, env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer /health within 30 s:\n{log.read_text()}")
            time.sleep(0.1)
        yield LiveServer(url, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Acme:
    org: str
    location: str
    machine: str
    main_part: dict[str, Any]


@pytest.fixture(scope="module")
def acme(live: LiveServer) -> Acme:
    org = live.json("orgs", "create", "Acme Robotics", "--region", "eu")
    assert org["name"] == "Acme Robotics" and org["region"] == "eu"
    location = live.json("locations", "create", org["id"], "Warehouse")
    assert location["organization_id"] == org["id"]
    machine = live.json("machines", "create", location["id"], "picker")
    assert machine["location_id"] == location["id"] and machine["organization_id"] == org["id"]
    [part] = live.json("parts", "list", machine["id"])
    assert part["main_part"] is True and part["machine_id"] == machine["id"]
    return Acme(org["id"], location["id"], machine["id"], part)


def test_listings_show_what_was_created(live: LiveServer, acme: Acme) -> None:
    parts, orgs, machines = live.many(
        ["parts", "list", acme.machine],
        ["orgs", "list", "--json"],
        ["machines", "list", "--location", acme.location],
    )
    for result in (parts, orgs, machines):
        assert result.returncode == 0, result.stderr
    row = next(line for line in parts.stdout.splitlines() if acme.main_part["id"] in line)
    assert acme.main_part["name"] in row and "yes" in row
    assert acme.org in [o["id"] for o in json.loads(orgs.stdout)]
    assert acme.machine in machines.stdout and "picker" in machines.stdout


def test_config_set_and_history(live: LiveServer, acme: Acme) -> None:
    part_id = acme.main_part["id"]
    live.ok("parts", "config", "set", part_id, '{"speed": 1}')
    live.ok("parts", "config", "set", part_id, "--file", "-", stdin='{"speed": 2, "arm": {"joints": 6}}')

    history, table, current = live.many(
        ["parts", "config", "history", part_id, "--json"],
        ["parts", "config", "history", part_id],
        ["parts", "config", "get", part_id],
    )
    assert history.returncode == table.returncode == current.returncode == 0, history.stderr
    previous = [entry["previous_config"] for entry in json.loads(history.stdout)]
    assert previous == [{"speed": 1}, {}]
    assert '{"speed":1}' in table.stdout
    assert json.loads(current.stdout) == {"speed": 2, "arm": {"joints": 6}}


def test_config_set_rejects_bad_json(live: LiveServer, acme: Acme, tmp_path: Path) -> None:
    part_id = acme.main_part["id"]
    (tmp_path / "config.json").write_text("{speed: 1")
    inline, from_file, not_object, neither = live.many(
        ["parts", "config", "set", part_id, '{"speed": '],
        ["parts", "config", "set", part_id, "--file", str(tmp_path / "config.json")],
        ["parts", "config", "set", part_id, "[1, 2]"],
        ["parts", "config", "set", part_id],
    )
    assert inline.returncode == 1 and inline.stderr.startswith("error:") and "not valid JSON" in inline.stderr
    assert from_file.returncode == 1 and "config.json is not valid JSON" in from_file.stderr
    assert not_object.returncode == 1 and "must be a JSON object" in not_object.stderr
    assert neither.returncode == 2 and "--file" in neither.stderr
    assert "Traceback" not in inline.stderr + from_file.stderr + not_object.stderr + neither.stderr


def test_operator_key_reaches_machines_but_not_the_organization(live: LiveServer, acme: Acme) -> None:
    created = live.ok(
        "keys", "create", acme.org, "line operator", "--grant", f"operator:location:{acme.location}"
    )
    assert "shown only once" in created.stdout
    match = re.search(r"secret:\s+(\S+)", created.stdout)
    assert match, created.stdout
    secret = match.group(1)

    machine, org, keys = live.many(
        ["--api-key", secret, "machines", "get", acme.machine, "--json"],
        ["--api-key", secret, "orgs", "get", acme.org],
        ["keys", "list", acme.org, "--json"],
    )
    assert machine.returncode == 0, machine.stderr
    assert json.loads(machine.stdout)["id"] == acme.machine
    assert org.returncode == 1 and org.stdout == ""
    assert org.stderr.startswith("error:") and "read_organization" in org.stderr
    assert "Traceback" not in org.stderr

    [key] = [k for k in json.loads(keys.stdout) if k["name"] == "line operator"]
    assert key["secret"] is None
    assert [(a["role"], a["resource_id"]) for a in key["authorizations"]] == [("operator", acme.location)]


def test_errors_are_one_clear_line(live: LiveServer, acme: Acme) -> None:
    missing, bad_grant, unreachable, wrong_key = live.many(
        ["machines", "get", UNKNOWN_ID],
        ["keys", "create", acme.org, "k", "--grant", "operator:location"],
        ["--url", f"http://127.0.0.1:{free_port()}", "orgs", "list"],
        ["--api-key", "not-a-key", "orgs", "list"],
    )
    assert missing.returncode == 1 and "not found" in missing.stderr
    assert missing.stderr.startswith("error:") and missing.stderr.strip().count("\n") == 0
    assert bad_grant.returncode == 2 and "ROLE:RESOURCE_TYPE:RESOURCE_ID" in bad_grant.stderr
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith("error: cannot reach the Fleetport server")
    assert "Traceback" not in unreachable.stderr
    assert wrong_key.returncode == 1 and "--api-key" in wrong_key.stderr


def test_whoami(live: LiveServer) -> None:
    me = live.json("whoami")
    assert me["is_admin"] is True and me["kind"]


def test_dataports(live: LiveServer, acme: Acme, tmp_path: Path) -> None:
    machine = acme.machine
    made = live.json(
        "dataports", "create", machine, "temp", "--retention-count", "100", "--name", "Temperature"
    )
    assert (made["alias"], made["format"], made["retention_count"]) == ("temp", "float", 100)
    (tmp_path / "two.json").write_text('[[1000, 20.5], {"timestamp": 1001, "value": 21}]')
    state, duplicate, two, at, bad, device, root = live.many(
        ["dataports", "create", machine, "state", "--format", "string"],
        ["dataports", "create", machine, "temp"],
        ["dataports", "write", machine, "temp", "--file", str(tmp_path / "two.json")],
        ["dataports", "write", machine, "temp", "22.5", "--at", "1970-01-01T00:16:42Z"],
        ["dataports", "write", machine, "temp", "hot"],
        ["telemetry", "device-client", machine, "--json"],
        ["telemetry", "root-client", acme.org, "--json"],
    )
    for result in (state, two, at, device, root):
        assert result.returncode == 0, result.stderr
    assert duplicate.returncode == 1 and duplicate.stderr.startswith("error:") and "temp" in duplicate.stderr
    assert bad.returncode == 1 and "left out point 0" in bad.stderr and "'hot' is not a number" in bad.stderr
    assert "Traceback" not in bad.stderr + duplicate.stderr
    assert len(json.loads(device.stdout)["cik"]) == 40 and len(json.loads(root.stdout)["rid"]) == 40

    live.ok("dataports", "write", machine, "state", "idle", "busy", "--at", "-60")
    points, table, listed, got, newest = live.many(
        ["dataports", "read", machine, "temp", "--start", "0", "--order", "asc", "--json"],
        ["dataports", "read", machine, "temp", "--start", "1001", "--end", "1001"],
        ["dataports", "list", machine],
        ["dataports", "get", machine, "temp", "--json"],
        ["dataports", "read", machine, "state", "--limit", "1", "--json"],
    )
    for result in (points, table, listed, got, newest):
        assert result.returncode == 0, result.stderr
    assert [(p["timestamp"], p["value"]) for p in json.loads(points.stdout)] == [
        (1000, 20.5),
        (1001, 21.0),
        (1002, 22.5),
    ]
    assert [p["value"] for p in json.loads(newest.stdout)] == ["busy"]
    assert "1970-01-01T00:16:41+00:00" in table.stdout and "21.0" in table.stdout
    temp_row = next(line for line in listed.stdout.splitlines() if "temp" in line)
    assert "float" in temp_row and "22.5" in temp_row and "100 points" in temp_row
    assert json.loads(got.stdout)["count"] == 3

    updated = live.json(
        "dataports", "update", machine, "temp", "--retention-count", "unlimited", "--name", "T"
    )
    assert (updated["name"], updated["retention_count"]) == ("T", None)

    # more points than one write carries go in several (from stdin here)
    many = json.dumps({"points": [[5000 + i, i] for i in range(10_001)]})
    written = live.json("dataports", "write", machine, "temp", "--file", "-", stdin=many)
    assert written == {"written": 10_001, "failures": []}
    assert live.json("dataports", "get", machine, "temp")["count"] == 10_004

    live.ok("dataports", "delete", machine, "temp")
    gone = live.cli("dataports", "get", machine, "temp")
    assert gone.returncode == 1 and "no dataport 'temp'" in gone.stderr


def test_dataports_bad_arguments(live: LiveServer, acme: Acme) -> None:
    bad_time, both, neither, bad_format, bad_retention = live.many(
        ["dataports", "read", acme.machine, "x", "--start", "yesterday"],
        ["dataports", "write", acme.machine, "x", "1", "--file", "-"],
        ["dataports", "write", acme.machine, "x"],
        ["dataports", "create", acme.machine, "x", "--format", "double"],
        ["dataports", "update", acme.machine, "x", "--retention-count", "lots"],
    )
    for result in (bad_time, both, neither, bad_format, bad_retention):
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
    assert "ISO 8601" in bad_time.stderr and "unlimited" in bad_retention.stderr
