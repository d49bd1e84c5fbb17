"""Load the UCI Online Retail transactions into a source database, as the shop's order system stores them.

The table keeps one row per invoice line with every original column and its
original meaning (local UK time without a zone, prices in GBP, an integer
customer id or NULL). The only addition is ``invoice_line_id``, the line's
position in the published file, which plays the role of the order system's
primary key. Every other column may be NULL, as in an order system that does
not enforce them, so that incomplete lines reach the pipeline and its
quarantine instead of being turned away at the door.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import psycopg2

from cohortintel import db
from cohortintel.config import PROJECT_ROOT

log = logging.getLogger(__name__)

DEFAULT_ONLINE_RETAIL_CSV = (
    PROJECT_ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"
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


def load_online_retail(dsn: str, csv_path: Path, table: str = "public.invoice_lines") -> int:
    """Create (or replace) the source table and COPY the CSV into it; return the row count."""
    if not csv_path.is_file():
        raise FileNotFoundError(
            f"Online Retail data not found at {csv_path}; pass the CSV (or .csv.gz) path "
            f"with --data."
        )
    check_header(csv_path)
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
