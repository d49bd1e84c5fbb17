"""Extract one batch of source transactions into a warehouse staging table.

A batch is the run's month plus the look-back months before it, so rows that
arrive late in the source are picked up by the next run. Rows are streamed
with COPY from the source straight into the warehouse, with no row-by-row
inserts and no DataFrame in between. When source and warehouse are the same
database, the batch stays inside it as one INSERT ... SELECT.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import re
import threading
import zoneinfo
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import psycopg2
import psycopg2.errors

from cohortintel import db
from cohortintel.config import Settings
from cohortintel.months import add_months, month_range, month_start

log = logging.getLogger(__name__)


# The canonical columns, in the order the mapping SQL selects them.
STAGING_COLUMNS = (
    "source_row_id, order_id, product_id, product_description, customer_id,"
    " occurred_at, quantity, unit_price, currency, country"
)


class ExtractError(RuntimeError):
    """The source could not be read with the configured column mapping."""


@dataclass(frozen=True)
class Batch:
    """Names and keys of a staged batch, handed to the next steps through XCom."""

    batch_month: str
    window_first_month: str
    staging_table: str
    rows_read: int
    # Digest of each extracted month's source rows, stored by the load (ops.loaded_month).
    source_digests: dict[str, str] = field(default_factory=dict)

    def to_xcom(self) -> dict:
        return asdict(self)


def staging_table_for(month: dt.date) -> str:
    """Return the staging table name of the batch that ends with ``month``."""
    return f"staging.transactions_{month:%Y_%m}"


_STAGING_TABLE_NAME = re.compile(r"^transactions_(\d{4})_(0[1-9]|1[0-2])$")


def drop_old_staging_tables(
    cur: psycopg2.extensions.cursor, month: dt.date, keep: int
) -> list[str]:
    """Drop the staging tables of batch months more than ``keep`` months before ``month``.

    Tables of later batch months stay, so a backfill of an old month never drops
    the tables of the months after it. Returns the dropped tables' names.
    """
    oldest_kept = add_months(month, -keep)
    cur.execute(
        "select tablename from pg_catalog.pg_tables where schemaname = 'staging' order by tablename"
    )
    dropped = []
    for (name,) in cur.fetchall():
        found = _STAGING_TABLE_NAME.match(name)
        if found is None:
            continue
        table_month = dt.date(int(found[1]), int(found[2]), 1)
        if table_month < oldest_kept:
            table = f"staging.{name}"
            cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (table,))
            cur.execute(db.sql.SQL("drop table if exists {}").format(db.identifier(table)))
            dropped.append(table)
    if dropped:
        log.info(
            "Dropped %s staging tables of batches before %s: %s",
            len(dropped),
            f"{oldest_kept:%Y-%m}",
            ", ".join(dropped),
        )
    return dropped


def _local_naive(month: dt.date, settings: Settings) -> dt.datetime:
    """Return the start of ``month`` (business time zone) as naive time of the source's zone."""
    start = month_start(month, settings.business_timezone)
    return start.astimezone(zoneinfo.ZoneInfo(settings.source_timezone)).replace(tzinfo=None)


def _mapping_query(
    cur: psycopg2.extensions.cursor,
    settings: Settings,
    window_start_local: dt.datetime | str,
    window_end_local: dt.datetime | str,
    include_undated: bool = True,
) -> str:
    """Return the mapping SELECT of the configured SQL file with every value bound."""
    query = db.render_sql(settings.extract_sql, source_table=settings.source_table)
    params = {
        "source_timezone": settings.source_timezone,
        "currency": settings.currency,
        "window_start_local": window_start_local,
        "window_end_local": window_end_local,
        "include_undated": include_undated,
    }
    return cur.mogrify(query, params).decode()


@contextlib.contextmanager
def _source_transaction(
    source_dsn: str, settings: Settings
) -> Iterator[psycopg2.extensions.cursor]:
    """Yield a cursor in one source transaction.

    A failed connection raises ExtractError, whose message names the connection
    id, host, port, database and user (never the password) and keeps libpq's reason.
    """
    try:
        conn = db.connect(source_dsn, application_name="cohortintel-extract")
    except psycopg2.OperationalError as error:
        parts = psycopg2.extensions.parse_dsn(source_dsn)
        reason = " ".join(str(error).split())
        raise ExtractError(
            f"Could not connect to the source database {parts.get('dbname')!r} at "
            f"{parts.get('host', 'localhost')}:{parts.get('port', '5432')} as user "
            f"{parts.get('user')!r} (connection {settings.source_conn_id!r}). Check that the "
            f"server is running and that the connection's host, port and database are right. "
            f"The driver reported: {reason}"
        ) from error
    try:
        with conn.cursor() as cur:
            yield cur
        conn.commit()
    finally:
        # Closing a connection rolls back a transaction left open by an error.
        conn.close()


def _source_columns(source_dsn: str, table: str) -> list[str]:
    schema, _, name = table.rpartition(".")
    with db.transaction(source_dsn) as cur:
        cur.execute(
            "select column_name from information_schema.columns"
            " where table_schema = %s and table_name = %s order by ordinal_position",
            (schema or "public", name),
        )
        return [row[0] for row in cur.fetchall()]


