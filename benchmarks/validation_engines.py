"""Time the database and pandas validation engines on the same staged month of Online Retail.

The month is extracted once into a staging table. Each engine then
validates it in its own subprocess, so that its peak memory (max RSS) is its
own, and the engines take turns so that machine noise hits both alike. Every
validation replaces the same quarantine rows, and the script checks that the
engines quarantined the same rows.

Usage: python benchmarks/validation_engines.py [--data PATH] [--month YYYY-MM] [--repeat N]
The databases are created with the prefix ``cohortintel_bench_validation`` on
the server at COHORTINTEL_POSTGRES_URL (default 127.0.0.1:5432) and dropped
at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH_PREFIX = "cohortintel_bench_validation"
ENGINES = ("database", "pandas")


def settings_for(engine: str, output_dir: str):
    from cohortintel.config import Settings

    return dataclasses.replace(
        Settings(), lookback_months=0, validation_engine=engine, output_dir=Path(output_dir)
    )


def child(engine: str, warehouse_dsn: str, month: str, output_dir: str) -> None:
    """Validate the staged month with one engine and print the timing and peak memory as JSON."""
    import datetime as dt

    from cohortintel import db
    from cohortintel.extract import staging_table_for
    from cohortintel.validate import validate_batch

    # Imported before the clock starts: importing GX takes seconds and is the
    # same for both engines.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations  # noqa: F401
    import pandas  # noqa: F401

    batch_month = dt.date.fromisoformat(f"{month}-01")
    started = time.perf_counter()
    result = validate_batch(
        warehouse_dsn,
        staging_table_for(batch_month),
        batch_month,
        batch_month,
        settings_for(engine, output_dir),
        f"bench-{engine}",
    )
    seconds = time.perf_counter() - started
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "select md5(string_agg(source_row_id::text || rule, ',' order by source_row_id, rule))"
            " from quarantine.transactions"
        )
        (quarantine_digest,) = cur.fetchone()
    print(
        json.dumps(
            {
                "validate": seconds,
                "rows_read": result["rows_read"],
                "rows_quarantined": result["rows_quarantined"],
                "quarantine_digest": quarantine_digest,
                # ru_maxrss is in kilobytes on Linux.
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def measure(engine: str, warehouse_dsn: str, month: str, output_dir: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", engine, warehouse_dsn, month, output_dir],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="Online Retail CSV (default: the shared data set)")
    parser.add_argument("--month", default="2011-11", help="month to validate (default: 2011-11)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each engine (default: 3)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0

    import datetime as dt
    import tempfile

    from cohortintel import db, source
    from cohortintel.environment import DatabaseNames
    from cohortintel.extract import extract_batch
    from cohortintel.postgres_server import drop_database, ensure_database, find_or_start

    server = find_or_start(os.environ.get("COHORTINTEL_POSTGRES_URL"))
    names = DatabaseNames.with_prefix(BENCH_PREFIX)
    data = Path(args.data) if args.data else source.DEFAULT_ONLINE_RETAIL_CSV
    month = dt.date.fromisoformat(f"{args.month}-01")
    results: dict[str, list[dict]] = {engine: [] for engine in ENGINES}
    for name in (names.source, names.warehouse):
        ensure_database(server, name)
    source_dsn = server.database_dsn(names.source)
    warehouse_dsn = server.database_dsn(names.warehouse)
    try:
        source.load_online_retail(source_dsn, data)
        db.migrate(warehouse_dsn)
        with tempfile.TemporaryDirectory() as output_dir:
            extract_batch(
                source_dsn, warehouse_dsn, month, settings_for("database", output_dir), "bench"
            )
            for _ in range(args.repeat):
                for engine in ENGINES:
                    results[engine].append(measure(engine, warehouse_dsn, args.month, output_dir))
    finally:
        drop_database(server, names.source)
        drop_database(server, names.warehouse)
    report(args.month, results)
    return 0


def report(month: str, results: dict[str, list[dict]]) -> None:
    def median(engine: str, key: str) -> float:
        return statistics.median(run[key] for run in results[engine])

    first = {engine: runs[0] for engine, runs in results.items()}
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"month {month}: {first['database']['rows_read']:,} rows staged; "
        f"median of {len(results['database'])} runs each"
    )
    for engine in ENGINES:
        print(
            f"{engine:<9} validate {median(engine, 'validate'):7.2f} s, "
            f"peak RSS {median(engine, 'peak_rss_mb'):5.0f} MB, "
            f"{first[engine]['rows_quarantined']:,} rows quarantined"
        )
    print(
        f"pandas / database time:      {median('pandas', 'validate') / median('database', 'validate'):.2f}"
    )
    print(
        f"pandas / database peak RSS:  "
        f"{median('pandas', 'peak_rss_mb') / median('database', 'peak_rss_mb'):.2f}"
    )
    digests = {run["quarantine_digest"] for runs in results.values() for run in runs}
    print(f"same quarantine rows in every run: {len(digests) == 1}")


if __name__ == "__main__":
    sys.exit(main())
