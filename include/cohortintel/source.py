"""Load the UCI Online Retail transactions into a source database, as the shop's order system stores them.

``load_monthly_sales`` loads a folder of monthly sales series (one CSV per
series) into a second source table, the external series that the monthly
forecast reads.

The table keeps one row per invoice line with every original column and its
original meaning (local UK time without a zone, prices in GBP, an integer
customer id or NULL). The only addition is ``invoice_line_id``, the line's
position in the published file, which plays the role of the order system's
primary key. Every other column may be NULL, as in an order system that does
not enforce them, so that incomplete lines reach the pipeline and its
quarantine instead of being turned away at the door.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import logging
import math
import re
from pathlib import Path

import psycopg2

from cohortintel import db
from cohortintel.config import PROJECT_ROOT

log = logging.getLogger(__name__)

DEFAULT_ONLINE_RETAIL_CSV = (
    PROJECT_ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"
)
DEFAULT_MONTHLY_SALES_DIR = PROJECT_ROOT.parent / "shared" / "data" / "sales_monthly"
MONTHLY_SALES_HEADER = ["period", "value"]
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_SERIES_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# A UTC offset or zone after the time: "Z", "+02", "-0500", "+05:30", "UTC", "Europe/Paris".
_ZONE_SUFFIX = re.compile(
    r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:Z|UTC|GMT|[+-]\d\d(?::?\d\d)?|[A-Za-z_]+/[A-Za-z_/]+)\s*$"
)
EXPECTED_HEADER = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")


def check_header(path: Path) -> None:
    """Raise ValueError naming the missing columns if the CSV lacks an Online Retail column."""
    with _open_text(path) as handle:
        header = [name.strip() for name in handle.readline().rstrip("\r\n").split(",")]
    missing = [name for name in EXPECTED_HEADER if name not in header]
    if missing:
        raise ValueError(
            f"{path} is missing the column(s) {', '.join(missing)}; found {', '.join(header)}. "
            f"Expected the UCI Online Retail columns {', '.join(EXPECTED_HEADER)}."
        )
    if header != EXPECTED_HEADER:
        raise ValueError(
            f"{path} has the columns {', '.join(header)} in another order; "
            f"expected {', '.join(EXPECTED_HEADER)}."
        )


def check_local_times(path: Path) -> None:
    """Raise ValueError naming the line and value of the first InvoiceDate that carries a zone.

    The source stores local time without a zone, and PostgreSQL silently drops
    an offset given for a ``timestamp without time zone``, so a file that mixes
    zones would load shifted times without an error.
    """
    date_field = EXPECTED_HEADER.index("InvoiceDate")
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for fields in reader:
            if len(fields) > date_field and _ZONE_SUFFIX.search(fields[date_field]):
                raise ValueError(
                    f"{path}, line {reader.line_num}: InvoiceDate {fields[date_field]!r} carries "
                    f"a time zone, but the source stores local time without one and would drop "
                    f"it. Convert the time to the source's local time (COHORTINTEL_SOURCE_TIMEZONE) "
                    f"without an offset, then load again."
                )


def load_online_retail(
    dsn: str, csv_path: Path, table: str = "public.invoice_lines", allow_empty: bool = True
) -> int:
    """Create (or replace) the source table and COPY the CSV into it; return the row count.

    With ``allow_empty`` false, a file without data rows raises ValueError and the
    previous source table is kept, because the load is one transaction.
    """
    if not csv_path.is_file():
        raise FileNotFoundError(
            f"Online Retail data not found at {csv_path}; pass the CSV (or .csv.gz) path "
            f"with --data."
        )
    check_header(csv_path)
    check_local_times(csv_path)
    target = db.identifier(table)
    with db.transaction(dsn) as cur:
        cur.execute(db.sql.SQL("drop table if exists {} cascade").format(target))
        cur.execute(
            db.sql.SQL(
                """
                create table {} (
                    invoice_line_id bigint generated always as identity primary key,
                    invoice_no text,
                    stock_code text,
                    description text,
                    quantity integer,
                    invoice_date timestamp without time zone,
                    unit_price numeric(12, 3),
                    customer_id integer,
                    country text
                )
                """
            ).format(target)
        )
        copy = db.sql.SQL(
            "copy {} (invoice_no, stock_code, description, quantity, invoice_date,"
            " unit_price, customer_id, country) from stdin with (format csv, header true)"
        ).format(target)
        with _open_text(csv_path) as handle:
            try:
                cur.copy_expert(copy.as_string(cur), handle)
            except psycopg2.DataError as error:
                # COPY names the failing line in its context; the header is line 1.
                raise ValueError(
                    f"{csv_path} could not be loaded: {error.pgerror.strip() if error.pgerror else error}. "
                    f"Fix or remove that line and load again."
                ) from None
        index = db.sql.Identifier(table.split(".")[-1] + "_invoice_date_idx")
        cur.execute(db.sql.SQL("create index {} on {} (invoice_date)").format(index, target))
        cur.execute(db.sql.SQL("select count(*) from {}").format(target))
        (rows,) = cur.fetchone()
        if rows == 0 and not allow_empty:
            raise ValueError(
                f"{csv_path} has a header but no data rows; the source table {table} was kept "
                f"as it was. Pass a file with at least one invoice line."
            )
    log.info("Loaded %s rows from %s into source table %s", rows, csv_path, table)
    return rows


def source_row_count(dsn: str, table: str = "public.invoice_lines") -> int | None:
    """Return the row count of the source table, or None when it does not exist."""
    with db.transaction(dsn) as cur:
        cur.execute("select to_regclass(%s)", (table,))
        if cur.fetchone()[0] is None:
            return None
        cur.execute(db.sql.SQL("select count(*) from {}").format(db.identifier(table)))
        return cur.fetchone()[0]


class MonthlySalesFileError(ValueError):
    """Raised when a monthly sales CSV has a wrong header or an invalid row."""


def monthly_series_id(path: Path) -> str:
    """Return the series id of a monthly sales CSV: its file name without ``.csv``."""
    series_id = path.stem
    if not _SERIES_ID.match(series_id):
        raise MonthlySalesFileError(
            f"{path}: the file name {series_id!r} is not a valid series id; rename the file to "
            f"letters, digits, '_', '.' or '-' (at most 63, starting with a letter or digit)."
        )
    return series_id


def _parse_period(text: str, path: Path, line: int) -> dt.date:
    match = _MONTH.match(text.strip())
    month = int(match.group(2)) if match else 0
    if not match or not 1 <= month <= 12:
        raise MonthlySalesFileError(
            f"{path}, line {line}: invalid month {text!r} in column period; expected YYYY-MM "
            f"with a month from 01 to 12, such as 2011-01. Fix the line and load again."
        )
    return dt.date(int(match.group(1)), month, 1)


def _parse_value(text: str, path: Path, line: int) -> str:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise MonthlySalesFileError(
            f"{path}, line {line}: invalid value {text!r} in column value; expected a finite "
            f"number such as 1234.5. Use 0 for a month without sales, then load again."
        )
    return text.strip()


def read_monthly_sales_csv(path: Path) -> list[tuple[dt.date, str]]:
    """Read and check one series' CSV; return (month start, value text) per line in file order.

    Raises:
        MonthlySalesFileError: the header is not ``period,value``, or a line has the
            wrong number of fields, an invalid month, a month already given on an
            earlier line, or a value that is not a finite number.
    """
    rows: list[tuple[dt.date, str]] = []
    first_line: dict[dt.date, int] = {}
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        if header != MONTHLY_SALES_HEADER:
            missing = [name for name in MONTHLY_SALES_HEADER if name not in header]
            found = ", ".join(header) or "no column"
            problem = f"missing column(s) {', '.join(missing)}" if missing else "unexpected header"
            raise MonthlySalesFileError(
                f"{path}, line 1: {problem}; found {found}. Expected the header "
                f"{','.join(MONTHLY_SALES_HEADER)}, with period as YYYY-MM and value a number."
            )
        for fields in reader:
            line = reader.line_num
            if not fields:
                continue
            if len(fields) != len(MONTHLY_SALES_HEADER):
                raise MonthlySalesFileError(
                    f"{path}, line {line}: expected 2 fields (period,value), found "
                    f"{len(fields)}: {','.join(fields)!r}. Fix the line and load again."
                )
            period = _parse_period(fields[0], path, line)
            value = _parse_value(fields[1], path, line)
            if period in first_line:
                raise MonthlySalesFileError(
                    f"{path}, line {line}: duplicate period {fields[0].strip()!r}, already on "
                    f"line {first_line[period]}. Keep one value per month and load again."
                )
            first_line[period] = line
            rows.append((period, value))
    return rows


def load_monthly_sales(
    dsn: str, folder: Path, table: str = "public.monthly_sales", *, replace: bool = False
) -> dict[str, int]:
    """Load every ``*.csv`` of ``folder`` into the monthly sales table; return rows per series.

    Each file is one series named by its file stem. Every file is checked before
    anything is written, so a bad file leaves the table as it was. The table is
    created when missing, and the loaded series replace their earlier rows while
    other series stay. With ``replace`` the table contains only the folder's series
    afterwards.
    """
    if not folder.is_dir():
        problem = "is a file, not a folder" if folder.exists() else "not found"
        raise FileNotFoundError(
            f"Monthly sales folder {folder} {problem}; pass a folder of CSV files "
            f"(columns period,value) with --monthly-sales-data."
        )
    paths = sorted(folder.glob("*.csv"))
    if not paths:
        raise FileNotFoundError(
            f"Monthly sales folder {folder} contains no .csv file; add one CSV per series "
            f"with the columns period,value."
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    counts: dict[str, int] = {}
    for path in paths:
        series_id = monthly_series_id(path)
        rows = read_monthly_sales_csv(path)
        for period, value in rows:
            writer.writerow((series_id, period.isoformat(), value))
        counts[series_id] = len(rows)
    buffer.seek(0)

    target = db.identifier(table)
    with db.transaction(dsn) as cur:
        cur.execute(
            db.sql.SQL(
                "create table if not exists {} ("
                " series_id text not null,"
                " period date not null check (extract(day from period) = 1),"
                " value numeric not null,"
                " primary key (series_id, period))"
            ).format(target)
        )
        if replace:
            cur.execute(db.sql.SQL("delete from {}").format(target))
        else:
            cur.execute(
                db.sql.SQL("delete from {} where series_id = any(%s)").format(target),
                (list(counts),),
            )
        copy = db.sql.SQL("copy {} (series_id, period, value) from stdin with (format csv)").format(
            target
        )
        cur.copy_expert(copy.as_string(cur), buffer)
    log.info(
        "Loaded %s monthly sales series (%s rows) from %s into source table %s",
        len(counts),
        sum(counts.values()),
        folder,
        table,
    )
    return counts
