"""The README's examples run as written against a real server, on either database: the command line
block line by line in one shell environment (ids that a line prints go where later lines say
<org-id>, <machine-id>, ...), the Python SDK block as a script, and the curl line."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ADMIN_KEY, RunningServer, serving

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SRC = ROOT / "src"
README_URL = "http://localhost:8080"
README_KEY = "fpk_..."
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
PLACEHOLDER = re.compile(r"<[a-z][a-z-]*>")
# the command whose output holds the id a placeholder stands for
PRODUCED_BY = {
    ("orgs", "create"): "<org-id>",
    ("locations", "create"): "<location-id>",
    ("machines", "create"): "<machine-id>",
    ("parts", "list"): "<part-id>",
}


def code_blocks(section: str, language: str) -> list[str]:
    """The fenced blocks of ``language`` under the README heading ``section``."""
    blocks: list[str] = []
    heading, fence, lines = "", None, []
    for line in README.read_text(encoding="utf-8").splitlines():
        if fence is None and line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif fence is None and line.startswith("```"):
            fence, lines = line[3:].strip(), []
        elif fence is not None and line.startswith("```"):
            if heading == section and fence == language:
                blocks.append("\n".join(lines))
            fence = None
        elif fence is not None:
            lines.append(line)
    return blocks


def _readme_env(workdir: Path) -> dict[str, str]:
    """The environment of a reader in the checkout after `make run`: `fleetport` in .venv/bin (here
    a launcher for this interpreter and source tree), and not on the PATH yet."""
    launcher = workdir / ".venv" / "bin" / "fleetport"
    launcher.parent.mkdir(parents=True)
    launcher.write_text(
        f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(SRC))}${{PYTHONPATH:+:$PYTHONPATH}} "
        f'exec {shlex.quote(sys.executable)} -m fleetport.cli "$@"\n'
    )
    launcher.chmod(0o755)
    path = [
        d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "fleetport").exists()
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETPORT_") and k != "FORCE_COLOR"}
    return {**env, "PATH": os.pathsep.join(path), "COLUMNS": "200", "NO_COLOR": "1"}


def _shell_lines(block: str) -> list[str]:
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _run_line(line: str, env: dict[str, str], workdir: Path) -> subprocess.CompletedProcess[str]:
    """Runs one README line in bash; the environment it leaves is carried to the next line."""
    dump = workdir / ".env-after"
    script = f"{line}\n__status=$?\nenv -0 > {shlex.quote(str(dump))}\nexit $__status\n"
    result = subprocess.run(
        ["bash", "-c", script], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )
    env.clear()
    env.update(item.split("=", 1) for item in dump.read_text().split("\0") if "=" in item)
    return result


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with serving(request.param, tmp_path_factory.mktemp(request.param)) as running:
        yield running


def test_the_command_line_examples_run_as_written(live: RunningServer, tmp_path: Path) -> None:
    (block,) = code_blocks("Command line", "sh")
    lines = _shell_lines(block)
    assert lines[0] == 'export PATH="$PWD/.venv/bin:$PATH"'
    workdir = tmp_path / "fleetport"
    env = _readme_env(workdir)
    assert subprocess.run(["bash", "-c", "command -v fleetport"], env=env).returncode != 0
    module = io.BytesIO()
    with tarfile.open(fileobj=module, mode="w:gz") as archive:  # the reader's own module, packed
        info = tarfile.TarInfo("run.sh")
        info.size = len(b"#!/bin/sh\n")
        archive.addfile(info, io.BytesIO(b"#!/bin/sh\n"))
    (workdir / "module.tar.gz").write_bytes(module.getvalue())

    ids: dict[str, str] = {}
    outputs: dict[tuple[str, str], str] = {}
    for written in lines:
        assert README_KEY not in written or README_URL in written, "the key and URL are set together"
        line = written.replace(README_URL, live.url).replace(README_KEY, ADMIN_KEY)
        for placeholder in set(PLACEHOLDER.findall(line)):
            assert placeholder in ids, f"{placeholder} in {written!r} comes from no line before it"
            line = line.replace(placeholder, ids[placeholder])
        result = _run_line(line, env, workdir)
        assert result.returncode == 0, f"{written}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        words = shlex.split(written, comments=True)
        if words[0] != "fleetport":
            continue
        command = (words[1], words[2])
        outputs[command] = result.stdout
        if command in PRODUCED_BY:
            found = UUID.search(result.stdout)
            assert found, f"{written} printed no id:\n{result.stdout}"
            ids[PRODUCED_BY[command]] = found.group()

    assert set(ids) == set(PRODUCED_BY.values())
    assert "rover-1-main" in outputs[("parts", "list")]
    assert "arm calibrated" in outputs[("parts", "logs")]
    assert [m["name"] for m in json.loads(outputs[("machines", "list")])] == ["rover-1"]
    assert "my-camera" in outputs[("registry", "list")]
    assert "21.5" in outputs[("dataports", "read")]
    downloaded = workdir / "my-camera-1.0.0-linux-amd64.tar.gz"
    assert downloaded.read_bytes() == module.getvalue()


def test_the_sdk_example_runs_as_written(live: RunningServer, tmp_path: Path) -> None:
    (block,) = code_blocks("Python SDK", "python")
    assert block.count(README_URL) == 1 and block.count(README_KEY) == 1
    script = tmp_path / "example.py"
    script.write_text(block.replace(README_URL, live.url).replace(README_KEY, ADMIN_KEY))
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    assert "['rover-1-main', 'arm']" in printed
    assert any(line.endswith("info gripper ready") for line in printed), printed
    assert any(line.endswith(" 21.5") for line in printed) and any(line.endswith(" 22.0") for line in printed)


def test_the_curl_example_runs_as_written(live: RunningServer) -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is not installed: the README's first example uses it")
    (command,) = re.findall(r"`(curl [^`]+)`", README.read_text(encoding="utf-8"))
    line = command.replace(README_URL, live.url).replace(README_KEY, ADMIN_KEY)
    result = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["is_admin"] is True
