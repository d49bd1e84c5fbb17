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
    ],
    ids=["invalid_month", "decimal_customer_id", "text_quantity"],
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
