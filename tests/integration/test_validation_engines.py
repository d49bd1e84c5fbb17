"""The database and pandas validation engines quarantine the same rows of the same batch.

Each engine validates its own copy of one awkward batch in its own warehouse
on the real server. The batch is extracted from a tiny Online Retail source.
Rows the source table cannot hold (NaN and infinite amounts, text customer
ids, another currency, repeated and missing ids, times outside the window)
are then added to the staging table before validation.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from cohortintel import db, validate
from cohortintel.config import Settings
from cohortintel.extract import extract_batch
from cohortintel.load import load_batch
from cohortintel.source import load_online_retail
from cohortintel.validate import ValidationCheckError, validate_batch
from tests.integration.helpers import fetch

pytestmark = pytest.mark.postgres

ENGINES = ("database", "pandas")
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
# Line ids follow the file order, starting at 1.
LINES = [
    "536365,85123A,HEART,6,2011-07-01 10:00:00,2.55,17850,United Kingdom",  # 1: clean
    "536366,71053,LANTERN,6,2011-07-02 10:00:00,3.39,17850,United Kingdom",  # 2: clean
    "536366,71053,LANTERN,6,2011-07-02 10:00:00,3.39,17850,United Kingdom",  # 3: copy of 2
    "536367,22000,BAD DEBT,1,2011-07-03 10:00:00,-3.00,14527,United Kingdom",  # 4: negative price
    "536368,22001,GUEST,2,2011-07-04 10:00:00,1.25,,United Kingdom",  # 5: no customer
    "536369,22002,NO PRICE,2,2011-07-05 10:00:00,,14527,United Kingdom",  # 6: no price
    "536370,22003,NO QTY,,2011-07-06 10:00:00,1.00,14527,France",  # 7: no quantity
    "536371,22004,FREE,1,2011-07-07 10:00:00,0,14527,France",  # 8: free item, clean
    "536372,22005,AUGUST,1,2011-08-01 10:00:00,1.00,12345,France",  # 9: August, closes July
]
# Rows the source table cannot hold, added to the staging table:
# (source_row_id, order_id, customer_id, occurred_at, quantity, unit_price, currency).
STAGED_ROWS = [
    (901, "590001", "17850", "2011-07-10 10:00+01", "NaN", "1", "GBP"),
    (902, "590002", "17850", "2011-07-10 10:00+01", "1", "NaN", "GBP"),
    (903, "590003", "17850", "2011-07-10 10:00+01", "Infinity", "1", "GBP"),
    (904, "590004", "17850", "2011-07-10 10:00+01", "1", "Infinity", "GBP"),
    (905, "590005", "17850", "2011-07-10 10:00+01", "-Infinity", "1", "GBP"),
    (906, "590006", "17850", "2011-07-10 10:00+01", "1", "1", "EUR"),
    (907, "590007", "C17850", "2011-07-10 10:00+01", "1", "1", "GBP"),
    (908, "590008", "17850.0", "2011-07-10 10:00+01", "1", "1", "GBP"),
    # Midnight at the window's end belongs to August; a minute earlier is July.
    (909, "590009", "17850", "2011-08-01 00:00+01", "1", "1", "GBP"),
    (910, "590010", "17850", "2011-07-31 23:59+01", "1", "1", "GBP"),
    (911, "590011", "17850", "2011-06-30 23:59+01", "1", "1", "GBP"),
    (912, "590012", "17850", "2011-06-30 22:59+00", "1", "1", "GBP"),
    (None, "590013", "17850", "2011-07-10 10:00+01", "1", "1", "GBP"),
    (913, None, "17850", None, "1", "1", "GBP"),
    (914, "590014", "17850", "2011-07-10 10:00+01", "1", "1", None),
    (915, "590015", "17850", "2011-07-10 10:00+01", "1", "1000000001", "GBP"),
    # A second row with the id of line 8, and two different rows with the id 916.
    (8, "590016", "17850", "2011-07-11 10:00+01", "2", "1", "GBP"),
    (916, "590017", "17850", "2011-07-12 10:00+01", "1", "1", "GBP"),
    (916, "590018", "17850", "2011-07-12 10:00+01", "1", "2", "GBP"),
]
# The failing rules of every quarantined row, worked out by hand from the rules.
EXPECTED_QUARANTINE = {
    3: ["duplicate_row"],
    4: ["unit_price_valid"],
    6: ["unit_price_not_null"],
    7: ["quantity_not_null"],
    8: ["source_row_id_unique", "source_row_id_unique"],
    901: ["quantity_finite"],
    902: ["unit_price_valid"],
    903: ["quantity_finite"],
    904: ["unit_price_valid"],
    905: ["quantity_finite"],
    906: ["currency_accepted"],
    907: ["customer_id_format"],
    908: ["customer_id_format"],
    909: ["occurred_at_in_window"],
    911: ["occurred_at_in_window"],
    912: ["occurred_at_in_window"],
    None: ["source_row_id_not_null"],
    913: ["occurred_at_not_null", "order_id_not_null"],
    914: ["currency_not_null"],
    915: ["unit_price_valid"],
    916: ["source_row_id_unique", "source_row_id_unique"],
}
JULY = dt.date(2011, 7, 1)
# Over half of the batch is bad on purpose; the run must still go through.
SETTINGS = dataclasses.replace(Settings(), max_quarantine_share=0.9, lookback_months=0)


@pytest.fixture
def source_dsn(make_database, tmp_path: Path) -> str:
    path = tmp_path / "retail.csv"
    path.write_text("\n".join([HEADER, *LINES]) + "\n", encoding="utf-8")
    dsn = make_database("source")
    load_online_retail(dsn, path)
    return dsn


def stage_awkward_batch(source_dsn: str, warehouse_dsn: str, settings: Settings) -> str:
    batch = extract_batch(source_dsn, warehouse_dsn, JULY, settings, "run-1")
    with db.transaction(warehouse_dsn) as cur:
        for row in STAGED_ROWS:
            cur.execute(
                "insert into staging.transactions_2011_07 (source_row_id, order_id, product_id,"
                " customer_id, occurred_at, quantity, unit_price, currency, country)"
                " values (%s, %s, 'P1', %s, %s, %s::numeric, %s::numeric, %s, 'United Kingdom')",
                row,
            )
    return batch.staging_table


def validate_and_load(warehouse_dsn: str, staging_table: str, settings: Settings) -> dict:
    result = validate_batch(warehouse_dsn, staging_table, JULY, JULY, settings, "run-1")
    counts = load_batch(
        warehouse_dsn,
        staging_table,
        JULY,
        JULY,
        result["quarantined_by_rule"],
        settings,
        "run-1",
    )
    return {**result, **counts}


def quarantine_rows(dsn: str) -> list[tuple]:
    return fetch(
        dsn,
        "select source_row_id, occurred_month, rule, reason, row_data::text"
        " from quarantine.transactions order by source_row_id nulls first, rule, row_data::text",
    )


def validation_rows(dsn: str) -> list[tuple]:
    return fetch(
        dsn,
        "select rule, expectation_type, severity, success, element_count, unexpected_count,"
        " observed_value, exception_message from ops.validation_result order by rule",
    )


@pytest.fixture
def engine_runs(source_dsn, make_database, tmp_path) -> dict[str, dict]:
    """Validate and load the awkward batch once per engine, each in its own warehouse."""
    runs = {}
    for engine in ENGINES:
        warehouse = make_database(f"warehouse_{engine}")
        db.migrate(warehouse)
        settings = dataclasses.replace(
            SETTINGS, validation_engine=engine, output_dir=tmp_path / engine
        )
        staging_table = stage_awkward_batch(source_dsn, warehouse, settings)
        runs[engine] = {
            "dsn": warehouse,
            "result": validate_and_load(warehouse, staging_table, settings),
        }
    return runs


def test_engines_quarantine_same_rows(engine_runs):
    database = quarantine_rows(engine_runs["database"]["dsn"])
    pandas = quarantine_rows(engine_runs["pandas"]["dsn"])
    assert len(database) == len(pandas)
    for database_row, pandas_row in zip(database, pandas, strict=True):
        assert database_row == pandas_row


def test_engines_quarantine_expected_rules(engine_runs):
    for engine in ENGINES:
        found: dict[int | None, list[str]] = {}
        for source_row_id, _, rule, _, _ in quarantine_rows(engine_runs[engine]["dsn"]):
            found.setdefault(source_row_id, []).append(rule)
        assert found == EXPECTED_QUARANTINE, engine


def test_engines_store_same_outcomes(engine_runs):
    database = validation_rows(engine_runs["database"]["dsn"])
    pandas = validation_rows(engine_runs["pandas"]["dsn"])
    assert [row[0] for row in database] == [row[0] for row in pandas]
    for database_row, pandas_row in zip(database, pandas, strict=True):
        assert database_row == pandas_row


def test_engines_reconcile_rows(engine_runs):
    # 8 July lines + 19 staged rows were read; 21 ids above hold 23 quarantined rows.
    for engine in ENGINES:
        counts = engine_runs[engine]["result"]
        assert counts["rows_read"] == 27, engine
        assert counts["rows_quarantined"] == 23, engine
        assert counts["rows_accepted"] == 4, engine
        assert counts["rows_read"] == counts["rows_accepted"] + counts["rows_quarantined"]
        loaded = fetch(
            engine_runs[engine]["dsn"],
            "select source_row_id from core.transactions order by source_row_id",
        )
        assert loaded == [(1,), (2,), (5,), (910,)], engine


def test_reasons_name_offending_values(engine_runs):
    reasons = {(row[0], row[2]): row[3] for row in quarantine_rows(engine_runs["pandas"]["dsn"])}
    assert reasons[(901, "quantity_finite")].startswith("quantity NaN ")
    assert reasons[(904, "unit_price_valid")].startswith("unit_price Infinity ")
    assert reasons[(906, "currency_accepted")].startswith("currency EUR ")
    assert reasons[(908, "customer_id_format")].startswith("customer_id 17850.0 ")
    assert "COHORTINTEL_CUSTOMER_ID_PATTERN" in reasons[(907, "customer_id_format")]


@pytest.mark.parametrize("engine", ENGINES)
def test_expectation_error_is_check_error(engine, source_dsn, warehouse_dsn, monkeypatch, tmp_path):
    import great_expectations.expectations as gxe

    build_rules = validate.build_rules

    def rules_with_broken_check(*args):
        # The column does not exist, so GX raises inside the expectation.
        broken = validate.Rule(
            name="coupon_code_not_null",
            expectation=gxe.ExpectColumnValuesToNotBeNull(column="coupon_code"),
            severity="warning",
            row_level=True,
            description="is missing",
            column="coupon_code",
        )
        return [*build_rules(*args), broken]

    monkeypatch.setattr(validate, "build_rules", rules_with_broken_check)
    settings = dataclasses.replace(SETTINGS, validation_engine=engine, output_dir=tmp_path)
    staging_table = stage_awkward_batch(source_dsn, warehouse_dsn, settings)

    with pytest.raises(ValidationCheckError) as caught:
        validate_batch(warehouse_dsn, staging_table, JULY, JULY, settings, "run-1")

    message = str(caught.value)
    assert "coupon_code_not_null" in message
    assert "coupon_code" in message
    assert "error of the check, not of the data" in message
    stored = fetch(
        warehouse_dsn,
        "select success, unexpected_count, exception_message from ops.validation_result"
        " where rule = 'coupon_code_not_null'",
    )
    assert len(stored) == 1
    success, unexpected_count, exception_message = stored[0]
    assert success is False
    assert unexpected_count is None
    assert "coupon_code" in exception_message
    engines = fetch(warehouse_dsn, "select distinct engine from ops.validation_result")
    assert engines == [(engine,)]
    assert fetch(
        warehouse_dsn,
        "select count(*) from quarantine.transactions where rule = 'coupon_code_not_null'",
    ) == [(0,)]
    # The other rules still ran and were recorded, but nothing was loaded.
    assert fetch(
        warehouse_dsn,
        "select count(*) from quarantine.transactions where rule = 'currency_accepted'",
    ) == [(1,)]
    assert fetch(warehouse_dsn, "select count(*) from core.transactions") == [(0,)]


@pytest.mark.parametrize("engine", ENGINES)
def test_every_failing_row_quarantined(engine, source_dsn, warehouse_dsn, tmp_path):
    # GX's SQL engine lists at most 20 failing rows of a rule by default.
    settings = dataclasses.replace(
        SETTINGS, validation_engine=engine, output_dir=tmp_path, max_quarantine_share=0.99
    )
    batch = extract_batch(source_dsn, warehouse_dsn, JULY, settings, "run-1")
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "insert into staging.transactions_2011_07 (source_row_id, order_id, customer_id,"
            " occurred_at, quantity, unit_price, currency)"
            " select 2000 + g, 'N' || g, '17850', '2011-07-15 10:00+01', 1, -g, 'GBP'"
            " from generate_series(1, 45) as g"
        )
    result = validate_and_load(warehouse_dsn, batch.staging_table, settings)
    negative = fetch(
        warehouse_dsn,
        "select count(*) from quarantine.transactions"
        " where rule = 'unit_price_valid' and source_row_id > 2000",
    )
    assert negative == [(45,)]
    assert result["rows_read"] == result["rows_accepted"] + result["rows_quarantined"]
    assert fetch(warehouse_dsn, "select count(*) from core.transactions where unit_price < 0") == [
        (0,)
    ]
