"""A part's log on the command line: ``fleetport parts logs`` (list, filter, follow) and
``fleetport parts log`` (append)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from itertools import islice
from typing import Annotated, Any

import typer
from rich.text import Text

from fleetport.cli.options import parse_time, when
from fleetport.cli.output import Column, JsonOpt, done, fail, listing, out
from fleetport.cli.root import sdk
from fleetport.client import models as m

LOG_COLUMNS: list[Column] = ["id", "time", "level", "logger_name", "message"]
_LEVEL_STYLES = {
    "debug": "dim",
    "warn": "yellow",
    "error": "red",
    "dpanic": "red",
    "panic": "bold red",
    "fatal": "bold red",
}
_LEVEL_ALIASES = {"warning": "warn", "critical": "fatal"}


def _log_line(entry: m.LogEntry) -> Text:
    line = Text.assemble(
        (entry.time.isoformat(timespec="milliseconds"), "dim"),
        " ",
        (f"{entry.level.upper():<5}", _LEVEL_STYLES.get(entry.level, "")),
        " ",
    )
    if entry.logger_name:
        line.append(f"{entry.logger_name}: ", "cyan")
    line.append(entry.message)
    return line


def _print_logs(entries: Iterable[m.LogEntry], as_json: bool) -> None:
    for entry in entries:
        if as_json:
            typer.echo(entry.model_dump_json())
        else:
            out.print(_log_line(entry), soft_wrap=True, highlight=False)
    sys.stdout.flush()


def parts_logs(
    ctx: typer.Context,
    part_id: str,
    text: Annotated[
        str,
        typer.Option(
            "--filter", help="Only entries whose message or logger name holds this text (any case)."
        ),
    ] = "",
    level: Annotated[
        list[str] | None,
        typer.Option(
            "--level",
            help="Only entries of this level (repeatable): debug, info, warn, error, dpanic, panic, fatal.",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=10_000, help="How many of the newest entries to show.")
    ] = 100,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Then print new entries as they arrive, until Ctrl-C.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """A part's newest log entries, oldest first. With --follow, one line per entry (--json: one JSON
    object per line), and new entries follow as they arrive."""
    api = sdk(ctx)
    # the tail opens first, so that no entry falls between the listing and the tail
    tail = api.logs.tail(part_id, filter=text) if follow else None
    try:
        found = api.logs.list(part_id, filter=text, levels=level, limit=limit if limit <= 100 else None)
        newest = list(islice(found, limit))[::-1]
        if tail is None:
            listing(newest, LOG_COLUMNS, as_json)
            return
        _print_logs(newest, as_json)
        last = newest[-1].id if newest else 0
        wanted = {_LEVEL_ALIASES.get(v.lower(), v.lower()) for v in level or ()}
        for batch in tail:
            _print_logs((e for e in batch if e.id > last and (not wanted or e.level in wanted)), as_json)
    except KeyboardInterrupt:
        pass
    finally:
        if tail is not None:
            tail.close()


def parts_log(
    ctx: typer.Context,
    part_id: str,
    message: str,
    level: Annotated[str, typer.Option(help="debug, info, warn, error, dpanic, panic or fatal.")] = "info",
    at: Annotated[
        str | None,
        typer.Option("--time", help="When it happened: ISO 8601 or Unix seconds. Default: when it arrives."),
    ] = None,
    logger: Annotated[str, typer.Option(help="The logger's name.")] = "",
) -> None:
    """Append an entry to a part's log."""
    entry: dict[str, Any] = {"level": level, "message": message, "logger_name": logger}
    seconds = parse_time(at, "--time")
    if seconds is not None:
        entry["time"] = when(seconds) or fail(f"--time {at} is out of range")
    sdk(ctx).logs.append(part_id, [entry])
    done(f"logged to part {part_id}")