def _explain_mapping_error(
    error: psycopg2.Error, source_dsn: str, settings: Settings
) -> ExtractError:
    if isinstance(error, psycopg2.errors.UndefinedTable):
        return ExtractError(
            f"Source table {settings.source_table!r} not found on connection "
            f"{settings.source_conn_id!r}: {error.pgerror.strip() if error.pgerror else error}. "
            f"Set COHORTINTEL_SOURCE_TABLE to the table that holds the transactions."
        )
    found = ", ".join(_source_columns(source_dsn, settings.source_table)) or "none"
    return ExtractError(
        f"The column mapping in include/sql/{settings.extract_sql} does not fit source table "
        f"{settings.source_table!r}: {str(error).strip().splitlines()[0]}. Columns found: "
        f"{found}. Map the renamed or missing column in that file."
    )


def _copy_between(source_dsn: str, select_sql: str, warehouse_cur, staging_table: str) -> None:
    """Stream ``select_sql`` from the source into ``staging_table`` through an OS pipe."""
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "rb")
    writer = os.fdopen(write_fd, "wb")
    errors: list[BaseException] = []

    def produce() -> None:
        conn = db.connect(source_dsn, application_name="cohortintel-extract")
        try:
            with conn.cursor() as cur:
                cur.copy_expert(f"copy ({select_sql}) to stdout with (format csv)", writer)
        except BaseException as exc:  # handed to the consuming thread, which re-raises
            errors.append(exc)
        finally:
            conn.close()
            try:
                writer.close()
            except BrokenPipeError:
                pass

    thread = threading.Thread(target=produce, name="cohortintel-copy-out", daemon=True)
    thread.start()
    try:
        copy_in = db.sql.SQL("copy {} ({}) from stdin with (format csv)").format(
            db.identifier(staging_table), db.sql.SQL(STAGING_COLUMNS)
        )
        warehouse_cur.copy_expert(copy_in.as_string(warehouse_cur), reader)
    finally:
        reader.close()
        thread.join()
    if errors:
        # The writer closed its end early, so the warehouse COPY saw a short stream:
        # raising here rolls that partial batch back.
        raise errors[0]


# Settings that change what a load makes of the same source rows. A change to
# any of them makes every look-back month count as changed.
DIGEST_SETTINGS = (
    "source_table",
    "extract_sql",
    "source_timezone",
    "business_timezone",
    "currency",
    "accepted_currencies",
    "return_order_prefix",
    "adjustment_order_prefix",
    "max_quarantine_share",
    "max_missing_customer_share",
    "customer_id_pattern",
)


def settings_digest(settings: Settings) -> str:
    """Return a short digest of the mapping SQL and the settings that shape a load."""
    shaping = {name: getattr(settings, name) for name in DIGEST_SETTINGS}
    shaping["mapping_sql"] = db.read_sql(settings.extract_sql)
    text = json.dumps(shaping, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def source_digests(
    source_dsn: str, first: dt.date, last: dt.date, settings: Settings
) -> dict[dt.date, str]:
    """Return a digest of the mapped source rows of each month from ``first`` to ``last``.

    The digest is the row count and the sum of a 64-bit hash of every mapped row,
    so it ignores row order and changes when a row is added, removed or edited.
    A month without rows gets the digest of zero rows.
    """
    shaping = settings_digest(settings)
    with _source_transaction(source_dsn, settings) as cur:
        # Row text depends on these session settings; fix them so that every
        # process computes the same digest.
        cur.execute("set local timezone = 'UTC'")
        cur.execute("set local datestyle = 'ISO, YMD'")
        cur.execute("set local extra_float_digits = 1")
        mapped = _mapping_query(
            cur,
            settings,
            _local_naive(first, settings),
            _local_naive(add_months(last, 1), settings),
            include_undated=False,
        )
        month_of = cur.mogrify(
            "date_trunc('month', mapped.occurred_at at time zone %s)::date",
            (settings.business_timezone,),
        ).decode()
        try:
            cur.execute(
                f"select {month_of}, count(*), sum(hashtextextended(mapped::text, 0)::numeric)"
                f" from ({mapped}) as mapped group by 1"
            )
        except (psycopg2.errors.UndefinedColumn, psycopg2.errors.UndefinedTable) as error:
            raise _explain_mapping_error(error, source_dsn, settings) from error
        found = {month: f"{rows}:{hashes}:{shaping}" for month, rows, hashes in cur.fetchall()}
    return {month: found.get(month, f"0:0:{shaping}") for month in month_range(first, last)}


def _loaded_digests(warehouse_dsn: str, first: dt.date, last: dt.date) -> dict[dt.date, str]:
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "select month, source_digest from ops.loaded_month where month between %s and %s",
            (first, last),
        )
        return dict(cur.fetchall())


