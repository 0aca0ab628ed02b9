"""The package keeps its shape: the import contracts in pyproject.toml ([tool.importlinter]) hold,
and breaking one is noticed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the tree at ``root`` (its pyproject.toml and its src/)."""
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_import_contracts_hold() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_core_importing_the_database_library_breaks_a_contract(tmp_path: Path) -> None:
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    ids = tmp_path / "src" / "fleetport" / "core" / "ids.py"
    ids.write_text(ids.read_text() + "\nimport sqlalchemy  # noqa\n")
    done = _lint_imports(tmp_path)
    assert done.returncode != 0
    assert "fleetport.core.ids -> sqlalchemy" in done.stdout, done.stdout
