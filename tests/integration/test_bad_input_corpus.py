"""Awkward inputs a user may feed the pipeline, each with its expected outcome.

Every case is a tiny Online Retail file run through the whole data path for
one month. The outcome is either a clear error that names the value and the
fix, or rows loaded and quarantined. When the run goes through, no row is
lost: every source row of the month is in core.transactions or in
quarantine.transactions.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from cohortintel import db
from cohortintel.config import Settings
from cohortintel.pipeline import run_month
from cohortintel.source import load_online_retail
from cohortintel.validate import DataQualityError
from tests.integration.helpers import fetch

pytestmark = pytest.mark.postgres

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
GOOD = "536365,85123A,HEART,6,2011-07-04 10:00:00,2.55,17850,United Kingdom"
# A row after July closes the month, as a source that has moved on would.
AUGUST = "536999,22000,LATER,1,2011-08-02 10:00:00,1.00,12345,France"
JULY = dt.date(2011, 7, 1)
MARCH = dt.date(2011, 3, 1)
# Tiny batches: one bad row in two is far above the production limit of 5%.
SETTINGS = dataclasses.replace(Settings(), max_quarantine_share=0.6, lookback_months=0)


def write_csv(folder: Path, lines: list[str], header: str = HEADER, prefix: str = "") -> Path:
    path = folder / "retail.csv"
    path.write_text(prefix + "\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def source(make_database, tmp_path):
    dsn = make_database("source")

    def load(lines: list[str], **options) -> str:
        load_online_retail(dsn, write_csv(tmp_path, lines, **options))
        return dsn

    return load


def assert_nothing_lost(source_dsn: str, warehouse_dsn: str, month: dt.date) -> None:
    """Every dated source row of ``month`` is loaded or quarantined, and none twice."""
    end = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    source_ids = {
        row[0]
        for row in fetch(
            source_dsn,
            "select invoice_line_id from public.invoice_lines"
            " where invoice_date >= %s and invoice_date < %s",
            (month, end),
        )
    }
    loaded = [row[0] for row in fetch(warehouse_dsn, "select source_row_id from core.transactions")]
    quarantined = {
        row[0]
        for row in fetch(
            warehouse_dsn,
            "select source_row_id from quarantine.transactions where occurred_month = %s",
            (month,),
        )
    }
    assert len(loaded) == len(set(loaded))
    assert set(loaded) | quarantined == source_ids
    assert not set(loaded) & quarantined


def quarantine_reasons(dsn: str) -> list[tuple[str, str]]:
    return fetch(
        dsn, "select rule, reason from quarantine.transactions order by source_row_id, rule"
    )


def test_empty_source_stops_with_rule(source, warehouse_dsn):
    dsn = source([])
    with pytest.raises(DataQualityError) as caught:
        run_month(dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    assert "batch_not_empty" in str(caught.value)
    assert fetch(warehouse_dsn, "select count(*) from core.transactions") == [(0,)]


def test_empty_file_keeps_previous_source(source, tmp_path):
    dsn = source([GOOD, AUGUST])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="header but no data rows") as caught:
        load_online_retail(dsn, write_csv(empty, []), allow_empty=False)
    assert "was kept" in str(caught.value)
    assert fetch(dsn, "select count(*) from public.invoice_lines") == [(2,)]


def test_month_with_one_row_forms_cohort(source, warehouse_dsn):
    dsn = source([GOOD, AUGUST])
    counts = run_month(dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    assert counts["rows_accepted"] == 1
    assert fetch(
        warehouse_dsn,
        "select cohort_size, active_customers from marts.cohort_cell"
        " where segment_type = 'all' and cohort_month = %s",
        (JULY,),
    ) == [(1, 1)]
    assert_nothing_lost(dsn, warehouse_dsn, JULY)


def test_byte_order_mark_loads(source, warehouse_dsn):
    dsn = source([GOOD, AUGUST], prefix="\ufeff")
    assert run_month(dsn, warehouse_dsn, JULY, SETTINGS, "run-1")["rows_accepted"] == 1


@pytest.mark.parametrize(
    ("line", "fragments"),
    [
        # An invalid month in the date.
        (GOOD.replace("2011-07-04", "2011-13-04"), ["2011-13-04", "line 2", "Fix or remove"]),
        # A customer id written as a decimal number.
        (GOOD.replace("17850", "17850.0"), ["17850.0", "line 2"]),
        # A quantity that is not a number.
        (GOOD.replace(",6,", ",six,"), ["six", "line 2"]),
        # Times with a UTC offset or zone, which a timestamp without zone would drop.
        (
            GOOD.replace("10:00:00", "10:00:00+02:00"),
            ["'2011-07-04 10:00:00+02:00'", "line 2", "COHORTINTEL_SOURCE_TIMEZONE"],
        ),
        (GOOD.replace("10:00:00", "09:00:00Z"), ["'2011-07-04 09:00:00Z'", "line 2"]),
        (
            GOOD.replace("10:00:00", "11:00:00 Europe/Paris"),
            ["'2011-07-04 11:00:00 Europe/Paris'", "line 2"],
        ),
    ],
    ids=[
        "invalid_month",
        "decimal_customer_id",
        "text_quantity",
        "utc_offset",
        "utc_designator",
        "zone_name",
    ],
)
def test_unreadable_value_names_line(make_database, tmp_path, line, fragments):
    with pytest.raises(ValueError) as caught:
        load_online_retail(make_database("source"), write_csv(tmp_path, [line]))
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_missing_column_named(make_database, tmp_path):
    path = write_csv(tmp_path, [], header=HEADER.replace(",Country", ""))
    with pytest.raises(ValueError) as caught:
        load_online_retail(make_database("source"), path)
    assert "Country" in str(caught.value)


def test_missing_customer_kept_for_sales(source, warehouse_dsn):
    dsn = source([GOOD, GOOD.replace("536365", "536366").replace("17850", ""), AUGUST])
    counts = run_month(dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    assert counts["rows_accepted"] == 2
    assert counts["rows_without_customer"] == 1
    assert fetch(warehouse_dsn, "select customer_id from marts.customer_cohort") == [("17850",)]
    assert_nothing_lost(dsn, warehouse_dsn, JULY)


def test_exact_duplicate_quarantined_once(source, warehouse_dsn):
    dsn = source([GOOD, GOOD, AUGUST])
    counts = run_month(dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    assert counts["rows_accepted"] == 1
    assert [rule for rule, _ in quarantine_reasons(warehouse_dsn)] == ["duplicate_row"]
    assert_nothing_lost(dsn, warehouse_dsn, JULY)


def test_negative_price_quarantined_with_value(source, warehouse_dsn):
    dsn = source([GOOD, GOOD.replace("536365", "536367").replace("2.55", "-3.00"), AUGUST])
    run_month(dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    ((rule, reason),) = quarantine_reasons(warehouse_dsn)
    assert rule == "unit_price_valid"
    assert "-3.000" in reason
    assert_nothing_lost(dsn, warehouse_dsn, JULY)


def test_unaccepted_currency_stops_and_names_it(source, warehouse_dsn):
    dsn = source([GOOD, AUGUST])
    euros = dataclasses.replace(SETTINGS, currency="EUR")
    with pytest.raises(DataQualityError) as caught:
        run_month(dsn, warehouse_dsn, JULY, euros, "run-1")
    assert "quarantine_share_within_limit" in str(caught.value)
    ((rule, reason),) = quarantine_reasons(warehouse_dsn)
    assert rule == "currency_accepted"
    assert "EUR" in reason
    assert "COHORTINTEL_ACCEPTED_CURRENCIES" in reason


def test_time_in_spring_gap_not_lost(source, warehouse_dsn):
    # 01:30 on 27 March 2011 does not exist in London: clocks jumped from 01:00 to 02:00.
    gap = GOOD.replace("2011-07-04 10:00:00", "2011-03-27 01:30:00")
    dsn = source([gap, GOOD.replace("2011-07-04", "2011-04-04")])
    run_month(dsn, warehouse_dsn, MARCH, SETTINGS, "run-1")
    assert fetch(warehouse_dsn, "select occurred_month from core.transactions") == [(MARCH,)]
    assert_nothing_lost(dsn, warehouse_dsn, MARCH)


def test_autumn_repeated_hour_kept_once(source, warehouse_dsn):
    # 01:30 on 30 October 2011 happens twice in London; the row is loaded once.
    repeated = GOOD.replace("2011-07-04 10:00:00", "2011-10-30 01:30:00")
    dsn = source([repeated, GOOD.replace("2011-07-04", "2011-11-04")])
    october = dt.date(2011, 10, 1)
    run_month(dsn, warehouse_dsn, october, SETTINGS, "run-1")
    assert fetch(warehouse_dsn, "select count(*) from core.transactions") == [(1,)]
    assert_nothing_lost(dsn, warehouse_dsn, october)


def july_line(line_number: int, day: int, customer: str = "17850") -> str:
    return (
        f"5370{line_number:02d},85123A,HEART,6,2011-07-{day:02d} 10:00:00,2.55,{customer},"
        f"United Kingdom"
    )


FOUR_JULY_LINES = [july_line(n, n) for n in range(1, 5)]


def run_counts_reconcile(counts: dict) -> None:
    assert counts["rows_read"] == counts["rows_accepted"] + counts["rows_quarantined"]


def set_source_currencies(dsn: str, currencies: dict[int, str | None]) -> None:
    """Add a currency column to the source table and set it per invoice line id."""
    with db.transaction(dsn) as cur:
        cur.execute("alter table public.invoice_lines add column currency text")
        for line_id, currency in currencies.items():
            cur.execute(
                "update public.invoice_lines set currency = %s where invoice_line_id = %s",
                (currency, line_id),
            )


CURRENCY_MAPPING = dataclasses.replace(SETTINGS, extract_sql="extract/online_retail_currency.sql")
# Lines 1 and 2 are in pounds; from line 3 on, the shop bills in euros.
SWITCH_TO_EUROS = {1: "GBP", 2: "GBP", 3: "EUR", 4: "EUR", 5: "EUR"}


def test_currency_switch_quarantines_new_currency(source, warehouse_dsn):
    dsn = source([*FOUR_JULY_LINES, AUGUST])
    set_source_currencies(dsn, SWITCH_TO_EUROS)
    counts = run_month(dsn, warehouse_dsn, JULY, CURRENCY_MAPPING, "run-1")

    assert counts["rows_accepted"] == 2
    assert counts["rows_quarantined"] == 2
    run_counts_reconcile(counts)
    quarantined = fetch(
        warehouse_dsn,
        "select source_row_id, rule, reason from quarantine.transactions order by source_row_id",
    )
    assert [(row_id, rule) for row_id, rule, _ in quarantined] == [
        (3, "currency_accepted"),
        (4, "currency_accepted"),
    ]
    assert quarantined[0][2].startswith("currency EUR is not an accepted currency (GBP)")
    assert "set COHORTINTEL_ACCEPTED_CURRENCIES to accept it" in quarantined[0][2]
    assert fetch(warehouse_dsn, "select distinct currency from core.transactions") == [("GBP",)]
    assert_nothing_lost(dsn, warehouse_dsn, JULY)


def test_accepted_currency_switch_loads_and_warns(source, warehouse_dsn):
    dsn = source([*FOUR_JULY_LINES, AUGUST])
    set_source_currencies(dsn, SWITCH_TO_EUROS)
    both = dataclasses.replace(CURRENCY_MAPPING, accepted_currencies=("GBP", "EUR"))
    counts = run_month(dsn, warehouse_dsn, JULY, both, "run-1")

    assert counts["rows_accepted"] == 4
    run_counts_reconcile(counts)
    assert fetch(
        warehouse_dsn, "select source_row_id, currency from core.transactions order by 1"
    ) == [(1, "GBP"), (2, "GBP"), (3, "EUR"), (4, "EUR")]
    assert fetch(
        warehouse_dsn,
        "select severity, success, observed_value from ops.validation_result"
        " where rule = 'single_currency'",
    ) == [
        (
            "warning",
            False,
            "EUR 2 rows, GBP 2 rows; revenue sums these amounts without conversion",
        )
    ]
    assert_nothing_lost(dsn, warehouse_dsn, JULY)


def test_missing_currency_quarantined(source, warehouse_dsn):
    dsn = source([*FOUR_JULY_LINES, AUGUST])
    set_source_currencies(dsn, {1: "GBP", 2: "GBP", 3: "GBP", 4: None, 5: "GBP"})
    counts = run_month(dsn, warehouse_dsn, JULY, CURRENCY_MAPPING, "run-1")

    assert counts["rows_accepted"] == 3
    run_counts_reconcile(counts)
    assert quarantine_reasons(warehouse_dsn) == [
        ("currency_not_null", "currency is missing; every transaction needs it")
    ]
    assert_nothing_lost(dsn, warehouse_dsn, JULY)


def change_customer_column(dsn: str, column_type: str, values: dict[int, str]) -> None:
    """Change the source's customer column to ``column_type`` and set some lines' values."""
    with db.transaction(dsn) as cur:
        cur.execute(
            f"alter table public.invoice_lines alter column customer_id type {column_type}"
            f" using customer_id::{column_type}"
        )
        for line_id, value in values.items():
            cur.execute(
                "update public.invoice_lines set customer_id = %s where invoice_line_id = %s",
                (value, line_id),
            )


def test_text_customer_ids_quarantined_with_value(source, warehouse_dsn):
    dsn = source([*FOUR_JULY_LINES, AUGUST])
    # The column became text, and later lines hold ids in another form.
    change_customer_column(dsn, "text", {3: "C17850", 4: "17850.0"})
    counts = run_month(dsn, warehouse_dsn, JULY, SETTINGS, "run-1")

    assert counts["rows_accepted"] == 2
    run_counts_reconcile(counts)
    reasons = quarantine_reasons(warehouse_dsn)
    assert [rule for rule, _ in reasons] == ["customer_id_format", "customer_id_format"]
    assert reasons[0][1].startswith("customer_id C17850 does not match")
    assert reasons[1][1].startswith("customer_id 17850.0 does not match")
    assert "COHORTINTEL_CUSTOMER_ID_PATTERN ^[0-9]+$" in reasons[1][1]
    assert "Map the column to the canonical id in the extract SQL" in reasons[1][1]
    assert fetch(warehouse_dsn, "select customer_id from marts.customer_cohort") == [("17850",)]
    assert_nothing_lost(dsn, warehouse_dsn, JULY)


def test_decimal_customer_column_stops_run(source, warehouse_dsn):
    dsn = source([*FOUR_JULY_LINES, AUGUST])
    # Every id now reads 17850.0, so each row would start a second customer.
    change_customer_column(dsn, "numeric(10, 1)", {2: "17850.5"})
    with pytest.raises(DataQualityError) as caught:
        run_month(dsn, warehouse_dsn, JULY, SETTINGS, "run-1")

    message = str(caught.value)
    assert "quarantine_share_within_limit" in message
    assert "quarantine rows by rule: customer_id_format 4" in message
    values = fetch(
        warehouse_dsn,
        "select source_row_id, row_data ->> 'customer_id' from quarantine.transactions"
        " where rule = 'customer_id_format' order by source_row_id",
    )
    assert values == [(1, "17850.0"), (2, "17850.5"), (3, "17850.0"), (4, "17850.0")]
    assert fetch(warehouse_dsn, "select count(*) from core.transactions") == [(0,)]


def test_other_id_form_loads_with_pattern(source, warehouse_dsn):
    dsn = source([*FOUR_JULY_LINES, AUGUST])
    change_customer_column(dsn, "text", {1: "C17850", 2: "C17850", 3: "C17851", 4: "C17851"})
    lettered = dataclasses.replace(SETTINGS, customer_id_pattern="^C[0-9]+$")
    counts = run_month(dsn, warehouse_dsn, JULY, lettered, "run-1")

    assert counts["rows_accepted"] == 4
    run_counts_reconcile(counts)
    assert fetch(warehouse_dsn, "select customer_id from marts.customer_cohort order by 1") == [
        ("C17850",),
        ("C17851",),
    ]


def test_source_zone_other_than_business_zone(source, warehouse_dsn):
    # The source stores UTC; months are London's. 23:30 UTC on 30 June is
    # 00:30 on 1 July in London, and 23:30 UTC on 31 July is already August.
    dsn = source(
        [
            GOOD.replace("2011-07-04 10:00:00", "2011-06-30 23:30:00"),
            GOOD.replace("2011-07-04", "2011-07-15").replace("536365", "536366"),
            GOOD.replace("2011-07-04 10:00:00", "2011-07-31 23:30:00").replace("536365", "536367"),
            GOOD.replace("2011-07-04", "2011-08-10").replace("536365", "536368"),
            GOOD.replace("2011-07-04", "2011-09-01").replace("536365", "536369"),
        ]
    )
    utc_source = dataclasses.replace(SETTINGS, source_timezone="UTC")
    july = run_month(dsn, warehouse_dsn, JULY, utc_source, "run-1")
    august = run_month(dsn, warehouse_dsn, dt.date(2011, 8, 1), utc_source, "run-2")

    run_counts_reconcile(july)
    run_counts_reconcile(august)
    assert july["rows_read"] == 2
    assert august["rows_read"] == 2
    assert fetch(
        warehouse_dsn,
        "select source_row_id, occurred_month,"
        " to_char(occurred_at at time zone 'Europe/London', 'YYYY-MM-DD HH24:MI')"
        " from core.transactions order by source_row_id",
    ) == [
        (1, JULY, "2011-07-01 00:30"),
        (2, JULY, "2011-07-15 11:00"),
        (3, dt.date(2011, 8, 1), "2011-08-01 00:30"),
        (4, dt.date(2011, 8, 1), "2011-08-10 11:00"),
    ]
    assert fetch(warehouse_dsn, "select count(*) from quarantine.transactions") == [(0,)]
