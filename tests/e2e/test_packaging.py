"""``pip install fleetport`` is the SDK and the client commands, without the server's dependencies.

The wheel is built from this tree (no index: setuptools comes with the dev extra) and installed
into a fresh virtual environment without pip's resolver. Its dependencies are the distributions its
metadata requires, followed transitively through the ones installed here and linked into the
fresh environment: exactly what ``pip install fleetport`` would bring, with no download. Then
``import fleetport`` must work there while SQLAlchemy and the rest of the server cannot be
imported, and ``fleetport serve`` says how to install the server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
SERVER_MODULES = ["sqlalchemy", "alembic", "psycopg", "argon2", "uvicorn", "fastapi", "grpclib", "viam"]


def _dependency_closure(requirements: list[str]) -> dict[str, metadata.Distribution]:
    """The installed distributions that ``requirements`` (without extras) pull in, transitively."""
    found: dict[str, metadata.Distribution] = {}
    queue = [(Requirement(r), "") for r in requirements]
    while queue:
        requirement, extra = queue.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        for wanted in ("", *requirement.extras):
            key = f"{requirement.name.lower().replace('_', '-')}[{wanted}]"
            if key in found:
                continue
            dist = metadata.distribution(requirement.name)
            found[key] = dist
            queue += [(Requirement(r), wanted) for r in dist.requires or []]
    return {d.metadata["Name"]: d for d in found.values()}


def _top_level_paths(dist: metadata.Distribution) -> set[Path]:
    """The entries a distribution put into site-packages (packages, modules, its .dist-info)."""
    root = Path(str(dist.locate_file("")))
    tops = set()
    for file in dist.files or []:
        first = file.parts[0]
        if first in ("..", "__pycache__") or first.endswith(".pth"):
            continue
        tops.add(root / first)
    return tops


@pytest.fixture(scope="module")
def client_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    work = tmp_path_factory.mktemp("packaging")
    tree = work / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    wheels = work / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "--quiet"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels), str(tree)]
    subprocess.run(build, check=True, timeout=300, env=_clean_env())
    [wheel] = wheels.glob("fleetport-*.whl")

    target = work / "venv"
    venv.EnvBuilder(with_pip=False).create(target)
    python = target / "bin" / "python"
    install = [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(install, check=True, timeout=300, env=_clean_env())

    with zipfile.ZipFile(wheel) as archive:
        assert "fleetport/py.typed" in archive.namelist()
        info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        requires = [
            line.removeprefix("Requires-Dist:").strip()
            for line in archive.read(info).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
    base = [r for r in requires if "extra ==" not in r]
    deps = work / "deps"
    deps.mkdir()
    for dist in _dependency_closure(base).values():
        for path in _top_level_paths(dist):
            (deps / path.name).symlink_to(path)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        env=_clean_env(),
    ).stdout.strip()
    Path(site, "client-dependencies.pth").write_text(f"{deps}\n")
    yield target


def _clean_env() -> dict[str, str]:
    """The environment without this tree on the path: the fresh venv sees only what it installed."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def _run(env: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(env / "bin" / argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        env={**_clean_env(), "COLUMNS": "120"},
        cwd=env,
    )


def test_the_sdk_imports_without_the_server(client_env: Path) -> None:
    script = f"""
import importlib.util, sys
import fleetport
assert fleetport.__file__.startswith({str(client_env)!r}), fleetport.__file__
fleetport.Client, fleetport.AsyncClient, fleetport.NotFound
from fleetport.onep import OnepV1, Provision
from fleetport.onep.exceptions import OneException
import fleetport.cli
client = fleetport.Client("http://127.0.0.1:9", "key")
client.close()
print(sorted(m for m in {SERVER_MODULES!r} if importlib.util.find_spec(m) is not None))
"""
    result = _run(client_env, "python", "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_client_commands_run_without_the_server(client_env: Path) -> None:
    for argv in (
        ["fleetport", "--help"],
        ["fleetport", "machines", "--help"],
        ["fleetport", "parts", "logs", "--help"],
        ["fleetport", "dataports", "write", "--help"],
        ["fleetport", "modules", "upload", "--help"],
        ["python", "-m", "fleetport.cli", "keys", "create", "--help"],
    ):
        result = _run(client_env, *argv)
        assert result.returncode == 0, (argv, result.stderr)
        assert "Usage:" in result.stdout, argv
    version = _run(client_env, "fleetport", "version")
    assert version.stdout.strip() == metadata.version("fleetport")
    unreachable = _run(client_env, "fleetport", "--url", "http://127.0.0.1:9", "orgs", "list")
    assert unreachable.returncode == 1
    assert unreachable.stderr.startswith("error: cannot reach the Fleetport server at http://127.0.0.1:9")


def test_serve_says_how_to_install_the_server(client_env: Path) -> None:
    result = _run(client_env, "fleetport", "serve")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: the server is not installed here")
    assert lines[0].endswith("pip install 'fleetport[server]'")


def test_the_pytest_plugin_loads_without_the_server(client_env: Path, tmp_path: Path) -> None:
    """pytest where only the SDK is installed: the wheel's pytest11 entry point loads
    ``fleetport.testing``; a test without the fixture passes, and one with it fails saying how to
    install the server."""
    tests = _pytest_site(tmp_path / "pytest-site")
    (tmp_path / "test_user.py").write_text(
        "import fleetport.testing\n\n"
        "def test_without_a_server():\n"
        "    assert fleetport.testing.ADMIN_KEY\n\n"
        "def test_with_a_server(fleetport_server):\n"
        "    fleetport_server.client.organizations.create('Acme')\n"
    )
    env = {**_clean_env(), "PYTHONPATH": str(tests)}
    pytest_argv = [str(client_env / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider"]
    help_text = subprocess.run(
        [*pytest_argv, "--help"], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert help_text.returncode == 0, help_text.stderr
    assert "--fleetport-database-url" in help_text.stdout
    result = subprocess.run(
        [*pytest_argv, "-q", "-rE", "test_user.py"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed, 1 error" in result.stdout, result.stdout
    assert "ServerNotInstalled" in result.stdout
    assert "pip install 'fleetport[server]'" in result.stdout


def _pytest_site(site: Path) -> Path:
    """A directory of links to pytest and what it needs, installed here, for the client-only
    environment's PYTHONPATH."""
    site.mkdir()
    for dist in _dependency_closure(["pytest"]).values():
        for path in _top_level_paths(dist):
            link = site / path.name
            if not link.exists():
                link.symlink_to(path)
    return site
