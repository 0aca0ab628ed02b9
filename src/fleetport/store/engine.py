"""Engine set-up, transactions and migrations."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeAlias

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, RowMapping, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, StatementError

from fleetport.core.errors import Conflict, CoreError, Taken
from fleetport.store import credentials
from fleetport.store.locks import release

log = logging.getLogger("fleetport.store")

MIGRATIONS = Path(__file__).parent / "migrations"

# What core holds: a transaction (``Store.read``/``Store.write``), handed to the store's queries, and
# the rows they return (read by column name). Core names these, never the library behind them.
Tx: TypeAlias = Connection
Row: TypeAlias = RowMapping


class Store:
    """Owns the engine. ``read()`` and ``write()`` hand out a connection inside a transaction.

    On SQLite, write transactions start with ``BEGIN IMMEDIATE`` so that concurrent writers queue
    on the busy timeout instead of failing when a read lock cannot be upgraded. On PostgreSQL
    (read committed) writers run side by side: a read-modify-write locks its owning row first
    (``store.locks``).
    """

    def __init__(self, url: str, *, echo: bool = False, sqlite_synchronous: str = "NORMAL") -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            database = self.url.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            kwargs["pool_size"] = 16
            kwargs["max_overflow"] = 32
        else:
            kwargs["pool_size"] = 16
            kwargs["max_overflow"] = 16
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        self._credentials_generation = 0
        self._generation_lock = threading.Lock()
        self._credential_listeners: list[Callable[[], None]] = []
        credentials.watch(self.engine)
        if self.is_sqlite:
            _configure_sqlite(self.engine, sqlite_synchronous)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with _core_errors_unwrapped(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self, *, conflict: str | None = None) -> Iterator[Tx]:
        """A write transaction. A write a unique constraint refuses (the same name made by another
        request at the same moment) rolls it back and raises ``Conflict``: with the ``conflict``
        message when given, else one naming the table and columns."""
        with _core_errors_unwrapped(), _conflicts(conflict), self.engine.connect() as conn:
            conn = conn.execution_options(fleetport_write=True)
            try:
                with conn.begin():
                    yield conn
            finally:
                changed = credentials.take(conn)
                release(conn)
            if changed:
                self._credentials_changed()

    @property
    def credentials_generation(self) -> int:
        """Goes up each time a committed transaction of this process changed credentials or grants,
        and each time another process is heard to have done so (``credentials_changed_elsewhere``)."""
        return self._credentials_generation

    def on_credentials_changed(self, listener: Callable[[], None]) -> None:
        """Calls ``listener()`` after each committed transaction of this process that changed
        credentials or grants (on the committing thread), to tell the other processes."""
        self._credential_listeners.append(listener)

    def credentials_changed_elsewhere(self) -> None:
        """Another process changed credentials or grants: what this one remembers of them is stale."""
        with self._generation_lock:
            self._credentials_generation += 1

    def _credentials_changed(self) -> None:
        self.credentials_changed_elsewhere()
        for listener in self._credential_listeners:
            try:
                listener()
            except Exception:  # the change is committed and this process's cache dropped already
                log.exception("telling other processes of a credential change failed")

    def ping(self) -> None:
        with self.read() as conn:
            conn.execute(text("SELECT 1"))

    def migrate(self) -> None:
        """Apply every pending migration (run on server start)."""
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection_engine"] = self.engine
        command.upgrade(cfg, "head")

    def dispose(self) -> None:
        self.engine.dispose()


@contextmanager
def _core_errors_unwrapped() -> Iterator[None]:
    """A value refused while a statement bound it (store.storable) reaches the caller as the core
    error it is, not wrapped in SQLAlchemy's StatementError, once the transaction rolled back."""
    try:
        yield
    except StatementError as exc:
        if isinstance(exc.orig, CoreError):
            raise exc.orig from None
        raise


@contextmanager
def _conflicts(message: str | None) -> Iterator[None]:
    """Integrity errors as the core's ``Conflict``: a unique value taken (``Taken``, with ``message``
    or one the store derives) or a row referred to that another transaction removed meanwhile."""
    try:
        yield
    except IntegrityError as exc:
        if _is_unique_violation(exc):
            raise Taken(message or _taken(exc)) from None
        if _is_reference_violation(exc):
            raise Conflict("something this change refers to was removed meanwhile: try again") from None
        raise


def _is_unique_violation(exc: IntegrityError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(exc.orig)


def _is_reference_violation(exc: IntegrityError) -> bool:
    return getattr(exc.orig, "sqlstate", None) == "23503" or "FOREIGN KEY constraint failed" in str(exc.orig)


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")
_PG_KEY = re.compile(r"Key \((.+?)\)=")


def _taken(exc: IntegrityError) -> str:
    """``<table> already has a row with this <columns>``, from either database's report."""
    found = _SQLITE_UNIQUE.search(str(exc.orig))
    if found:
        names = [name.strip() for name in found.group(1).split(",")]
        table = names[0].split(".")[0]
        columns = ", ".join(name.split(".")[-1] for name in names)
    else:
        diag = getattr(exc.orig, "diag", None)
        table = getattr(diag, "table_name", None) or "the table"
        key = _PG_KEY.search(getattr(diag, "message_detail", None) or "")
        columns = key.group(1) if key else "values"
    return f"{table} already has a row with this {columns}"


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    if synchronous not in ("NORMAL", "FULL"):
        raise ValueError(f"synchronous is NORMAL or FULL, not {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN itself.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("fleetport_write", False)
        # straight to the driver: this runs for every transaction
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")  # type: ignore[union-attr]
