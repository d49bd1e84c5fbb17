"""Extract, validate and load against real PostgreSQL databases, on a tiny Online Retail file."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from cohortintel import db
from cohortintel.config import Settings
from cohortintel.extract import ExtractError, extract_batch
from cohortintel.load import load_batch
from cohortintel.source import load_online_retail
from cohortintel.validate import DataQualityError, validate_batch
from tests.integration.helpers import fetch

pytestmark = pytest.mark.postgres

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
# Line ids follow the file order, starting at 1.
LINES = [
    '536365,85123A,"HEART, WHITE",6,2011-06-30 23:30:00,2.55,17850,United Kingdom',  # 1: June (BST)
    "536366,71053,LANTERN,6,2011-07-01 00:30:00,3.39,17850,United Kingdom",  # 2: July locally, June in UTC
    "536366,71053,LANTERN,6,2011-07-01 00:30:00,3.39,17850,United Kingdom",  # 3: exact duplicate of 2
    "C536379,D,Discount,-1,2011-07-02 09:00:00,27.50,14527,United Kingdom",  # 4: return
    "536380,22086,PAPER CHAIN,2,2011-07-03 10:00:00,2.95,,United Kingdom",  # 5: guest checkout
    "A563186,B,Adjust bad debt,1,2011-07-04 14:51:00,-11062.06,,United Kingdom",  # 6: negative price
    "536381,22423,CAKESTAND,1,2011-07-05 10:00:00,0,14527,United Kingdom",  # 7: free item
    "536382,22000,ITEM,1,2011-08-01 10:00:00,1.00,12345,France",  # 8: August, closes July
]
# Two of seven July rows fail a rule, far above the production limit of 5%.
SETTINGS = dataclasses.replace(Settings(), max_quarantine_share=0.5)
JULY = dt.date(2011, 7, 1)
JUNE = dt.date(2011, 6, 1)


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "retail.csv"
    path.write_text("\n".join([HEADER, *LINES]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def source_dsn(make_database, csv_file: Path) -> str:
    dsn = make_database("source")
    load_online_retail(dsn, csv_file)
    return dsn


def run_month(
    source_dsn: str, warehouse_dsn: str, month: dt.date, settings: Settings, run_id: str
) -> dict:
    batch = extract_batch(source_dsn, warehouse_dsn, month, settings, run_id)
    first = dt.date.fromisoformat(batch.window_first_month)
    validation = validate_batch(warehouse_dsn, batch.staging_table, month, first, settings, run_id)
    counts = load_batch(
        warehouse_dsn,
        batch.staging_table,
        month,
        first,
        validation["quarantined_by_rule"],
        settings,
        run_id,
        batch.source_digests,
    )
    return {**counts, "window_first_month": first}


def snapshot(dsn: str) -> dict[str, list]:
    return {
        "transactions": fetch(
            dsn,
            "select source_row_id, order_id, customer_id, occurred_at, occurred_month, amount,"
            " line_kind from core.transactions order by source_row_id",
        ),
        "quarantine": fetch(
            dsn,
            "select source_row_id, occurred_month, rule, reason, row_data::text"
            " from quarantine.transactions order by source_row_id, rule",
        ),
    }


def test_counts_reconcile(source_dsn, warehouse_dsn):
    counts = run_month(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    assert counts["rows_read"] == 7
    assert counts["rows_accepted"] == 5
    assert counts["rows_quarantined"] == 2
    assert counts["rows_without_customer"] == 1


def test_duplicate_loaded_once(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    loaded = fetch(
        warehouse_dsn, "select source_row_id from core.transactions where order_id = '536366'"
    )
    quarantined = fetch(
        warehouse_dsn,
        "select source_row_id, rule from quarantine.transactions where rule = 'duplicate_row'",
    )
    assert loaded == [(2,)]
    assert quarantined == [(3, "duplicate_row")]


def test_negative_price_quarantined_with_value(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    rows = fetch(
        warehouse_dsn,
        "select rule, reason, row_data ->> 'order_id' from quarantine.transactions where source_row_id = 6",
    )
    assert len(rows) == 1
    rule, reason, order_id = rows[0]
    assert rule == "unit_price_valid"
    assert "-11062.06" in reason
    assert order_id == "A563186"


def test_month_follows_business_timezone(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    months = dict(
        fetch(
            warehouse_dsn,
            "select source_row_id, occurred_month from core.transactions where source_row_id in (1, 2)",
        )
    )
    # 2011-07-01 00:30 in London is 2011-06-30 23:30 UTC, yet it belongs to July.
    assert months[2] == JULY
    assert months[1] == JUNE


def test_line_kinds_follow_rules(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    kinds = dict(fetch(warehouse_dsn, "select source_row_id, line_kind from core.transactions"))
    assert kinds == {1: "purchase", 2: "purchase", 4: "return", 5: "purchase", 7: "other"}


def test_customer_id_has_no_decimal_point(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    ids = {
        row[0]
        for row in fetch(
            warehouse_dsn, "select customer_id from core.transactions where customer_id is not null"
        )
    }
    assert ids == {"17850", "14527"}


def test_return_amount_is_negative(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    assert fetch(warehouse_dsn, "select amount from core.transactions where source_row_id = 4") == [
        (Decimal("-27.500"),)
    ]


def test_rerun_leaves_tables_identical(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    first = snapshot(warehouse_dsn)
    run_month(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-2")
    assert snapshot(warehouse_dsn) == first


def staging_tables(dsn: str) -> list[str]:
    rows = fetch(
        dsn, "select tablename from pg_catalog.pg_tables where schemaname = 'staging' order by 1"
    )
    return [name for (name,) in rows if name.startswith("transactions_")]


def test_extract_drops_old_staging_tables(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    with db.transaction(warehouse_dsn) as cur:
        for name in ("2011_02", "2011_03", "2011_04", "2011_09"):
            cur.execute(f"create table staging.transactions_{name} (id int)")
        cur.execute("create table staging.transactions_notes (id int)")

    run_month(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-2")

    # Kept: April to July (three months before July and July itself), the later
    # September and a table whose name carries no month.
    assert staging_tables(warehouse_dsn) == [
        "transactions_2011_04",
        "transactions_2011_07",
        "transactions_2011_09",
        "transactions_notes",
    ]
    assert fetch(warehouse_dsn, "select count(*) from staging.forecast_model") == [(0,)]


def add_source_line(source_dsn: str, line: str) -> None:
    """Append one line, in the CSV's column order, to the source table."""
    order, stock, description, quantity, when, price, customer, country = line.split(",")
    with db.transaction(source_dsn) as cur:
        cur.execute(
            "insert into public.invoice_lines (invoice_no, stock_code, description, quantity,"
            " invoice_date, unit_price, customer_id, country)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s)",
            (order, stock, description, quantity, when, price, customer or None, country),
        )


