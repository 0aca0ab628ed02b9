"""Fragments, the registry and modules through the SDK (sync and async) and the ``fleetport`` command
line, against a real server process."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fleetport import AsyncClient, Client
from fleetport.client.errors import Conflict, InvalidArgument, NotFound
from tests.conftest import ADMIN_KEY, RunningServer


def _cli(server: RunningServer, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPORT_") and k != "FORCE_COLOR"}
    argv = [sys.executable, "-m", "fleetport.cli", "--url", server.url, "--api-key", ADMIN_KEY, *args]
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "200", "NO_COLOR": "1"},
        timeout=60,
        cwd=cwd,
    )


def _ok(server: RunningServer, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = _cli(server, *args, cwd=cwd)
    assert result.returncode == 0, f"{args}: {result.stderr}"
    return result


def _json(server: RunningServer, *args: str) -> Any:
    return json.loads(_ok(server, *args, "--json").stdout)


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Any:
    with Client(server.url, ADMIN_KEY) as c:
        yield c


def test_sdk_modules_and_fragments(client: Client, server: RunningServer) -> None:
    org = client.organizations.create("SDK org", public_namespace="sdk")
    ref = client.modules.create(org.id, "driver")
    assert (ref.module_id, ref.url) == ("sdk:driver", "/api/v1/modules/sdk:driver")
    client.modules.update(ref.module_id, description="drives", visibility="public", entrypoint="run.sh")
    content = os.urandom(3 * (1 << 20) + 7)
    uploaded = client.modules.upload(ref.module_id, "1.0.0", "linux/amd64", content)
    assert uploaded.size == len(content)
    # a file object is sent in chunks
    upload = client.modules.upload(ref.module_id, "1.0.1", "any", io.BytesIO(content[:1000]))
    assert upload.size == 1000
    sink = io.BytesIO()
    seen: list[tuple[int, int | None]] = []
    size = client.modules.download(
        ref.module_id, "1.0.0", "linux/amd64", sink, progress=lambda n, total: seen.append((n, total))
    )
    assert size == len(content) and sink.getvalue() == content
    assert seen[-1] == (len(content), len(content))
    module = client.modules.get(ref.module_id)
    assert (module.description, module.entrypoint, module.visibility) == ("drives", "run.sh", "public")
    assert [v.version for v in module.versions] == ["1.0.0", "1.0.1"]
    assert [m.id for m in client.modules.list(org.id)] == ["sdk:driver"]
    assert [i.id for i in client.registry.list(org.id, platforms=["any"])] == ["sdk:driver"]
    assert client.registry.deprecate_version(ref.module_id, "1.0.0", "old").versions[0].deprecated
    with pytest.raises(NotFound):
        client.modules.download(ref.module_id, "9.9.9", "any", io.BytesIO())
    with pytest.raises(InvalidArgument):
        client.modules.upload(ref.module_id, "one", "any", b"x")
    with pytest.raises(Conflict):
        client.registry.create(org.id, "driver", "module")

    fragment = client.fragments.create(org.id, "base", config={"a": 1})
    client.fragments.update(fragment.id, config={"a": 2})
    assert client.fragments.update(fragment.id, name="renamed").config == {"a": 2}
    assert [r.previous_config for r in client.fragments.history(fragment.id)] == [{"a": 2}, {"a": 1}]
    assert [f.name for f in client.fragments.list(org.id)] == ["renamed"]

    async def run_async() -> None:
        async with AsyncClient(server.url, ADMIN_KEY) as aio:
            again = await aio.modules.upload(ref.module_id, "2.0.0", "linux/arm64", io.BytesIO(b"async!"))
            assert again.size == 6
            out = io.BytesIO()
            assert await aio.modules.download(ref.module_id, "2.0.0", "linux/arm64", out) == 6
            assert out.getvalue() == b"async!"
            assert [f.id async for f in aio.fragments.list(org.id)] == [fragment.id]

    asyncio.run(run_async())


def test_cli(server: RunningServer, tmp_path: Path) -> None:
    org = _json(server, "orgs", "create", "CLI org", "--namespace", "cli")
    module = _json(server, "modules", "create", org["id"], "cam")
    assert module["module_id"] == "cli:cam"
    _ok(
        server,
        "modules",
        "update",
        "cli:cam",
        "--model",
        "rdk:component:camera=cli:cam:fast",
        "--visibility",
        "public",
    )

    file = tmp_path / "cam.tar.gz"
    file.write_bytes(os.urandom(2 * (1 << 20)))
    result = _ok(
        server, "modules", "upload", "cli:cam", str(file), "--version", "0.1.0", "--platform", "linux/amd64"
    )
    assert "uploaded cam.tar.gz" in result.stderr
    target = tmp_path / "out.bin"
    result = _ok(
        server,
        "modules",
        "download",
        "cli:cam",
        "--version",
        "0.1.0",
        "--platform",
        "linux/amd64",
        "-o",
        str(target),
    )
    assert target.read_bytes() == file.read_bytes() and not (tmp_path / "out.bin.part").exists()
    _ok(
        server,
        "modules",
        "download",
        "cli:cam",
        "--version",
        "0.1.0",
        "--platform",
        "linux/amd64",
        cwd=tmp_path,
    )
    assert (tmp_path / "cam-0.1.0-linux-amd64.tar.gz").read_bytes() == file.read_bytes()
    failed = _cli(
        server,
        "modules",
        "download",
        "cli:cam",
        "--version",
        "9.0.0",
        "--platform",
        "any",
        "-o",
        str(tmp_path / "x"),
    )
    assert failed.returncode == 1 and "error:" in failed.stderr and not (tmp_path / "x").exists()

    shown = _ok(server, "modules", "get", "cli:cam").stdout
    assert "0.1.0" in shown and "linux/amd64" in shown and "rdk:component:camera" in shown
    assert "cli:cam" in [
        m["id"] for m in _json(server, "modules", "list", "--org", org["id"])
    ]  # and public ones

    item = _json(server, "registry", "create", org["id"], "weights", "--type", "ml_model")
    assert item["id"] == "cli:weights"
    _ok(
        server,
        "registry",
        "update",
        "cli:weights",
        "--description",
        "Weights",
        "--visibility",
        "public_unlisted",
    )
    assert [i["id"] for i in _json(server, "registry", "list", "--org", org["id"], "--type", "ml_model")] == [
        "cli:weights"
    ]
    assert _json(server, "registry", "deprecate", "cli:weights", "--message", "old")["deprecated"] is True
    assert _json(server, "registry", "undeprecate", "cli:weights")["deprecated"] is False
    assert _json(server, "registry", "deprecate", "cli:cam", "--version", "0.1.0")["versions"][0][
        "deprecated"
    ]
    assert "ml_model" in _ok(server, "registry", "get", "cli:weights").stdout
    _ok(server, "registry", "delete", "cli:weights")
    assert _cli(server, "registry", "get", "cli:weights").returncode == 1

    fragment = _json(server, "fragments", "create", org["id"], "base", "--config", '{"components": []}')
    config_file = tmp_path / "fragment.json"
    config_file.write_text('{"components": [{"name": "cam"}]}')
    updated = _json(
        server, "fragments", "update", fragment["id"], "--file", str(config_file), "--visibility", "public"
    )
    assert updated["config"] == {"components": [{"name": "cam"}]} and updated["public"] is True
    history = _json(server, "fragments", "history", fragment["id"])
    assert [h["previous_config"] for h in history] == [{"components": []}]
    assert [f["id"] for f in _json(server, "fragments", "list", org["id"], "--visibility", "public")] == [
        fragment["id"]
    ]
    assert "base" in _ok(server, "fragments", "list", org["id"]).stdout
    bad = _cli(server, "fragments", "create", org["id"], "x", "--config", "[1]")
    assert bad.returncode == 1 and "JSON object" in bad.stderr
    _ok(server, "fragments", "delete", fragment["id"])
