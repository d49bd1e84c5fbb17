"""Daily sales series on a full trading calendar, and the forecast staged and published from it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cohortintel import db, report
from cohortintel.config import Settings
from cohortintel.publish import publish_forecasts
from cohortintel.sales import build_sales_series, fit_forecasts, training_series
from tests.integration.helpers import fetch, insert_transactions, set_month_status

pytestmark = pytest.mark.postgres

MARCH = dt.date(2011, 3, 1)
APRIL = dt.date(2011, 4, 1)
INTERVAL = (
    dt.datetime(2011, 3, 1, tzinfo=dt.UTC),
    dt.datetime(2011, 4, 1, tzinfo=dt.UTC),
)


@pytest.fixture
def series_dsn(warehouse_dsn: str) -> str:
    rows = [
        (1, "1", "a", "2011-03-01 09:00", 2, Decimal("10.00"), "purchase"),
        (2, "2", "b", "2011-03-03 23:30", 1, Decimal("5.00"), "purchase"),
        (3, "C3", "a", "2011-03-04 10:00", -1, Decimal("10.00"), "return"),
        (4, "4", None, "2011-03-04 11:00", 1, Decimal("2.50"), "purchase"),
        (5, "5", "c", "2011-03-10 12:00", 3, Decimal("0.00"), "other"),
        (6, "A6", None, "2011-03-11 12:00", 1, Decimal("99.00"), "adjustment"),
        (7, "7", "c", "2011-04-01 10:00", 1, Decimal("4.00"), "purchase"),
    ]
    # One purchase on every other trading day of March, so the series is long
    # enough for the seasonal model.
    for number, day in enumerate(range(14, 32), start=100):
        if dt.date(2011, 3, day).weekday() != 5:
            rows.append(
                (number, str(number), "d", f"2011-03-{day:02d} 10:00", 1, Decimal(day), "purchase")
            )
    insert_transactions(warehouse_dsn, rows)
    set_month_status(warehouse_dsn, {"2011-03": True, "2011-04": False})
    build_sales_series(warehouse_dsn, Settings())
    return warehouse_dsn


def days(dsn: str) -> dict[dt.date, tuple]:
    rows = fetch(
        dsn,
        "select period_start, net_revenue, orders, is_trading_day, is_complete_period,"
        " is_closed from marts.sales_daily where series_id = 'total'",
    )
    return {row[0]: row[1:] for row in rows}


def test_calendar_has_every_day(series_dsn):
    table = days(series_dsn)
    march = [day for day in table if day.month == 3]
    assert len(march) == 31


def test_day_without_sales_is_zero(series_dsn):
    assert days(series_dsn)[dt.date(2011, 3, 2)][:2] == (Decimal(0), 0)


def test_return_nets_revenue_in_its_day(series_dsn):
    # A 10.00 return and a 2.50 guest purchase on 4 March.
    assert days(series_dsn)[dt.date(2011, 3, 4)][0] == Decimal("-7.50")


def test_adjustments_and_free_items_left_out(series_dsn):
    assert days(series_dsn)[dt.date(2011, 3, 11)][0] == Decimal(0)
    assert days(series_dsn)[dt.date(2011, 3, 10)][0] == Decimal(0)


def test_saturday_is_not_trading_day(series_dsn):
    assert days(series_dsn)[dt.date(2011, 3, 5)][2] is False
    assert days(series_dsn)[dt.date(2011, 3, 7)][2] is True


def test_day_without_any_line_is_closure(series_dsn):
    table = days(series_dsn)
    assert table[dt.date(2011, 3, 2)][4] is True
    # A free item on 10 March and an adjustment on 11 March show the shop was open.
    assert table[dt.date(2011, 3, 10)][4] is False
    assert table[dt.date(2011, 3, 11)][4] is False
    # A Saturday is off the trading calendar rather than a closure.
    assert table[dt.date(2011, 3, 5)][4] is False


# April is not closed yet, so its run also trains up to 31 March and forecasts from 1 April.
@pytest.mark.parametrize("as_of_month", [MARCH, APRIL])
def test_closures_in_training_and_horizon(series_dsn, as_of_month):
    fit_forecasts(series_dsn, as_of_month, Settings(), "run-1", INTERVAL)
    publish_forecasts(series_dsn, as_of_month)
    (warnings,) = fetch(series_dsn, "select warnings from marts.forecast_model")[0]
    # No line on 2 March or on 6 to 9 and 13 March, so 6 trading days were closed.
    assert "6 days closed in the training data (2011-03-02 to 2011-03-13)" in " ".join(warnings)
    forecasts = dict(
        fetch(series_dsn, "select period_start, forecast::float from marts.sales_forecast")
    )
    # Good Friday, Easter Monday and the royal wedding fall in the 26 days ahead.
    holidays = [dt.date(2011, 4, 22), dt.date(2011, 4, 25), dt.date(2011, 4, 29)]
    assert [forecasts[day] for day in holidays] == [0.0, 0.0, 0.0]
    assert sum(value == 0.0 for value in forecasts.values()) == 3
    closed = fetch(
        series_dsn,
        "select period_start from marts.sales_forecast where is_closed order by period_start",
    )
    assert [day for (day,) in closed] == holidays
    total_line = report.latest_forecasts(series_dsn)[-1]
    assert total_line.endswith("(3 of them closures, forecast as 0)")


def test_open_month_stops_at_last_day_with_data(series_dsn):
    april = [day for day in days(series_dsn) if day.month == 4]
    assert april == [APRIL]
    assert days(series_dsn)[APRIL][3] is False


def test_training_leaves_out_saturdays_and_open_month(series_dsn):
    series = training_series(series_dsn, "total", APRIL)
    assert len(series) == 31 - 4
    assert series.index[-1] == dt.datetime(2011, 3, 31)
    assert all(day.weekday() != 5 for day in series.index)


def test_forecast_staged_and_published(series_dsn):
    fit_forecasts(series_dsn, MARCH, Settings(), "run-1", INTERVAL)
    assert publish_forecasts(series_dsn, MARCH) == 26
    (model,) = fetch(
        series_dsn,
        "select model_kind, n_obs, training_end, run_id from marts.forecast_model where as_of_month = %s",
        (MARCH,),
    )
    # 27 trading days are fewer than a seasonal model needs, so the fallback is recorded.
    assert model == ("arima", 27, dt.date(2011, 3, 31), "run-1")
    first_day = fetch(series_dsn, "select min(period_start) from marts.sales_forecast")
    # 31 March 2011 is a Thursday; Friday 1 April is the next trading day.
    assert first_day == [(APRIL,)]


def test_republish_keeps_one_copy(series_dsn):
    fit_forecasts(series_dsn, MARCH, Settings(), "run-1", INTERVAL)
    publish_forecasts(series_dsn, MARCH)
    fit_forecasts(series_dsn, MARCH, Settings(), "run-2", INTERVAL)
    publish_forecasts(series_dsn, MARCH)
    assert fetch(series_dsn, "select count(*) from marts.sales_forecast") == [(26,)]
    assert fetch(series_dsn, "select run_id from marts.forecast_model") == [("run-2",)]


def test_calendar_starts_at_first_sale(warehouse_dsn):
    insert_transactions(
        warehouse_dsn, [(1, "1", "a", "2011-03-03 10:00", 1, Decimal("1.00"), "purchase")]
    )
    set_month_status(warehouse_dsn, {"2011-03": True})
    build_sales_series(warehouse_dsn, Settings())
    first = fetch(
        warehouse_dsn, "select min(period_start), max(period_start) from marts.sales_daily"
    )
    assert first == [(dt.date(2011, 3, 3), dt.date(2011, 3, 31))]


def test_month_without_forecast_clears_old_one(series_dsn):
    fit_forecasts(series_dsn, MARCH, Settings(), "run-1", INTERVAL)
    publish_forecasts(series_dsn, MARCH)
    with db.transaction(series_dsn) as cur:
        cur.execute("delete from marts.sales_daily")
    fit_forecasts(series_dsn, MARCH, Settings(), "run-2", INTERVAL)
    assert publish_forecasts(series_dsn, MARCH) == 0
    assert fetch(series_dsn, "select count(*) from marts.forecast_model") == [(0,)]
