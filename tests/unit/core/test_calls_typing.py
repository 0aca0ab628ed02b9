"""``Call`` keeps the arguments of the core method it runs (ParamSpec): mypy accepts a call that
matches the method and refuses one that does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.client.test_sdk_typing import _mypy

HEADER = """
from fleetport.core.calls import Call
from fleetport.core.fleet import Fleet
from fleetport.core.models import Machine


async def f(call: Call, fleet: Fleet) -> None:
"""

RIGHT = "    machine: Machine = await call(fleet.machines.get, 'machine-id')\n"

WRONG = {
    "argument_type": "    await call(fleet.machines.get, 123)\n",
    "missing_argument": "    await call(fleet.machines.get)\n",
    "unknown_keyword": "    await call(fleet.machines.list, 10, None, shelf='a')\n",
    "result_type": "    name: str = await call(fleet.machines.get, 'machine-id')\n",
}


def test_a_matching_call_passes(tmp_path: Path) -> None:
    checked = _mypy(tmp_path, "right", HEADER + RIGHT)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_call_is_refused(tmp_path: Path, name: str) -> None:
    checked = _mypy(tmp_path, name, HEADER + WRONG[name])
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert f"{name}.py:{HEADER.count(chr(10)) + 1}: error" in checked.stdout, checked.stdout
