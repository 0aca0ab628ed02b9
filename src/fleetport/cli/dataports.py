"""``fleetport dataports``: a machine's time series: create, tune retention, write points (in
batches, with failures reported) and read them."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

import typer
from rich.progress import BarColumn, Progress, TextColumn
from rich.text import Text

from fleetport.cli.options import parse_time, read_json, when
from fleetport.cli.output import Column, JsonOpt, done, dump_json, err, fail, listing, show
from fleetport.cli.root import sdk
from fleetport.client import models as m

app = typer.Typer(no_args_is_help=True, help="A machine's dataports: time series and their points.")


class DataportFormat(StrEnum):
    float = "float"
    integer = "integer"
    string = "string"
    binary = "binary"


class PointOrder(StrEnum):
    desc = "desc"
    asc = "asc"


class PointSelection(StrEnum):
    all = "all"
    givenwindow = "givenwindow"
    autowindow = "autowindow"


POINTS_PER_WRITE = 10_000


def _retention_text(d: m.Dataport) -> str:
    parts = []
    if d.retention_count is not None:
        parts.append(f"{d.retention_count} points")
    if d.retention_seconds is not None:
        parts.append(f"{d.retention_seconds}s")
    return ", ".join(parts) or "unlimited"


def _retention_option(value: str | None, option: str) -> int | Literal["unlimited"] | None:
    if value is None:
        return None
    if value == "unlimited":
        return "unlimited"
    if not value.isdigit():
        raise typer.BadParameter("give a whole number, or 'unlimited'", param_hint=option)
    return int(value)


DATAPORT_COLUMNS: list[Column] = [
    "alias",
    "format",
    "name",
    "count",
    ("last", lambda d: when(d.last_timestamp)),
    "last_value",
    ("retention", _retention_text),
    "rid",
]
POINT_COLUMNS: list[Column] = [("time", lambda p: when(p.timestamp)), "timestamp", "value"]
AliasArg = Annotated[str, typer.Argument(help="The dataport's alias (or its RID).")]


@app.command("list")
def dataports_list(ctx: typer.Context, machine_id: str, as_json: JsonOpt = False) -> None:
    """List a machine's dataports, with their newest point."""
    listing(sdk(ctx).dataports.list(machine_id), DATAPORT_COLUMNS, as_json)


