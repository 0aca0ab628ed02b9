"""The SDK as a type checker sees it (``py.typed``): ``AsyncClient``'s operations are awaited and its
listings iterated with ``async for``; ``Client``'s return their results. mypy checks a user's script
against the package, and must refuse the same script with the clients swapped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import fleetport

ASYNC_SCRIPT = """
import httpx
from fleetport import AsyncClient
from fleetport.client import models as m


async def main() -> None:
    offline = httpx.MockTransport(lambda request: httpx.Response(200))
    async with AsyncClient("http://fleetport.test", "key", transport=offline) as fp:
        machine: m.Machine = await fp.machines.get("machine-id")
        names: list[str] = [org.name async for org in fp.organizations.list()]
        points: list[m.Point] = await fp.dataports.read(machine.id, "temp", limit=10)
        async with await fp.logs.tail("part-id") as tail:
            async for batch in tail:
                entries: list[m.LogEntry] = batch
        await fp.machines.delete(machine.id)
"""

SYNC_SCRIPT = """
import httpx
from fleetport import Client
from fleetport.client import models as m

offline = httpx.MockTransport(lambda request: httpx.Response(200))
with Client("http://fleetport.test", "key", transport=offline) as fp:
    machine: m.Machine = fp.machines.get("machine-id")
    names: list[str] = [org.name for org in fp.organizations.list()]
    with fp.logs.tail("part-id") as tail:
        for batch in tail:
            entries: list[m.LogEntry] = batch
"""

# Functions whose last line a type checker must refuse: the other client's shape, a wrong argument.
WRONG = {
    "sync_awaited": "async def f(fp: Client) -> None:\n    await fp.machines.get('x')\n",
    "async_not_awaited": "def f(fp: AsyncClient) -> None:\n    name: str = fp.machines.get('x').name\n",
    "async_listing_in_for": "def f(fp: AsyncClient) -> None:\n    o = [o for o in fp.organizations.list()]\n",
    "wrong_argument": "async def f(fp: AsyncClient) -> None:\n    await fp.machines.get(42)\n",
}


def _mypy(tmp_path: Path, name: str, source: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / f"{name}.py"
    script.write_text(source)
    # the package these tests import, wherever it is installed from
    env = {**os.environ, "MYPYPATH": str(Path(fleetport.__file__).parent.parent)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path.parent / "mypy-cache"),
            "--config-file",
            os.devnull,
            str(script),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("typing") / "scripts"


def test_each_client_checks_in_its_own_shape(scripts: Path) -> None:
    scripts.mkdir(exist_ok=True)
    for name, source in (("async_use", ASYNC_SCRIPT), ("sync_use", SYNC_SCRIPT)):
        result = _mypy(scripts, name, source)
        assert result.returncode == 0, result.stdout + result.stderr

    lines = ["from fleetport import AsyncClient, Client"]
    wrong_lines = {}
    for name, source in WRONG.items():
        lines += ["", "", *source.replace("def f(", f"def {name}(").splitlines()]
        wrong_lines[name] = len(lines)  # the last line of each function is the wrong one
    result = _mypy(scripts, "wrong_use", "\n".join(lines) + "\n")
    assert result.returncode == 1, result.stdout + result.stderr
    refused = {int(line.split(":")[1]) for line in result.stdout.splitlines() if ": error:" in line}
    assert {name for name, line in wrong_lines.items() if line not in refused} == set(), result.stdout
