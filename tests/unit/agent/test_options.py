"""``fleetport agent --buffer-max-mb``: the values it takes and the clear refusals of the others."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fleetport.cli import app

RANGE = "0 (no cap) to"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("-1", "0 (no cap) to"),
        ("nan", "0 (no cap) to"),
        ("inf", "0 (no cap) to"),
        ("0.001", "at least 10 KB"),
    ],
)
def test_a_buffer_size_out_of_range_is_refused(value: str, says: str) -> None:
    result = CliRunner().invoke(
        app,
        ["agent", "--server", "http://127.0.0.1:9", "--part", "p", "--secret", "s", "--buffer-max-mb", value],
    )
    assert result.exit_code == 2 and says in result.output.replace("\n", " "), result.output