def _first_changed_month(
    source_dsn: str, warehouse_dsn: str, month: dt.date, settings: Settings
) -> tuple[dt.date, dict[dt.date, str]]:
    """Return the first look-back month that changed since its load, and every month's digest.

    Leading look-back months whose source rows and settings are unchanged since
    they were loaded are left out of the batch. The run's own month is always in it.
    """
    first = add_months(month, -settings.lookback_months)
    digests = source_digests(source_dsn, first, month, settings)
    loaded = _loaded_digests(warehouse_dsn, first, month)
    while first < month and loaded.get(first) == digests[first]:
        rows = digests[first].split(":", 1)[0]
        log.info(
            "Look-back month %s is unchanged in the source since it was loaded (%s rows); "
            "it is not extracted again",
            f"{first:%Y-%m}",
            rows,
        )
        first = add_months(first, 1)
    return first, digests


def same_database(source_dsn: str, warehouse_dsn: str) -> bool:
    """Tell whether two connection strings point at the same database on the same server."""
    source = psycopg2.extensions.parse_dsn(source_dsn)
    warehouse = psycopg2.extensions.parse_dsn(warehouse_dsn)
    keys = ("host", "port", "dbname")
    return all(source.get(key) == warehouse.get(key) for key in keys)


def extract_batch(
    source_dsn: str,
    warehouse_dsn: str,
    month: dt.date,
    settings: Settings,
    run_id: str,
) -> Batch:
    """Copy the source rows of the batch ending with ``month`` into a fresh staging table.

    The batch starts at the first look-back month whose source rows changed
    since it was loaded, or at ``month`` when none did.
    """
    window_first, digests = _first_changed_month(source_dsn, warehouse_dsn, month, settings)
    staging_table = staging_table_for(month)
    window_start = _local_naive(window_first, settings)
    window_end = _local_naive(add_months(month, 1), settings)
    log.info(
        "Extracting %s to %s (source local time %s to %s) from %s into %s",
        f"{window_first:%Y-%m}",
        f"{month:%Y-%m}",
        window_start,
        window_end,
        settings.source_table,
        staging_table,
    )
    with db.transaction(warehouse_dsn) as cur:
        db.execute_file(
            cur,
            "extract/create_staging.sql",
            {"staging_table": staging_table},
            staging_table=staging_table,
        )
        try:
            select_sql = _mapping_query(cur, settings, window_start, window_end)
            if same_database(source_dsn, warehouse_dsn):
                target = db.identifier(staging_table).as_string(cur)
                cur.execute(f"insert into {target} ({STAGING_COLUMNS}) {select_sql}")
            else:
                _copy_between(source_dsn, select_sql, cur, staging_table)
        except (psycopg2.errors.UndefinedColumn, psycopg2.errors.UndefinedTable) as error:
            raise _explain_mapping_error(error, source_dsn, settings) from error
        cur.execute(db.sql.SQL("select count(*) from {}").format(db.identifier(staging_table)))
        (rows_read,) = cur.fetchone()
        drop_old_staging_tables(cur, month, settings.staging_keep_months)
    log.info("Extracted %s rows into %s", rows_read, staging_table)
    if rows_read == 0:
        log.warning(
            "The source returned no rows for %s to %s; the validate step will stop the run.",
            f"{window_first:%Y-%m}",
            f"{month:%Y-%m}",
        )
    record_month_status(
        source_dsn,
        warehouse_dsn,
        month_range(add_months(month, -settings.lookback_months), month),
        settings,
        run_id,
    )
    return Batch(
        batch_month=month.isoformat(),
        window_first_month=window_first.isoformat(),
        staging_table=staging_table,
        rows_read=rows_read,
        source_digests={
            key.isoformat(): digest for key, digest in digests.items() if key >= window_first
        },
    )


def record_month_status(
    source_dsn: str,
    warehouse_dsn: str,
    months: list[dt.date],
    settings: Settings,
    run_id: str,
) -> dict[dt.date, bool]:
    """Store whether each month is closed, meaning the source already contains rows after it."""
    status: dict[dt.date, bool] = {}
    with _source_transaction(source_dsn, settings) as cur:
        for month in months:
            # Undated lines would count as "after" every month, so they are left out.
            month_end = _local_naive(add_months(month, 1), settings)
            after = _mapping_query(cur, settings, month_end, "infinity", include_undated=False)
            cur.execute(f"select exists ({after})")
            status[month] = cur.fetchone()[0]
    with db.transaction(warehouse_dsn) as cur:
        for month, is_complete in status.items():
            cur.execute(
                "insert into ops.month_status (month, is_complete, checked_by_run_id)"
                " values (%s, %s, %s) on conflict (month) do update set"
                " is_complete = excluded.is_complete,"
                " checked_by_run_id = excluded.checked_by_run_id, checked_at = now()",
                (month, is_complete, run_id),
            )
            if not is_complete:
                log.warning(
                    "Month %s is not closed: the source contains no rows after it yet. Its cells "
                    "are flagged incomplete and it is left out of forecasting input.",
                    f"{month:%Y-%m}",
                )
    return status
