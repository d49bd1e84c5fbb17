"""External monthly sales series: loaded into the source, copied, forecast per series and published.

Most series here have 12 to 14 months, so the forecaster falls back to the
seasonal naive method. Its forecasts are last year's values, which can be
checked by hand. One 21-month series fits a non-seasonal ARIMA to exercise
the warm start.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from pathlib import Path

import psycopg2.extensions
import pytest

from cohortintel import db
from cohortintel.cli import prepare_monthly_sales
from cohortintel.config import Settings
from cohortintel.environment import DatabaseNames
from cohortintel.monthly_sales import (
    copy_monthly_sales,
    fit_monthly_series,
    publish_monthly_forecasts,
    realised_errors_outside_band,
)
from cohortintel.months import add_months
from cohortintel.source import MonthlySalesFileError, load_monthly_sales
from tests.integration.helpers import fetch

pytestmark = pytest.mark.postgres

JANUARY = dt.date(2011, 1, 1)
FEBRUARY = dt.date(2011, 2, 1)
SETTINGS = Settings(monthly_forecast_horizon=3)


def month_text(start: dt.date, offset: int) -> str:
    return f"{add_months(start, offset):%Y-%m}"


# alpha: 2010-01 .. 2011-02, value 100 + 10 * k (k = 0 for 2010-01).
ALPHA = {month_text(dt.date(2010, 1, 1), k): 100 + 10 * k for k in range(14)}
# beta: 2010-01 .. 2011-01 without 2010-06, value 50 + k.
BETA = {month_text(dt.date(2010, 1, 1), k): 50 + k for k in range(13) if k != 5}


def write_csv(folder: Path, name: str, values: dict[str, float]) -> None:
    lines = ["period,value", *(f"{period},{value}" for period, value in values.items())]
    (folder / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def sales_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "sales_monthly"
    folder.mkdir()
    write_csv(folder, "alpha", ALPHA)
    write_csv(folder, "beta", BETA)
    return folder


@pytest.fixture
def source_dsn(make_database, sales_folder: Path) -> str:
    dsn = make_database("source")
    load_monthly_sales(dsn, sales_folder)
    return dsn


def interval(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return (
        dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC),
        dt.datetime.combine(add_months(month, 1), dt.time(), tzinfo=dt.UTC),
    )


def run_month(source: str, warehouse: str, month: dt.date, settings: Settings = SETTINGS) -> list:
    """Run the three monthly steps the way the DAG does, one fit call per series."""
    run_id = f"test__{month:%Y-%m}"
    series_ids = copy_monthly_sales(source, warehouse, month, settings, run_id)
    results = [
        fit_monthly_series(warehouse, series_id, month, settings, run_id, interval(month))
        for series_id in series_ids
    ]
    publish_monthly_forecasts(warehouse, month)
    return results


# --- Loader ---------------------------------------------------------------------------


def test_loader_copies_every_row(source_dsn):
    rows = fetch(
        source_dsn,
        "select series_id, count(*), min(period)::text, max(period)::text"
        " from public.monthly_sales group by 1 order by 1",
    )
    assert rows == [
        ("alpha", 14, "2010-01-01", "2011-02-01"),
        ("beta", 12, "2010-01-01", "2011-01-01"),
    ]


def test_loader_reload_replaces_its_series_only(source_dsn, sales_folder):
    write_csv(sales_folder, "alpha", {"2012-01": 1, "2012-02": 2})
    counts = load_monthly_sales(source_dsn, sales_folder)
    assert counts == {"alpha": 2, "beta": 12}
    rows = fetch(source_dsn, "select count(*) from public.monthly_sales where series_id = 'alpha'")
    assert rows == [(2,)]


def test_loader_bad_file_leaves_table(source_dsn, sales_folder):
    (sales_folder / "gamma.csv").write_text("period,value\n2011-13,5\n", encoding="utf-8")
    with pytest.raises(MonthlySalesFileError, match=r"gamma\.csv, line 2: invalid month '2011-13'"):
        load_monthly_sales(source_dsn, sales_folder)
    rows = fetch(source_dsn, "select count(*) from public.monthly_sales")
    assert rows == [(26,)]


def test_loader_missing_folder_named(make_database, tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_monthly_sales(make_database("source"), tmp_path / "absent")


# --- Copy -----------------------------------------------------------------------------


def test_copy_stops_at_run_month(source_dsn, warehouse_dsn):
    series_ids = copy_monthly_sales(source_dsn, warehouse_dsn, JANUARY, SETTINGS, "r")
    assert series_ids == ["alpha", "beta"]
    last = fetch(
        warehouse_dsn,
        "select series_id, max(period_start)::text from marts.sales_monthly group by 1 order by 1",
    )
    # alpha's February row exists in the source but belongs to the next run.
    assert last == [("alpha", "2011-01-01"), ("beta", "2011-01-01")]


def test_copy_fills_missing_month(source_dsn, warehouse_dsn):
    copy_monthly_sales(source_dsn, warehouse_dsn, JANUARY, SETTINGS, "r")
    rows = fetch(
        warehouse_dsn,
        "select period_start::text, value, is_filled from marts.sales_monthly"
        " where series_id = 'beta' and period_start between '2010-05-01' and '2010-07-01'"
        " order by 1",
    )
    assert [(month, float(value), filled) for month, value, filled in rows] == [
        ("2010-05-01", 54.0, False),
        ("2010-06-01", 0.0, True),
        ("2010-07-01", 56.0, False),
    ]


def test_copy_without_source_table(make_database, warehouse_dsn, caplog):
    caplog.set_level(logging.WARNING, logger="cohortintel.monthly_sales")
    series_ids = copy_monthly_sales(make_database("source"), warehouse_dsn, JANUARY, SETTINGS, "r")
    assert series_ids == []
    assert "has no monthly sales table public.monthly_sales" in caplog.text


def test_copy_with_empty_source_table(source_dsn, warehouse_dsn, caplog):
    caplog.set_level(logging.WARNING, logger="cohortintel.monthly_sales")
    with db.transaction(source_dsn) as cur:
        cur.execute("delete from public.monthly_sales")
    series_ids = copy_monthly_sales(source_dsn, warehouse_dsn, JANUARY, SETTINGS, "r")
    assert series_ids == []
    assert "has no month up to 2011-01" in caplog.text
    counts = publish_monthly_forecasts(warehouse_dsn, JANUARY)
    assert counts == {"forecast_series": 0, "failed_series": 0, "rows": 0}


# --- Fit and publish ------------------------------------------------------------------


def test_forecast_is_last_year_by_hand(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JANUARY)
    rows = fetch(
        warehouse_dsn,
        "select period_start::text, forecast_horizon, forecast from marts.monthly_sales_forecast"
        " where series_id = 'alpha' and as_of_month = '2011-01-01' order by period_start",
    )
    # Seasonal naive: February to April 2011 repeat February to April 2010 (k = 1, 2, 3).
    assert rows == [("2011-02-01", 1, 110.0), ("2011-03-01", 2, 120.0), ("2011-04-01", 3, 130.0)]


def test_model_row_records_fit(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JANUARY)
    rows = fetch(
        warehouse_dsn,
        "select status, model_kind, training_start::text, training_end::text, n_obs,"
        " filled_periods::text[], run_id, fallback_reason is not null, data_interval_start"
        " from marts.monthly_forecast_model where as_of_month = '2011-01-01' order by series_id",
    )
    assert rows[0][:7] == (
        "forecast",
        "seasonal_naive",
        "2010-01-01",
        "2011-01-01",
        13,
        [],
        "test__2011-01",
    )
    assert rows[0][7] is True
    assert rows[0][8] == dt.datetime(2011, 1, 1, tzinfo=dt.UTC)
    assert rows[1][5] == ["2010-06-01"]


def test_forecast_keys_join_actuals(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JANUARY)
    run_month(source_dsn, warehouse_dsn, FEBRUARY)
    joined = fetch(
        warehouse_dsn,
        "select forecast.series_id, forecast.period_start::text from marts.monthly_sales_forecast"
        " as forecast join marts.sales_monthly as actual using (series_id, period_start)"
        " order by 1, 2",
    )
    # Only alpha has a February actual; beta ends in January 2011.
    assert joined == [("alpha", "2011-02-01")]


def test_realised_error_by_hand(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JANUARY)
    run_month(source_dsn, warehouse_dsn, FEBRUARY)
    rows = fetch(
        warehouse_dsn,
        "select as_of_month::text, period_start::text, forecast_horizon, actual, forecast,"
        " error, absolute_percentage_error from marts.monthly_forecast_error"
        " where series_id = 'alpha'",
    )
    # Actual February 2011 is 100 + 10 * 13 = 230; the forecast was February 2010, 110.
    assert len(rows) == 1
    as_of, month, horizon, actual, forecast, error, ape = rows[0]
    assert (as_of, month, horizon) == ("2011-01-01", "2011-02-01", 1)
    assert (actual, forecast, error) == (230.0, 110.0, 120.0)
    assert ape == pytest.approx(100 * 120 / 230)


def test_rerun_replaces_month(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JANUARY)
    query_models = (
        "select series_id, as_of_month, status, model_spec, n_obs, training_end"
        " from marts.monthly_forecast_model order by 1, 2"
    )
    query_forecasts = "select * from marts.monthly_sales_forecast order by 1, 2, 3"
    query_series = "select series_id, period_start, value from marts.sales_monthly order by 1, 2"
    before = [fetch(warehouse_dsn, q) for q in (query_models, query_forecasts, query_series)]
    run_month(source_dsn, warehouse_dsn, JANUARY)
    after = [fetch(warehouse_dsn, q) for q in (query_models, query_forecasts, query_series)]
    assert after == before
    assert len(before[1]) == 6


def test_rerun_keeps_other_months(source_dsn, warehouse_dsn):
    run_month(source_dsn, warehouse_dsn, JANUARY)
    run_month(source_dsn, warehouse_dsn, FEBRUARY)
    run_month(source_dsn, warehouse_dsn, JANUARY)
    months = fetch(
        warehouse_dsn,
        "select as_of_month::text, count(*) from marts.monthly_forecast_model group by 1 order by 1",
    )
    assert months == [("2011-01-01", 2), ("2011-02-01", 2)]
    latest = fetch(warehouse_dsn, "select max(period_start)::text from marts.sales_monthly")
    assert latest == [("2011-02-01",)]


def test_bad_series_recorded_others_forecast(source_dsn, warehouse_dsn):
    with db.transaction(source_dsn) as cur:
        # Written past the loader, as another tool filling the table could.
        cur.execute(
            "insert into public.monthly_sales values"
            " ('short', '2010-10-01', 1), ('short', '2010-11-01', 2),"
            " ('with_nan', '2010-11-01', 1), ('with_nan', '2010-12-01', 'NaN')"
        )
        cur.execute(
            "insert into public.monthly_sales"
            " select 'with_nan', period - interval '12 months', value"
            " from public.monthly_sales where series_id = 'beta'"
        )
    results = run_month(source_dsn, warehouse_dsn, JANUARY)
    assert [(r["series_id"], r["status"]) for r in results] == [
        ("alpha", "forecast"),
        ("beta", "forecast"),
        ("short", "failed"),
        ("with_nan", "failed"),
    ]
    rows = dict(
        fetch(
            warehouse_dsn,
            "select series_id, failure_reason from marts.monthly_forecast_model"
            " where status = 'failed'",
        )
    )
    assert "has 2 months, fewer than the 12" in rows["short"]
    assert "non-finite value nan in 2010-12" in rows["with_nan"]
    forecast_series = fetch(
        warehouse_dsn, "select distinct series_id from marts.monthly_sales_forecast order by 1"
    )
    assert forecast_series == [("alpha",), ("beta",)]


def test_warm_start_stored_and_used(source_dsn, warehouse_dsn, sales_folder):
    # 22 months with a trend and noise up to February 2011, so February adds a
    # month to January's training data: long enough for a non-seasonal ARIMA.
    values = [200 + 3 * k + (7 if k % 3 == 0 else -4) + (k % 5) for k in range(22)]
    write_csv(
        sales_folder, "trend", {month_text(dt.date(2009, 5, 1), k): v for k, v in enumerate(values)}
    )
    load_monthly_sales(source_dsn, sales_folder)
    run_month(source_dsn, warehouse_dsn, JANUARY)
    run_month(source_dsn, warehouse_dsn, FEBRUARY)
    rows = fetch(
        warehouse_dsn,
        "select as_of_month::text, selection, warm_start is not null, sarima_order"
        " from marts.monthly_forecast_model where series_id = 'trend' order by 1",
    )
    assert rows[0][:3] == ("2011-01-01", "cold", True)
    assert rows[1][:3] == ("2011-02-01", "warm", True)
    assert len(rows[0][3]) == 3


def test_unchanged_series_reuses_model(source_dsn, warehouse_dsn, sales_folder):
    # The series ends in January 2011, so February and March train on the same months.
    values = [200 + 3 * k + (7 if k % 3 == 0 else -4) + (k % 5) for k in range(21)]
    write_csv(
        sales_folder, "ended", {month_text(dt.date(2009, 5, 1), k): v for k, v in enumerate(values)}
    )
    load_monthly_sales(source_dsn, sales_folder)
    run_month(source_dsn, warehouse_dsn, JANUARY)
    results = {row["series_id"]: row for row in run_month(source_dsn, warehouse_dsn, FEBRUARY)}
    assert results["ended"]["reused_from"] == "2011-01-01"
    models = fetch(
        warehouse_dsn,
        "select as_of_month::text, selection, model_spec, training_digest, run_id"
        " from marts.monthly_forecast_model where series_id = 'ended' order by 1",
    )
    assert models[0][1] == "cold"
    assert models[1][1] == "reused from 2011-01"
    assert models[1][2] == models[0][2]
    assert models[1][3] == models[0][3]
    assert models[1][4] == "test__2011-02"
    forecasts = fetch(
        warehouse_dsn,
        "select as_of_month::text, period_start, forecast_horizon, forecast, lower_95"
        " from marts.monthly_sales_forecast where series_id = 'ended' order by 2, 1",
    )
    january = [row[1:] for row in forecasts if row[0] == "2011-01-01"]
    february = [row[1:] for row in forecasts if row[0] == "2011-02-01"]
    assert len(january) == SETTINGS.monthly_forecast_horizon
    assert february == january


def test_changed_horizon_refits_unchanged_series(source_dsn, warehouse_dsn, sales_folder):
    values = [200 + 3 * k + (7 if k % 3 == 0 else -4) + (k % 5) for k in range(21)]
    write_csv(
        sales_folder, "ended", {month_text(dt.date(2009, 5, 1), k): v for k, v in enumerate(values)}
    )
    load_monthly_sales(source_dsn, sales_folder)
    run_month(source_dsn, warehouse_dsn, JANUARY)
    shorter = dataclasses.replace(SETTINGS, monthly_forecast_horizon=6)
    results = {
        row["series_id"]: row for row in run_month(source_dsn, warehouse_dsn, FEBRUARY, shorter)
    }
    assert "reused_from" not in results["ended"]
    rows = fetch(
        warehouse_dsn,
        "select count(*) from marts.monthly_sales_forecast"
        " where series_id = 'ended' and as_of_month = '2011-02-01'",
    )
    assert rows == [(6,)]


def test_realised_errors_outside_band(warehouse_dsn):
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "insert into marts.sales_monthly (series_id, period_start, value, is_filled,"
            " copied_by_run_id) values ('s', '2011-02-01', 200, false, 'r'),"
            " ('t', '2011-02-01', 100, false, 'r')"
        )
        for series_id, as_of, mape in (("s", "2011-01-01", 5.0), ("t", "2011-01-01", 20.0)):
            cur.execute(
                "insert into marts.monthly_forecast_model (series_id, as_of_month, status,"
                " model_kind, model_spec, champion_mape, run_id, data_interval_start,"
                " data_interval_end, fitted_at) values (%s, %s, 'forecast', 'naive', 'naive',"
                " %s, 'r', now(), now(), now())",
                (series_id, as_of, mape),
            )
        cur.execute(
            "insert into marts.monthly_sales_forecast values"
            " ('s', '2011-01-01', '2011-02-01', 1, 170, 160, 180, 150, 190),"
            " ('t', '2011-01-01', '2011-02-01', 1, 130, 110, 150, 90, 170)"
        )
    # s: |200 - 170| / 200 = 15 %, three times its backtest MAPE of 5 % -> outside at factor 2.
    # t: |100 - 130| / 100 = 30 %, 1.5 times its 20 % -> inside at factor 2.
    rows = realised_errors_outside_band(warehouse_dsn, FEBRUARY, factor=2.0)
    assert [(row["series_id"], row["absolute_percentage_error"]) for row in rows] == [
        ("s", pytest.approx(15.0))
    ]
    assert realised_errors_outside_band(warehouse_dsn, FEBRUARY, factor=3.5) == []
    within = fetch(
        warehouse_dsn,
        "select series_id, is_within_80, is_within_95 from marts.monthly_forecast_error order by 1",
    )
    assert within == [("s", False, False), ("t", False, True)]


def test_demo_loads_series_once(postgres_server, source_dsn, warehouse_dsn, sales_folder):
    names = DatabaseNames(
        source=psycopg2.extensions.parse_dsn(source_dsn)["dbname"],
        warehouse=psycopg2.extensions.parse_dsn(warehouse_dsn)["dbname"],
        airflow="unused",
    )
    run_month(source_dsn, warehouse_dsn, JANUARY)
    write_csv(sales_folder, "alpha", {"2012-01": 1})

    prepare_monthly_sales(postgres_server, names, Settings(), sales_folder, reload=False)
    alpha_rows = "select count(*) from public.monthly_sales where series_id = 'alpha'"
    assert fetch(source_dsn, alpha_rows) == [(14,)]
    assert fetch(warehouse_dsn, "select count(*) from marts.monthly_forecast_model") == [(2,)]

    prepare_monthly_sales(postgres_server, names, Settings(), sales_folder, reload=True)
    assert fetch(source_dsn, alpha_rows) == [(1,)]
    # Forecasts of the replaced series data must not mix with the new ones.
    assert fetch(warehouse_dsn, "select count(*) from marts.monthly_forecast_model") == [(0,)]
    assert fetch(warehouse_dsn, "select count(*) from marts.sales_monthly") == [(0,)]


def test_demo_folder_replaces_every_series(postgres_server, source_dsn, warehouse_dsn, tmp_path):
    names = DatabaseNames(
        source=psycopg2.extensions.parse_dsn(source_dsn)["dbname"],
        warehouse=psycopg2.extensions.parse_dsn(warehouse_dsn)["dbname"],
        airflow="unused",
    )
    own_folder = tmp_path / "own"
    own_folder.mkdir()
    write_csv(own_folder, "gamma", {"2012-01": 7, "2012-02": 8})

    prepare_monthly_sales(postgres_server, names, Settings(), own_folder, reload=True)
    rows = fetch(source_dsn, "select series_id, count(*) from public.monthly_sales group by 1")
    # alpha and beta came from another folder, so they are gone.
    assert rows == [("gamma", 2)]
