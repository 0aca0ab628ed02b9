"""Part log queries with a sparse text filter over a long log, beside an unfiltered page and the
same LIKE in raw SQL, on SQLite and PostgreSQL.

In the benchmark's own process: a Fleet (``fleetport.server.open_fleet``) on a fresh database, one
part holding ``--entries`` entries appended through ``fleet.logs.append`` (10,000 a batch), of
which one in ``--every`` says "Motor überhitzt"; then, interleaved, ``--queries`` times each (after
two unmeasured rounds):

* **filter**: ``fleet.logs.query(admin, part, filter="ÜBERHITZT", limit=100)``, the newest first;
  it has to look at every entry of the part to find the few that match;
* **no filter**: ``fleet.logs.query(admin, part, limit=100)``, the newest page;
* **raw SQL LIKE**: ``SELECT * FROM part_logs WHERE part_id = ? AND (message LIKE '%überhitzt%' OR
  logger_name LIKE '%überhitzt%') ORDER BY time DESC, id DESC LIMIT 101`` on the store's engine:
  what the database itself takes to scan the part's entries for the text, with no folding, no
  permission check and no conversion of rows.

It prints the median and p90 of each in milliseconds, and filter / raw SQL. Run it from the
repository root; ``PYTHONPATH`` chooses which Fleetport it measures:

    PYTHONPATH=src .venv/bin/python bench/logs.py
    PYTHONPATH=src .venv/bin/python bench/logs.py --skip-pg --entries 20000 --queries 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import harness
from sqlalchemy import text

from fleetport.core.credentials import BearerToken
from fleetport.core.logs import NewLogEntry
from fleetport.server import open_fleet
from fleetport.settings import Settings

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ADMIN_KEY = "bench-admin-key-" + "x" * 30
BENCH_DATABASE = "fleetport_bench_logs"  # on PostgreSQL: created for the run, dropped afterwards
BATCH = 10_000
FILTER = "ÜBERHITZT"
RAW_LIKE = text(
    "SELECT * FROM part_logs WHERE part_id = :part AND (message LIKE :pattern OR logger_name LIKE :pattern) "
    "ORDER BY time DESC, id DESC LIMIT 101"
)
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _entry(i: int, every: int) -> NewLogEntry:
    message = f"Motor überhitzt: {i}" if i % every == every // 2 else f"wheel {i % 4} at {i % 977} rpm"
    return NewLogEntry(time=T0 + timedelta(milliseconds=i), level="info", message=message, logger_name="rdk")


def _measure(database: harness.Database, data_dir: Path, args: argparse.Namespace) -> dict[str, list[float]]:
    settings = Settings(
        data_dir=data_dir,
        database_url=database.url or "",
        log_retention_count=0,
        log_retention_seconds=0,
    )
    fleet = open_fleet(settings)
    try:
        fleet.identity.bootstrap("admin@example.com", "admin-password", ADMIN_KEY)
        admin = fleet.identity.authenticate(BearerToken(ADMIN_KEY))
        org = fleet.organizations.create(admin, "Bench")
        location = fleet.locations.create(admin, org.id, "Lab")
        machine = fleet.machines.create(admin, location.id, "rover")
        (part,) = fleet.machines.parts(admin, machine.id)
        started = time.perf_counter()
        for first in range(0, args.entries, BATCH):
            last = min(first + BATCH, args.entries)
            fleet.logs.append(admin, part.id, [_entry(i, args.every) for i in range(first, last)])
        print(
            f"  appended {args.entries:,} entries in {time.perf_counter() - started:.1f} s", file=sys.stderr
        )
        if not fleet.store.is_sqlite:
            with fleet.store.write() as conn:  # as autovacuum would, before the plans are made
                conn.execute(text("ANALYZE part_logs"))
        expected = len([i for i in range(args.entries) if i % args.every == args.every // 2])

        def filtered() -> int:
            entries, _ = fleet.logs.query(admin, part.id, filter=FILTER, limit=100)
            return len(entries)

        def unfiltered() -> int:
            entries, _ = fleet.logs.query(admin, part.id, limit=100)
            return len(entries)

        def raw_like() -> int:
            with fleet.store.read() as conn:
                return len(conn.execute(RAW_LIKE, {"part": part.id, "pattern": "%überhitzt%"}).all())

        kinds: dict[str, tuple[Callable[[], int], int]] = {
            "filter": (filtered, min(expected, 100)),
            "no filter": (unfiltered, 100),
            "raw SQL LIKE": (raw_like, min(expected, 101)),
        }
        times: dict[str, list[float]] = {name: [] for name in kinds}
        for round_ in range(args.queries + 2):
            for name, (query, count) in kinds.items():
                started = time.perf_counter()
                got = query()
                elapsed = time.perf_counter() - started
                if got != count:
                    raise harness.BenchFailure(f"{name}: {got} entries, expected {count}")
                if round_ >= 2:
                    times[name].append(elapsed * 1000)
        return times
    finally:
        fleet.store.dispose()


def _report(description: str, times: dict[str, list[float]]) -> None:
    print(f"\n{description}")
    print(f"  {'query':<14} {'median ms':>10} {'p90 ms':>9}")
    for name, values in times.items():
        ordered = sorted(values)
        print(f"  {name:<14} {statistics.median(ordered):>10.2f} {harness.percentile(ordered, 0.9):>9.2f}")
    ratio = harness.ratio(statistics.median(times["filter"]), statistics.median(times["raw SQL LIKE"]), ".2f")
    print(f"  filter / raw SQL LIKE (medians): {ratio}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=100_000, help="entries in the part's log (100,000)")
    parser.add_argument("--every", type=int, default=10_000, help="one entry in this many matches (10,000)")
    parser.add_argument("--queries", type=int, default=30, help="measured queries of each kind (30)")
    parser.add_argument(
        "--database-url", default=DEFAULT_PG_URL, help=f"PostgreSQL server ({DEFAULT_PG_URL})"
    )
    parser.add_argument("--skip-pg", action="store_true", help="SQLite only")
    args = parser.parse_args()

    def run(work_dir: Path, _processes: list[harness.Process]) -> int:
        urls: list[str | None] = [None] if args.skip_pg else [None, args.database_url]
        print(
            f"{args.entries:,} entries in one part, 1 in {args.every:,} matching the filter "
            f"{FILTER!r}; {args.queries} queries of each kind, pages of 100",
        )
        for i, url in enumerate(urls):
            with harness.bench_database(url, BENCH_DATABASE) as database:
                print(f"{database.description}: filling", file=sys.stderr)
                _report(database.description, _measure(database, work_dir / f"data-{i}", args))
        return 0

    return harness.run_benchmark("fleetport-bench-logs-", run)


if __name__ == "__main__":
    sys.exit(main())