def test_unchanged_lookback_month_not_extracted_again(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JUNE, SETTINGS, "run-june")
    june = snapshot(warehouse_dsn)
    july = run_month(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-july")
    assert july["window_first_month"] == JULY
    assert july["rows_read"] == 6  # July's seven lines less line 8, which is in August
    after = snapshot(warehouse_dsn)
    assert [row for row in after["transactions"] if row[4] == JUNE] == june["transactions"]
    assert fetch(warehouse_dsn, "select month, source_rows from ops.loaded_month order by 1") == [
        (dt.date(2011, 5, 1), 0),  # June's look-back month: loaded empty
        (JUNE, 1),
        (JULY, 6),
    ]


def test_late_row_in_lookback_month_loaded(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JUNE, SETTINGS, "run-june")
    add_source_line(
        source_dsn, "536400,22111,LATE LINE,3,2011-06-15 12:00:00,1.50,17850,United Kingdom"
    )
    july = run_month(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-july")
    assert july["window_first_month"] == JUNE
    assert fetch(
        warehouse_dsn,
        "select order_id, amount from core.transactions where occurred_month = %s order by 1",
        (JUNE,),
    ) == [("536365", Decimal("15.300")), ("536400", Decimal("4.500"))]


def test_edited_row_in_lookback_month_reloaded(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JUNE, SETTINGS, "run-june")
    with db.transaction(source_dsn) as cur:
        cur.execute("update public.invoice_lines set unit_price = 2.00 where invoice_line_id = 1")
    july = run_month(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-july")
    assert july["window_first_month"] == JUNE
    assert fetch(warehouse_dsn, "select amount from core.transactions where source_row_id = 1") == [
        (Decimal("12.000"),)
    ]


def test_changed_setting_reloads_lookback_month(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JUNE, SETTINGS, "run-june")
    changed = dataclasses.replace(SETTINGS, return_order_prefix="R")
    july = run_month(source_dsn, warehouse_dsn, JULY, changed, "run-july")
    assert july["window_first_month"] == JUNE


def test_month_status_marks_closed_months(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    status = dict(fetch(warehouse_dsn, "select month, is_complete from ops.month_status"))
    assert status == {JUNE: True, JULY: True}


def test_last_month_flagged_open(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, dt.date(2011, 8, 1), SETTINGS, "run-1")
    status = dict(fetch(warehouse_dsn, "select month, is_complete from ops.month_status"))
    assert status[dt.date(2011, 8, 1)] is False


def test_same_database_path_matches_copy(make_database, csv_file):
    shared = make_database("shared")
    db.migrate(shared)
    load_online_retail(shared, csv_file)
    other_warehouse = make_database("warehouse")
    db.migrate(other_warehouse)
    other_source = make_database("source")
    load_online_retail(other_source, csv_file)
    run_month(shared, shared, JULY, SETTINGS, "run-1")
    run_month(other_source, other_warehouse, JULY, SETTINGS, "run-1")
    assert snapshot(shared) == snapshot(other_warehouse)


def test_empty_month_stops_run(source_dsn, warehouse_dsn):
    settings = dataclasses.replace(SETTINGS, lookback_months=0)
    batch = extract_batch(source_dsn, warehouse_dsn, dt.date(2012, 5, 1), settings, "run-1")
    with pytest.raises(DataQualityError) as caught:
        validate_batch(
            warehouse_dsn,
            batch.staging_table,
            dt.date(2012, 5, 1),
            dt.date(2012, 5, 1),
            settings,
            "run-1",
        )
    assert "batch_not_empty" in str(caught.value)
    assert "ops.validation_result" in str(caught.value)


def test_empty_month_fails_despite_lookback_rows(source_dsn, warehouse_dsn):
    september = dt.date(2011, 9, 1)
    batch = extract_batch(source_dsn, warehouse_dsn, september, SETTINGS, "run-1")
    assert batch.rows_read == 1  # August's line 8 only
    with pytest.raises(DataQualityError) as caught:
        validate_batch(
            warehouse_dsn, batch.staging_table, september, dt.date(2011, 8, 1), SETTINGS, "run-1"
        )
    assert "month_not_empty" in str(caught.value)
    assert "batch_not_empty" not in str(caught.value)


def month_rule(dsn: str, run_id: str, rule: str) -> tuple:
    return fetch(
        dsn,
        "select severity, success, observed_value from ops.validation_result"
        " where run_id = %s and rule = %s",
        (run_id, rule),
    )[0]


def test_high_volume_recorded_as_warning(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JUNE, SETTINGS, "run-june")  # June: 1 row
    run_month(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-july")  # July: 6 rows
    severity, success, observed = month_rule(warehouse_dsn, "run-july", "row_volume_within_band")
    assert (severity, success) == ("warning", False)
    assert observed.startswith("6 rows, 6.00 times the mean of the 1 trailing month(s) loaded (1)")


def test_critical_volume_rule_stops_run(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JUNE, SETTINGS, "run-june")
    strict = dataclasses.replace(SETTINGS, volume_severity="critical")
    with pytest.raises(DataQualityError) as caught:
        run_month(source_dsn, warehouse_dsn, JULY, strict, "run-july")
    assert "row_volume_within_band" in str(caught.value)
    # The failed run loaded nothing for July.
    assert fetch(
        warehouse_dsn, "select count(*) from core.transactions where occurred_month = %s", (JULY,)
    ) == [(0,)]


def test_first_month_skips_volume_check(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JUNE, SETTINGS, "run-june")
    severity, success, observed = month_rule(warehouse_dsn, "run-june", "row_volume_within_band")
    assert success is True
    assert observed == "1 rows; no trailing month loaded yet to compare with"


def test_stale_month_recorded_with_gap(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-july")
    severity, success, observed = month_rule(warehouse_dsn, "run-july", "source_fresh")
    # The newest July row is 5 July 10:00 in London, 26.6 days before 1 August.
    assert (severity, success) == ("warning", False)
    assert observed == (
        "newest row 2011-07-05T09:00:00+00:00, 26.6 days before the month's end (limit 10)"
    )
    relaxed = dataclasses.replace(SETTINGS, freshness_days=27)
    run_month(source_dsn, warehouse_dsn, JULY, relaxed, "run-july-2")
    assert month_rule(warehouse_dsn, "run-july-2", "source_fresh")[1] is True


def test_data_docs_show_failed_rule(source_dsn, warehouse_dsn, tmp_path):
    settings = dataclasses.replace(SETTINGS, output_dir=tmp_path)
    run_month(source_dsn, warehouse_dsn, JULY, settings, "run-july")
    docs = tmp_path / "data_docs" / "2011-07"
    assert (docs / "index.html").is_file()
    (page,) = (docs / "validations").rglob("*.html")
    assert "run-july" in str(page)
    text = page.read_text(encoding="utf-8")
    # The negative price of line 6 fails the price rule. The docs show counts;
    # the value itself is in quarantine.transactions.
    assert "unit_price" in text
    assert "1 unexpected values found" in text


def test_quarantine_share_limit_stops_run(source_dsn, warehouse_dsn):
    settings = dataclasses.replace(SETTINGS, max_quarantine_share=0.1)
    batch = extract_batch(source_dsn, warehouse_dsn, JULY, settings, "run-1")
    with pytest.raises(DataQualityError) as caught:
        validate_batch(warehouse_dsn, batch.staging_table, JULY, JUNE, settings, "run-1")
    assert "quarantine_share_within_limit" in str(caught.value)
    stored = fetch(
        warehouse_dsn,
        "select success from ops.validation_result where rule = 'quarantine_share_within_limit'",
    )
    assert stored == [(False,)]


def test_renamed_source_column_named(make_database, warehouse_dsn):
    source = make_database("source")
    with db.transaction(source) as cur:
        cur.execute(
            "create table public.invoice_lines (invoice_line_id bigint, invoice_no text, stock_code text,"
            " description text, quantity integer, invoice_date timestamp, unit_price numeric,"
            " customer_no integer, country text)"
        )
    with pytest.raises(ExtractError) as caught:
        extract_batch(source, warehouse_dsn, JULY, SETTINGS, "run-1")
    message = str(caught.value)
    assert "customer_id" in message
    assert "customer_no" in message
    assert "extract/online_retail.sql" in message


def test_missing_source_table_named(make_database, warehouse_dsn):
    source = make_database("source")
    with pytest.raises(ExtractError) as caught:
        extract_batch(source, warehouse_dsn, JULY, SETTINGS, "run-1")
    assert "public.invoice_lines" in str(caught.value)
    assert "COHORTINTEL_SOURCE_TABLE" in str(caught.value)


def test_csv_missing_column_named(tmp_path, make_database):
    path = tmp_path / "broken.csv"
    path.write_text(HEADER.replace(",CustomerID", "") + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        load_online_retail(make_database("source"), path)
    assert "CustomerID" in str(caught.value)


def test_csv_with_byte_order_mark_loads(tmp_path, make_database):
    path = tmp_path / "bom.csv"
    path.write_text("\ufeff" + "\n".join([HEADER, LINES[0]]) + "\n", encoding="utf-8")
    assert load_online_retail(make_database("source"), path) == 1


def test_row_level_rules_quarantine_bad_rows(source_dsn, warehouse_dsn):
    batch = extract_batch(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "insert into staging.transactions_2011_07 (source_row_id, order_id, customer_id,"
            " occurred_at, quantity, unit_price, currency, country) values"
            " (901, '590001', '1', '2011-08-01 00:30+01', 1, 1, 'GBP', 'UK'),"
            " (null, '590002', '1', '2011-07-10 10:00+01', 1, 1, 'GBP', 'UK'),"
            " (903, null, '1', '2011-07-10 10:00+01', 1, 1, 'GBP', 'UK'),"
            " (904, '590004', '1', '2011-07-10 10:00+01', 'NaN', 1, 'GBP', 'UK'),"
            " (905, '590005', '1', '2011-07-10 10:00+01', 1, 1, 'EUR', 'UK')"
        )
    settings = dataclasses.replace(SETTINGS, max_quarantine_share=0.9)
    result = validate_batch(warehouse_dsn, batch.staging_table, JULY, JUNE, settings, "run-1")
    rules = dict(
        fetch(
            warehouse_dsn,
            "select coalesce(source_row_id::text, 'null') || ':' || rule, reason"
            " from quarantine.transactions where rule <> 'duplicate_row'",
        )
    )
    assert set(rules) == {
        "901:occurred_at_in_window",
        "null:source_row_id_not_null",
        "903:order_id_not_null",
        "904:quantity_finite",
        "905:currency_accepted",
        "6:unit_price_valid",
    }
    assert "EUR" in rules["905:currency_accepted"]
    assert "NaN" in rules["904:quantity_finite"]
    assert result["rows_quarantined"] == 7


def test_repeated_source_id_quarantined_not_crashing(source_dsn, warehouse_dsn):
    batch = extract_batch(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    with db.transaction(warehouse_dsn) as cur:
        # Two different rows that carry the id of July's line 7, and an exact
        # copy of line 5 with its id, which the duplicate rule takes alone.
        cur.execute(
            "insert into staging.transactions_2011_07 (source_row_id, order_id, customer_id,"
            " occurred_at, quantity, unit_price, currency, country) values"
            " (7, '590001', '1', '2011-07-10 10:00+01', 1, 1, 'GBP', 'UK')"
        )
        cur.execute(
            "insert into staging.transactions_2011_07 (source_row_id, order_id, product_id,"
            " product_description, customer_id, occurred_at, quantity, unit_price, currency,"
            " country) select source_row_id, order_id, product_id, product_description,"
            " customer_id, occurred_at, quantity, unit_price, currency, country"
            " from staging.transactions_2011_07 where source_row_id = 5"
        )
    settings = dataclasses.replace(SETTINGS, max_quarantine_share=0.9)
    result = validate_batch(warehouse_dsn, batch.staging_table, JULY, JUNE, settings, "run-1")
    counts = load_batch(
        warehouse_dsn,
        batch.staging_table,
        JULY,
        JUNE,
        result["quarantined_by_rule"],
        settings,
        "run-1",
    )
    repeated = fetch(
        warehouse_dsn,
        "select source_row_id, reason from quarantine.transactions"
        " where rule = 'source_row_id_unique'",
    )
    assert [row[0] for row in repeated] == [7, 7]
    assert "is the id of more than one row" in repeated[0][1]
    assert fetch(
        warehouse_dsn, "select count(*) from core.transactions where source_row_id in (5, 7)"
    ) == [(1,)]
    assert counts["rows_read"] == counts["rows_accepted"] + counts["rows_quarantined"]


def test_rows_without_timestamp_kept_once(source_dsn, warehouse_dsn):
    batch = extract_batch(source_dsn, warehouse_dsn, JULY, SETTINGS, "run-1")
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "insert into staging.transactions_2011_07 (source_row_id, order_id, occurred_at,"
            " quantity, unit_price, currency) values (950, '590050', null, 1, 1, 'GBP')"
        )
    settings = dataclasses.replace(SETTINGS, max_quarantine_share=0.9)
    validate_batch(warehouse_dsn, batch.staging_table, JULY, JUNE, settings, "run-1")
    validate_batch(warehouse_dsn, batch.staging_table, JULY, JUNE, settings, "run-2")
    rows = fetch(
        warehouse_dsn,
        "select occurred_month, rule from quarantine.transactions where source_row_id = 950",
    )
    assert rows == [(None, "occurred_at_not_null")]


def test_undated_source_row_quarantined_once(tmp_path, make_database, warehouse_dsn):
    path = tmp_path / "undated.csv"
    undated = "536399,22000,NO DATE,1,,1.00,12345,United Kingdom"
    path.write_text("\n".join([HEADER, *LINES, undated]) + "\n", encoding="utf-8")
    source = make_database("source")
    load_online_retail(source, path)
    july = run_month(source, warehouse_dsn, JULY, SETTINGS, "run-1")
    august = run_month(source, warehouse_dsn, dt.date(2011, 8, 1), SETTINGS, "run-2")
    rows = fetch(
        warehouse_dsn,
        "select occurred_month, rule from quarantine.transactions where source_row_id = 9",
    )
    assert rows == [(None, "occurred_at_not_null")]
    assert july["rows_read"] == july["rows_accepted"] + july["rows_quarantined"]
    assert august["rows_read"] == august["rows_accepted"] + august["rows_quarantined"]


def test_csv_unreadable_value_names_line(tmp_path, make_database):
    path = tmp_path / "bad_quantity.csv"
    path.write_text("\n".join([HEADER, LINES[0].replace(",6,", ",six,")]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        load_online_retail(make_database("source"), path)
    assert "six" in str(caught.value)
    assert "line 2" in str(caught.value)


def test_undated_row_leaves_open_month_open(tmp_path, make_database, warehouse_dsn):
    path = tmp_path / "undated_open.csv"
    undated = "536399,22000,NO DATE,1,,1.00,12345,United Kingdom"
    # Only July rows and one undated row: nothing is known after July.
    path.write_text("\n".join([HEADER, LINES[1], LINES[3], undated]) + "\n", encoding="utf-8")
    source = make_database("source")
    load_online_retail(source, path)
    run_month(source, warehouse_dsn, JULY, SETTINGS, "run-1")
    status = dict(fetch(warehouse_dsn, "select month, is_complete from ops.month_status"))
    assert status[JULY] is False
    by_rule = fetch(warehouse_dsn, "select quarantined_by_rule from ops.batch_report")
    assert by_rule == [({"occurred_at_not_null": 1},)]
