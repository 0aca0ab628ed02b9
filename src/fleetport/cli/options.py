"""Options and arguments several command groups share, and the parsing of what users type:
JSON given inline or in a file, times, visibilities."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from fleetport.cli.output import fail
from fleetport.client.errors import InvalidArgument
from fleetport.client.resources import unix_seconds


class Visibility(StrEnum):
    private = "private"
    public = "public"
    public_unlisted = "public_unlisted"


VisibilityOpt = Annotated[
    Visibility | None, typer.Option(case_sensitive=False, help="private, public or public_unlisted.")
]
ConfigOpt = Annotated[str | None, typer.Option("--config", help="The configuration, a JSON object.")]
ConfigFileOpt = Annotated[
    str | None, typer.Option("--file", "-f", help="Read the JSON object from this file; '-' reads stdin.")
]


def read_json(inline: str | None, file: str | None, inline_source: str) -> tuple[str, Any]:
    """(where it came from, the JSON value) of text given inline, or in a file ('-' reads stdin) when
    ``file`` is given; unreadable or invalid JSON ends the command with an error naming its source."""
    if file is None:
        source, text = inline_source, inline or ""
    elif file == "-":
        source, text = "stdin", sys.stdin.read()
    else:
        source = file
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {file}: {exc}")
    try:
        return source, json.loads(text)
    except ValueError as exc:
        fail(f"{source} is not valid JSON: {exc}")


def json_object(inline: str | None, file: str | None, inline_source: str) -> dict[str, Any]:
    """Like :func:`read_json`, for a value that must be a JSON object."""
    source, value = read_json(inline, file, inline_source)
    if not isinstance(value, dict):
        fail(f"{source} must be a JSON object ({{...}}), not {type(value).__name__}")
    return value


def optional_config(inline: str | None, file: str | None) -> dict[str, Any] | None:
    """A configuration given with --config or --file; None when neither is given."""
    if inline is not None and file is not None:
        raise typer.BadParameter("give the configuration with --config or --file, not both")
    if inline is None and file is None:
        return None
    return json_object(inline, file, "--config")


def parse_time(value: str | None, option: str) -> int | None:
    """Unix seconds, from an integer or an ISO 8601 time (without a zone: UTC)."""
    if value is None:
        return None
    try:
        return unix_seconds(value)
    except InvalidArgument as exc:
        raise typer.BadParameter(exc.message, param_hint=option) from None


def when(seconds: int | None) -> datetime | None:
    """A Unix timestamp as a UTC time (None when there is none, or it is beyond the calendar)."""
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