@app.command("create")
def dataports_create(
    ctx: typer.Context,
    machine_id: str,
    alias: Annotated[str, typer.Argument(help="Unique for the machine; names the dataport from now on.")],
    format: Annotated[
        DataportFormat, typer.Option("--format", case_sensitive=False, help="What its values are.")
    ] = DataportFormat.float,
    name: Annotated[str, typer.Option(help="A display name.")] = "",
    retention_count: Annotated[
        int | None, typer.Option(min=0, help="Keep at most this many points (the newest).")
    ] = None,
    retention_seconds: Annotated[
        int | None, typer.Option(min=0, help="Delete points older than this many seconds.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a dataport on a machine (without retention options it keeps every point)."""
    dataport = sdk(ctx).dataports.create(
        machine_id,
        alias,
        format.value,
        name=name,
        retention_count=retention_count,
        retention_seconds=retention_seconds,
    )
    show(dataport, as_json)


@app.command("get")
def dataports_get(ctx: typer.Context, machine_id: str, alias: AliasArg, as_json: JsonOpt = False) -> None:
    """Show a dataport: its format, retention and newest point."""
    show(sdk(ctx).dataports.get(machine_id, alias), as_json)


@app.command("update")
def dataports_update(
    ctx: typer.Context,
    machine_id: str,
    alias: AliasArg,
    name: Annotated[str | None, typer.Option(help="New display name.")] = None,
    retention_count: Annotated[
        str | None, typer.Option(help="Keep at most this many points, or 'unlimited'.")
    ] = None,
    retention_seconds: Annotated[
        str | None, typer.Option(help="Delete points older than this many seconds, or 'unlimited'.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rename a dataport or change its retention (points beyond a smaller one are deleted at once)."""
    dataport = sdk(ctx).dataports.update(
        machine_id,
        alias,
        name=name,
        retention_count=_retention_option(retention_count, "--retention-count"),
        retention_seconds=_retention_option(retention_seconds, "--retention-seconds"),
    )
    show(dataport, as_json)


@app.command("delete")
def dataports_delete(ctx: typer.Context, machine_id: str, alias: AliasArg) -> None:
    """Delete a dataport with its points."""
    sdk(ctx).dataports.delete(machine_id, alias)
    done(f"deleted dataport {alias}")


def _points_file(file: str) -> list[Any]:
    """Points from a JSON file ('-': stdin): an array of {"timestamp", "value"} objects or
    [timestamp, value] pairs, or an object {"points": [...]}."""
    source, value = read_json(None, file, "")
    if isinstance(value, dict) and set(value) == {"points"}:
        value = value["points"]
    if not isinstance(value, list):
        fail(f'{source} must hold a JSON array of points, or {{"points": [...]}}')
    points: list[Any] = []
    for index, point in enumerate(value):
        if isinstance(point, list) and len(point) == 2:
            point = {"timestamp": point[0], "value": point[1]}
        if not isinstance(point, dict) or "value" not in point:
            fail(
                f"{source}: point {index} is neither "
                '{"timestamp": ..., "value": ...} nor [timestamp, value]'
            )
        points.append(point)
    return points


@app.command("write")
def dataports_write(
    ctx: typer.Context,
    machine_id: str,
    alias: AliasArg,
    values: Annotated[
        list[str] | None,
        typer.Argument(
            help="Values to write, each a point (the server converts them to the format).", show_default=False
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            help="Timestamp of the VALUES: Unix seconds or ISO 8601; negative: seconds ago. Default: now."
        ),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            "-f",
            help="Read points from a JSON file ('-': stdin): an array of "
            '{"timestamp": ..., "value": ...} objects, or of \\[timestamp, value] pairs.',
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write points to a dataport: the VALUES given (all at --at, or now), or the points of a JSON
    file, sent 10,000 at a time. Points that do not fit the format are reported, and the command
    then exits with status 1."""
    if bool(values) == (file is not None):
        raise typer.BadParameter("give VALUES or --file (exactly one)", param_hint="VALUES / --file")
    if file is not None:
        if at is not None:
            raise typer.BadParameter("--at goes with VALUES; a file's points carry their own")
        points = _points_file(file)
    else:
        timestamp = parse_time(at, "--at")
        points = [{"timestamp": timestamp, "value": v} for v in values or []]
    api = sdk(ctx)
    written, failures = 0, []
    batches = [points[i : i + POINTS_PER_WRITE] for i in range(0, len(points), POINTS_PER_WRITE)]
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} points"),
        console=err,
        disable=len(batches) < 2,
    ) as progress:
        task = progress.add_task(f"writing to {alias}", total=len(points))
        for number, batch in enumerate(batches):
            result = api.dataports.write(machine_id, alias, batch)
            written += result.written
            offset = number * POINTS_PER_WRITE
            for failure in result.failures:
                index = None if failure.index is None else failure.index + offset
                failures.append(failure.model_copy(update={"index": index}))
            progress.advance(task, len(batch))
    if as_json:
        dump_json(m.PointsWritten(written=written, failures=failures).model_dump(mode="json"))
    else:
        done(f"wrote {written} point{'s' if written != 1 else ''} to {alias}")
        for failure in failures:
            where = "a point" if failure.index is None else f"point {failure.index}"
            err.print(
                Text(f"left out {where} (timestamp {failure.timestamp}): {failure.reason}", style="red"),
                soft_wrap=True,
                highlight=False,
            )
    if failures:
        raise SystemExit(1)


@app.command("read")
def dataports_read(
    ctx: typer.Context,
    machine_id: str,
    alias: AliasArg,
    start: Annotated[str | None, typer.Option(help="From this time: Unix seconds or ISO 8601.")] = None,
    end: Annotated[str | None, typer.Option(help="Until this time (default: now).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Points at most.")] = 100,
    order: Annotated[
        PointOrder, typer.Option(help="desc: newest first; asc: oldest first.")
    ] = PointOrder.desc,
    selection: Annotated[
        PointSelection,
        typer.Option(
            help="all, givenwindow (newest of each of LIMIT slices) or autowindow (LIMIT spread evenly)."
        ),
    ] = PointSelection.all,
    as_json: JsonOpt = False,
) -> None:
    """Read a dataport's points, newest first."""
    points = sdk(ctx).dataports.read(
        machine_id,
        alias,
        start=parse_time(start, "--start"),
        end=parse_time(end, "--end"),
        limit=limit,
        order=order.value,
        selection=selection.value,
    )
    listing(points, POINT_COLUMNS, as_json)
