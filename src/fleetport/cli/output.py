"""What the command line prints: tables and field/value tables for people, JSON with ``--json``,
confirmations and errors on stderr (so that stdout carries only data)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, NoReturn

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fleetport.client import models as m
from fleetport.client.errors import FleetportError, InvalidServerURL, Unauthenticated, UntrustedCertificate

# Piped output is not squeezed to 80 columns, so ids stay whole; a terminal keeps its own width.
out = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200)
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
Column = str | tuple[str, Callable[[Any], Any]]


def fail(message: str) -> NoReturn:
    """Prints ``error: <message>`` in red on stderr and exits with status 1."""
    err.print(Text(f"error: {message}", style="red"), soft_wrap=True, highlight=False)
    raise SystemExit(1)


def report(exc: FleetportError) -> NoReturn:
    """An error from the SDK (a server's answer, an unreachable server) as one line that says what
    to do about it."""
    if isinstance(exc, UntrustedCertificate):
        fail(
            f"the TLS certificate of {exc.url} is not trusted ({exc.reason}): pass the server's "
            "certificate before the command, fleetport --ca-cert <file> ..., or in FLEETPORT_CA_CERT "
            "(a Fleetport server's own is <data dir>/tls/cert.pem)"
        )
    message = exc.message or str(exc)
    if isinstance(exc, Unauthenticated):
        message += "; check --api-key or FLEETPORT_API_KEY"
    elif isinstance(exc, InvalidServerURL):
        message += "; set it with --url or FLEETPORT_URL"
    fail(message)


def done(message: str) -> None:
    """A confirmation, on stderr so that stdout carries only data."""
    err.print(Text(message, style="green"), soft_wrap=True, highlight=False)


def dump_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def plain(value: Any) -> str:
    """A value as one table cell."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, m.Authorization | m.Grant):
        return f"{value.role}:{value.resource_type}:{value.resource_id}"
    if isinstance(value, m.User):
        return value.email
    if isinstance(value, list) and all(isinstance(v, BaseModel) for v in value):
        return "\n".join(plain(v) for v in value) or "-"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def abbreviated(value: dict[str, Any], width: int = 60) -> str:
    """A JSON object on one line, cut at ``width`` characters."""
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def show(obj: BaseModel, as_json: bool, *, hide: frozenset[str] = frozenset()) -> None:
    """One object: its JSON, or a field/value table (without the ``hide`` fields)."""
    if as_json:
        dump_json(obj.model_dump(mode="json"))
        return
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for name in type(obj).model_fields:
        if name in hide:
            continue
        table.add_row(name, Text(plain(getattr(obj, name))))
    out.print(table)


def listing(items: Iterable[BaseModel], columns: Sequence[Column], as_json: bool) -> None:
    """Several objects: a JSON array, or a table with the given columns (field names, or a title
    and a function of the item)."""
    if as_json:
        dump_json([item.model_dump(mode="json") for item in items])
        return
    table = Table(header_style="bold")
    getters: list[Callable[[Any], Any]] = []
    for column in columns:
        title, getter = column if isinstance(column, tuple) else (column, _field(column))
        is_id = title == "id" or title.endswith("_id")
        table.add_column(title.replace("_", " "), no_wrap=is_id, style="cyan" if title == "id" else None)
        getters.append(getter)
    for item in items:
        table.add_row(*(Text(plain(get(item))) for get in getters))
    out.print(table)


def _field(name: str) -> Callable[[Any], Any]:
    return lambda item: getattr(item, name)
