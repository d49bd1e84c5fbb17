"""Sales series per country and grain, forecast one series at a time and published together.

The hand-made transactions below cover January and February 2011 (closed) and
2 March (open). Net revenue by hand, returns netted and the adjustment left out:

| country        | January             | February     | closed total | March (open) |
|----------------|---------------------|--------------|--------------|--------------|
| United Kingdom | 3 + 20 + 5 = 28     | 50           | 78           |              |
| France         | 30 - 10 = 20        | 7            | 27           |              |
| Germany        | 20                  | 5            | 25           |              |
| Spain          | 0                   | 25           | 25           | 100          |
| total          | 68                  | 87           | 155          | 100          |

ISO weeks of the total, keyed by their Monday: 2010-12-27 has only 1 and 2
January in the calendar (the data starts on Saturday 1 January), so it is
left out; 2011-01-03: 20 + 5 + 30 = 55; 01-10: -10 (the return); 01-17: 20;
01-24: 0; 01-31: 50; 02-07: 0; 02-14: 5 + 25 = 30; 02-21: 0. The week of
2011-02-28 reaches into March, which is open, so it is left out too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from cohortintel import db, report, sales
from cohortintel.config import SQL_DIR, Settings
from cohortintel.monthly_forecast import fit_monthly_forecast
from cohortintel.pipeline import forecast_sales
from cohortintel.publish import publish_forecasts, render_charts
from cohortintel.sales import (
    build_sales_series,
    fit_series,
    prepare_sales_series,
    top_countries,
    training_series,
)
from tests.integration.helpers import fetch, insert_transactions, set_month_status

pytestmark = pytest.mark.postgres

JANUARY = dt.date(2011, 1, 1)
FEBRUARY = dt.date(2011, 2, 1)
UK, FRANCE, GERMANY, SPAIN = "United Kingdom", "France", "Germany", "Spain"


def interval(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    end = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return (
        dt.datetime(month.year, month.month, 1, tzinfo=dt.UTC),
        dt.datetime(end.year, end.month, 1, tzinfo=dt.UTC),
    )


def settings(grain: str = "month", top: int = 3, horizon: int = 4) -> Settings:
    return dataclasses.replace(
        Settings(), sales_grain=grain, sales_top_countries=top, forecast_horizon=horizon
    )


@pytest.fixture
def shop_dsn(warehouse_dsn: str) -> str:
    rows = [
        (1, "1", "a", "2011-01-01 10:00", 1, Decimal("3.00"), "purchase", UK),
        (2, "2", "a", "2011-01-03 10:00", 2, Decimal("10.00"), "purchase", UK),
        (3, "3", "b", "2011-01-05 11:00", 1, Decimal("5.00"), "purchase", UK),
        (4, "4", "c", "2011-01-05 12:00", 3, Decimal("10.00"), "purchase", FRANCE),
        (5, "A5", None, "2011-01-10 12:00", 1, Decimal("99.00"), "adjustment", UK),
        (6, "C6", "c", "2011-01-12 09:00", -1, Decimal("10.00"), "return", FRANCE),
        (7, "7", "d", "2011-01-20 15:00", 4, Decimal("5.00"), "purchase", GERMANY),
        (8, "8", "a", "2011-02-01 10:00", 1, Decimal("50.00"), "purchase", UK),
        (9, "9", "d", "2011-02-15 10:00", 1, Decimal("5.00"), "purchase", GERMANY),
        (10, "10", "e", "2011-02-15 11:00", 1, Decimal("25.00"), "purchase", SPAIN),
        (11, "11", "c", "2011-02-28 16:00", 1, Decimal("7.00"), "purchase", FRANCE),
        (12, "12", "e", "2011-03-02 10:00", 1, Decimal("100.00"), "purchase", SPAIN),
    ]
    insert_transactions(warehouse_dsn, rows)
    set_month_status(warehouse_dsn, {"2011-01": True, "2011-02": True, "2011-03": False})
    return warehouse_dsn


def periods(dsn: str, series_id: str, grain: str) -> dict[dt.date, Decimal]:
    rows = fetch(
        dsn,
        "select period_start, net_revenue from marts.sales_period"
        " where series_id = %s and grain = %s order by 1",
        (series_id, grain),
    )
    return dict(rows)


def test_top_countries_tie_broken_by_name(shop_dsn):
    # Germany and Spain both have 25 in the closed months; Germany sorts first.
    assert top_countries(shop_dsn, 3, FEBRUARY) == [UK, FRANCE, GERMANY]
    # As of January, France and Germany tie at 20.
    assert top_countries(shop_dsn, 2, JANUARY) == [UK, FRANCE]
    assert top_countries(shop_dsn, 0, FEBRUARY) == []


def test_top_countries_ignore_open_month(shop_dsn):
    # Only closed months count. Spain's 100 in open March would put it first.
    assert top_countries(shop_dsn, 10) == [UK, FRANCE, GERMANY, SPAIN]


def test_build_returns_series_to_forecast(shop_dsn):
    counts = build_sales_series(shop_dsn, settings(top=3), FEBRUARY)
    assert counts["series_ids"] == [
        "total",
        "country:United Kingdom",
        "country:France",
        "country:Germany",
    ]
    # 1 January to 2 March, the last day with data in the open month.
    assert counts["days"] == 31 + 28 + 2
    assert counts["weeks"] == 8
    assert counts["months"] == 2


def test_top_zero_builds_total_only(shop_dsn):
    counts = build_sales_series(shop_dsn, settings(top=0), FEBRUARY)
    assert counts["series_ids"] == ["total"]
    assert fetch(shop_dsn, "select distinct series_id from marts.sales_period") == [("total",)]


def test_month_sums_by_hand(shop_dsn):
    build_sales_series(shop_dsn, settings(top=3), FEBRUARY)
    assert periods(shop_dsn, "total", "month") == {
        JANUARY: Decimal("68.00"),
        FEBRUARY: Decimal("87.00"),
    }
    assert periods(shop_dsn, "country:United Kingdom", "month") == {
        JANUARY: Decimal("28.00"),
        FEBRUARY: Decimal("50.00"),
    }
    assert periods(shop_dsn, "country:France", "month") == {
        JANUARY: Decimal("20.00"),
        FEBRUARY: Decimal("7.00"),
    }
    assert periods(shop_dsn, "country:Germany", "month") == {
        JANUARY: Decimal("20.00"),
        FEBRUARY: Decimal("5.00"),
    }


def test_week_sums_by_hand(shop_dsn):
    build_sales_series(shop_dsn, settings(top=3), FEBRUARY)
    week = dt.date.fromisoformat
    assert periods(shop_dsn, "total", "week") == {
        week("2011-01-03"): Decimal("55.00"),
        week("2011-01-10"): Decimal("-10.00"),
        week("2011-01-17"): Decimal("20.00"),
        week("2011-01-24"): Decimal(0),
        week("2011-01-31"): Decimal("50.00"),
        week("2011-02-07"): Decimal(0),
        week("2011-02-14"): Decimal("30.00"),
        week("2011-02-21"): Decimal(0),
    }
    france = periods(shop_dsn, "country:France", "week")
    assert france[week("2011-01-03")] == Decimal("30.00")
    assert france[week("2011-01-10")] == Decimal("-10.00")
    assert france[week("2011-02-14")] == Decimal(0)


def test_week_keys_are_mondays(shop_dsn):
    build_sales_series(shop_dsn, settings(top=3), FEBRUARY)
    weekdays = fetch(
        shop_dsn,
        "select distinct extract(isodow from period_start)::int from marts.sales_period"
        " where grain = 'week'",
    )
    assert weekdays == [(1,)]


def test_orders_counted_per_period(shop_dsn):
    build_sales_series(shop_dsn, settings(top=3), FEBRUARY)
    orders = fetch(
        shop_dsn,
        "select period_start, orders from marts.sales_period"
        " where series_id = 'total' and grain = 'month' order by 1",
    )
    # January: orders 1, 2, 3, 4 and 7 (the return and the adjustment are not purchases).
    assert orders == [(JANUARY, 5), (FEBRUARY, 4)]


def test_daily_series_per_country(shop_dsn):
    build_sales_series(shop_dsn, settings(top=3), FEBRUARY)
    france = dict(
        fetch(
            shop_dsn,
            "select period_start, net_revenue from marts.sales_daily"
            " where series_id = 'country:France'",
        )
    )
    assert len(france) == 31 + 28 + 2
    assert france[dt.date(2011, 1, 12)] == Decimal("-10.00")
    assert france[dt.date(2011, 1, 13)] == Decimal(0)
    # A country's series starts with the shop's calendar, before its first sale.
    assert france[dt.date(2011, 1, 1)] == Decimal(0)


def test_training_ends_with_as_of_month(shop_dsn):
    build_sales_series(shop_dsn, settings(top=3), FEBRUARY)
    weeks = training_series(shop_dsn, "total", JANUARY, "week")
    # The week of 31 January ends in February, so a January run leaves it out.
    assert [day.date().isoformat() for day in weeks.index] == [
        "2011-01-03",
        "2011-01-10",
        "2011-01-17",
        "2011-01-24",
    ]
    months = training_series(shop_dsn, "total", FEBRUARY, "month")
    assert list(months) == [68.0, 87.0]


def test_month_forecast_joins_actuals(shop_dsn):
    forecast_sales(shop_dsn, JANUARY, settings("month", top=2), "run-jan", interval(JANUARY))
    build_sales_series(shop_dsn, settings("month", top=2), FEBRUARY)
    joined = fetch(
        shop_dsn,
        "select forecast.series_id, forecast.period_start, actual.net_revenue, forecast.forecast"
        " from marts.sales_forecast as forecast"
        " inner join marts.sales_period as actual"
        " on forecast.series_id = actual.series_id and forecast.grain = actual.grain"
        " and forecast.period_start = actual.period_start"
        " order by 1",
    )
    # A series of one month is constant, so February's forecast repeats January's
    # net revenue.
    assert joined == [
        ("country:France", FEBRUARY, Decimal("7.00"), 20.0),
        ("country:United Kingdom", FEBRUARY, Decimal("50.00"), 28.0),
        ("total", FEBRUARY, Decimal("87.00"), 68.0),
    ]
    keys = fetch(
        shop_dsn, "select distinct extract(day from period_start) from marts.sales_forecast"
    )
    assert keys == [(1,)]


def test_model_row_records_run(shop_dsn):
    forecast_sales(shop_dsn, JANUARY, settings("month", top=0), "run-jan", interval(JANUARY))
    (row,) = fetch(
        shop_dsn,
        "select grain, status, run_id, data_interval_start, data_interval_end, model_kind,"
        " model_spec, n_obs, training_start, training_end, warnings, converged"
        " from marts.forecast_model where series_id = 'total' and as_of_month = %s",
        (JANUARY,),
    )
    assert row[:3] == ("month", "forecast", "run-jan")
    assert (row[3], row[4]) == interval(JANUARY)
    assert row[5:10] == ("constant", "constant 68", 1, JANUARY, JANUARY)
    assert row[10] == []
    # No SARIMA was fitted, so there is no optimiser to converge.
    assert row[11] is None


def test_week_forecast_joins_actuals(shop_dsn):
    forecast_sales(shop_dsn, JANUARY, settings("week", top=0), "run-jan", interval(JANUARY))
    build_sales_series(shop_dsn, settings("week", top=0), FEBRUARY)
    joined = fetch(
        shop_dsn,
        "select actual.period_start, actual.net_revenue, forecast.forecast"
        " from marts.sales_forecast as forecast"
        " inner join marts.sales_period as actual"
        " on forecast.series_id = actual.series_id and forecast.grain = actual.grain"
        " and forecast.period_start = actual.period_start"
        " order by 1",
    )
    # Four January weeks (55, -10, 20, 0) give the naive forecast 0 for the next
    # four weeks, whose actuals are 50, 0, 30 and 0.
    assert joined == [
        (dt.date(2011, 1, 31), Decimal("50.00"), 0.0),
        (dt.date(2011, 2, 7), Decimal(0), 0.0),
        (dt.date(2011, 2, 14), Decimal("30.00"), 0.0),
        (dt.date(2011, 2, 21), Decimal(0), 0.0),
    ]
    model = fetch(
        shop_dsn, "select grain, n_obs, training_start, training_end from marts.forecast_model"
    )
    assert model == [("week", 4, dt.date(2011, 1, 3), dt.date(2011, 1, 24))]


def test_day_grain_per_country(shop_dsn):
    forecast_sales(
        shop_dsn, FEBRUARY, settings("day", top=1, horizon=5), "run-feb", interval(FEBRUARY)
    )
    models = fetch(
        shop_dsn,
        "select series_id, grain, status, n_obs from marts.forecast_model order by 1",
    )
    # January and February have 59 days, 9 of them Saturdays.
    assert models == [
        ("country:United Kingdom", "day", "forecast", 50),
        ("total", "day", "forecast", 50),
    ]
    days = fetch(
        shop_dsn,
        "select series_id, min(period_start), count(*),"
        " count(*) filter (where extract(isodow from period_start) = 6)"
        " from marts.sales_forecast group by 1 order by 1",
    )
    # 28 February 2011 is a Monday, so the next 5 trading days are 1 to 4 and 6 March.
    assert days == [
        ("country:United Kingdom", dt.date(2011, 3, 1), 5, 0),
        ("total", dt.date(2011, 3, 1), 5, 0),
    ]


def test_bad_series_recorded_others_published(shop_dsn, monkeypatch):
    real_fit = sales.fit_monthly_forecast

    def fit_or_fail(series, steps, **kwargs):
        if kwargs["series_id"] == "country:France":
            raise np.linalg.LinAlgError("Schur decomposition solver error.")
        return real_fit(series, steps, **kwargs)

    monkeypatch.setattr(sales, "fit_monthly_forecast", fit_or_fail)
    month_settings = settings("month", top=2)
    series_ids = prepare_sales_series(shop_dsn, FEBRUARY, month_settings)
    results = [
        fit_series(shop_dsn, series_id, FEBRUARY, month_settings, "run-feb", interval(FEBRUARY))
        for series_id in [*series_ids, "country:Atlantis"]
    ]
    assert [result["status"] for result in results] == ["forecast", "forecast", "failed", "failed"]
    assert publish_forecasts(shop_dsn, FEBRUARY, "month") == 2 * 4
    models = fetch(
        shop_dsn,
        "select series_id, status, failure_reason from marts.forecast_model order by 1",
    )
    assert models == [
        (
            "country:Atlantis",
            "failed",
            "the series has no closed month up to 2011-02",
        ),
        (
            "country:France",
            "failed",
            "the fit raised LinAlgError: Schur decomposition solver error.",
        ),
        ("country:United Kingdom", "forecast", None),
        ("total", "forecast", None),
    ]


def snapshot(dsn: str) -> dict[str, list]:
    return {
        "models": fetch(
            dsn,
            "select series_id, grain, as_of_month, status, run_id, model_spec, n_obs,"
            " training_start, training_end, reason, warnings from marts.forecast_model"
            " order by 1, 2, 3",
        ),
        "forecasts": fetch(dsn, "select * from marts.sales_forecast order by 1, 2, 3, 4"),
        "days": fetch(dsn, "select * from marts.sales_daily order by 1, 2"),
        "periods": fetch(dsn, "select * from marts.sales_period order by 1, 2, 3"),
    }


def test_rerun_gives_same_rows(shop_dsn):
    week_settings = settings("week", top=3)
    forecast_sales(shop_dsn, FEBRUARY, week_settings, "run-feb", interval(FEBRUARY))
    first = snapshot(shop_dsn)
    forecast_sales(shop_dsn, FEBRUARY, week_settings, "run-feb", interval(FEBRUARY))
    assert snapshot(shop_dsn) == first
    assert len(first["models"]) == 4
    assert len(first["forecasts"]) == 4 * 4


def test_later_month_keeps_earlier_forecasts(shop_dsn):
    month_settings = settings("month", top=0)
    forecast_sales(shop_dsn, JANUARY, month_settings, "run-jan", interval(JANUARY))
    forecast_sales(shop_dsn, FEBRUARY, month_settings, "run-feb", interval(FEBRUARY))
    forecast_sales(shop_dsn, FEBRUARY, settings("day", top=0), "run-feb", interval(FEBRUARY))
    models = fetch(
        shop_dsn, "select as_of_month, grain, run_id from marts.forecast_model order by 1, 2"
    )
    assert models == [
        (JANUARY, "month", "run-jan"),
        (FEBRUARY, "day", "run-feb"),
        (FEBRUARY, "month", "run-feb"),
    ]


def test_dropped_country_keeps_actuals(shop_dsn):
    forecast_sales(shop_dsn, JANUARY, settings("month", top=2), "run-jan", interval(JANUARY))
    counts = build_sales_series(shop_dsn, settings("month", top=0), FEBRUARY)
    assert counts["series_ids"] == ["total"]
    # France has a published forecast, so its actuals stay for the join.
    remaining = fetch(shop_dsn, "select distinct series_id from marts.sales_period order by 1")
    assert remaining == [("country:France",), ("country:United Kingdom",), ("total",)]


def test_month_without_series_publishes_empty(warehouse_dsn):
    assert forecast_sales(
        warehouse_dsn, JANUARY, settings("month"), "run-jan", interval(JANUARY)
    ) == {"series": [], "forecast_rows": 0}
    assert fetch(warehouse_dsn, "select count(*) from marts.forecast_model") == [(0,)]


def test_migration_keeps_existing_forecasts(make_database, tmp_path: Path):
    dsn = make_database("migration")
    older = tmp_path / "migrations"
    older.mkdir()
    for path in sorted((SQL_DIR / "migrations").glob("*.sql")):
        if path.stem < "012":
            shutil.copy(path, older / path.name)
    db.migrate(dsn, older)
    with db.transaction(dsn) as cur:
        cur.execute(
            "insert into marts.forecast_model (series_id, as_of_month, run_id,"
            " data_interval_start, data_interval_end, model_kind, model_spec, n_obs,"
            " training_start, training_end, reason, warnings, candidates_tried, fitted_at)"
            " values ('total', '2011-01-01', 'old-run', now(), now(), 'naive', 'naive', 20,"
            " '2011-01-03', '2011-01-31', 'short', '{}', 0, now())"
        )
        cur.execute(
            "insert into marts.sales_forecast (series_id, as_of_month, period_start, forecast,"
            " lower_80, upper_80, lower_95, upper_95)"
            " values ('total', '2011-01-01', '2011-02-01', 5, 4, 6, 3, 7)"
        )
    assert db.migrate(dsn)[0] == "012_sales_series_grain"
    assert fetch(dsn, "select series_id, grain, status, run_id from marts.forecast_model") == [
        ("total", "day", "forecast", "old-run")
    ]
    assert fetch(dsn, "select grain, period_start, forecast from marts.sales_forecast") == [
        ("day", dt.date(2011, 2, 1), 5.0)
    ]


def test_charts_and_summary_per_series(shop_dsn, tmp_path: Path):
    month_settings = dataclasses.replace(settings("month", top=2), output_dir=tmp_path)
    forecast_sales(shop_dsn, FEBRUARY, month_settings, "run-feb", interval(FEBRUARY))
    charts = render_charts(shop_dsn, FEBRUARY, month_settings)
    # No cohort cells were built, so the retention heatmap is skipped.
    assert sorted(Path(path).name for path in charts) == [
        "forecast_country_France.png",
        "forecast_country_United_Kingdom.png",
        "forecast_total.png",
    ]
    lines = report.latest_forecasts(shop_dsn)
    total = lines.index(
        "Series total (month), as of 2011-02: naive (last value) on 2 months "
        "(2011-01-01 to 2011-02-01)"
    )
    # The naive forecast repeats February's 87 in each of the 4 months.
    assert lines[total + 2].startswith("  2011-03")
    assert lines[total + 6] == "  next 4 months in total: 348"


def test_summary_leaves_out_later_models(shop_dsn):
    forecast_sales(shop_dsn, JANUARY, settings("month", top=0), "run-jan", interval(JANUARY))
    forecast_sales(shop_dsn, FEBRUARY, settings("month", top=0), "run-feb", interval(FEBRUARY))

    newest = report.latest_forecasts(shop_dsn)
    through_january = report.latest_forecasts(shop_dsn, through_month=JANUARY)

    assert newest[0].startswith("Series total (month), as of 2011-02:")
    assert through_january[0].startswith("Series total (month), as of 2011-01:")


def test_summary_notes_later_loaded_months(shop_dsn):
    # The shop's transactions run to March 2011.
    text = report.summary(shop_dsn, shop_dsn, "core.transactions", [], None, JANUARY)
    assert "The runs ended with 2011-01, but earlier runs loaded months up to 2011-03." in text
    assert "earlier runs loaded" not in report.summary(
        shop_dsn, shop_dsn, "core.transactions", [], None, dt.date(2011, 3, 1)
    )


def test_api_serves_country_forecast_with_actuals(shop_dsn):
    from fastapi.testclient import TestClient

    from cohortintel.api import create_app

    forecast_sales(shop_dsn, JANUARY, settings("day", top=2), "run-jan", interval(JANUARY))
    forecast_sales(shop_dsn, JANUARY, settings("month", top=2), "run-jan", interval(JANUARY))
    build_sales_series(shop_dsn, settings("month", top=2), FEBRUARY)
    client = TestClient(create_app(lambda: shop_dsn))

    models = client.get("/api/v1/forecasts/sales").json()["rows"]
    # The month fit ran last, so each series shows its month-grain model.
    assert [(row["series_id"], row["grain"], row["status"]) for row in models] == [
        ("country:France", "month", "forecast"),
        ("country:United Kingdom", "month", "forecast"),
        ("total", "month", "forecast"),
    ]
    response = client.get("/api/v1/forecasts/sales/country:France")
    assert response.status_code == 200
    rows = response.json()["rows"]
    # Only the month grain's 4 forecasts, not the day grain's trading days.
    assert [row["period_start"] for row in rows] == [
        "2011-02-01",
        "2011-03-01",
        "2011-04-01",
        "2011-05-01",
    ]
    # France's January of 20 is forecast for February, whose actual is 7.
    assert (rows[0]["grain"], rows[0]["forecast"], rows[0]["actual"]) == ("month", 20.0, 7.0)
    assert rows[1]["actual"] is None


def test_month_grain_refit_starts_warm(warehouse_dsn):
    # 30 closed months, 2009-01 to 2011-06, one sale in each: enough for a
    # non-seasonal ARIMA, which has a warm start, but not for a backtest.
    rng = np.random.default_rng(3)
    months = [dt.date(2009 + i // 12, i % 12 + 1, 1) for i in range(30)]
    rows = [
        (i + 1, str(i + 1), "a", f"{month:%Y-%m}-15 10:00", 1, Decimal(f"{price:.2f}"), "purchase")
        for i, (month, price) in enumerate(
            zip(months, 200 + 5 * np.arange(30) + rng.normal(0, 20, 30), strict=True)
        )
    ]
    insert_transactions(warehouse_dsn, rows)
    set_month_status(warehouse_dsn, {f"{month:%Y-%m}": True for month in months})
    may, june = months[-2], months[-1]

    for month in (may, june):
        forecast_sales(
            warehouse_dsn, month, settings("month", top=0), f"run-{month:%m}", interval(month)
        )

    models = fetch(
        warehouse_dsn,
        "select as_of_month, selection, n_obs, warm_start->'order', warm_start->'params'"
        " from marts.forecast_model where series_id = 'total' order by 1",
    )
    assert [row[:2] for row in models] == [(may, "cold"), (june, "warm")]
    assert models[1][2] == models[0][2] + 1
    # June refitted May's order, or a neighbour of it, from May's parameters.
    may_order, june_order = models[0][3], models[1][3]
    assert may_order[1] == june_order[1]
    assert sum(abs(a - b) for a, b in zip(may_order, june_order, strict=True)) <= 1
    assert models[0][4] and models[1][4]


def test_day_grain_refit_starts_warm(shop_dsn):
    march = dt.date(2011, 3, 1)
    for month in (JANUARY, FEBRUARY, march):
        forecast_sales(
            shop_dsn, month, settings("day", top=0, horizon=5), f"run-{month:%m}", interval(month)
        )

    models = fetch(
        shop_dsn,
        "select as_of_month, selection, (warm_start->'seasonal_order'->>3)::int, warnings"
        " from marts.forecast_model where series_id = 'total' order by 1",
    )
    assert [row[:3] for row in models] == [
        # 26 trading days in January: an ARIMA without season.
        (JANUARY, "cold", 0),
        # 50 by February reach the 43 of a weekly model, so the search runs anew.
        (FEBRUARY, "cold", 6),
        # March is open, so its run refits February's model on the same days.
        (march, "warm", 6),
    ]
    assert any("has seasonal period 0 and this month's search 6" in w for w in models[1][3])


def insert_week_forecast(dsn: str, forecasts: dict[dt.date, float], backtest_mape: float) -> None:
    """Publish a weekly model of series total as of May 2011 with the given forecasts."""
    with db.transaction(dsn) as cur:
        cur.execute(
            "insert into marts.forecast_model (series_id, grain, as_of_month, run_id,"
            " data_interval_start, data_interval_end, model_kind, model_spec, n_obs,"
            " training_start, training_end, reason, warnings, candidates_tried, fitted_at,"
            " backtest_mape)"
            " values ('total', 'week', '2011-05-01', 'run-may', now(), now(), 'ets',"
            " 'ETS(A,Ad,A)', 100, '2009-06-01', '2011-05-23', 'test', '{}', 0, now(), %s)",
            (backtest_mape,),
        )
        for week, forecast in forecasts.items():
            cur.execute(
                "insert into marts.sales_forecast (series_id, grain, as_of_month, period_start,"
                " forecast, lower_80, upper_80, lower_95, upper_95)"
                " values ('total', 'week', '2011-05-01', %s, %s, %s, %s, %s, %s)",
                (week, forecast, forecast - 20, forecast + 20, forecast - 40, forecast + 40),
            )
            cur.execute(
                "insert into marts.sales_period (series_id, grain, period_start, net_revenue,"
                " purchase_revenue, return_revenue, orders) values ('total', 'week', %s, 100, 100,"
                " 0, 1)",
                (week,),
            )


def test_week_errors_outside_band_alert(warehouse_dsn):
    # Every week's actual is 100. With a backtest MAPE of 4 % and the factor 3,
    # an error above 12 % is outside the band.
    weeks = [dt.date(2011, 5, 30) + dt.timedelta(weeks=k) for k in range(5)]
    insert_week_forecast(
        warehouse_dsn, dict(zip(weeks, [110.0, 150.0, 100.0, 40.0, 300.0], strict=True)), 4.0
    )

    view = fetch(
        warehouse_dsn,
        "select period_start, forecast_horizon, error, absolute_percentage_error, is_within_80,"
        " is_within_95 from marts.sales_forecast_error order by period_start",
    )
    rows = sales.sales_errors_outside_band(warehouse_dsn, dt.date(2011, 6, 1), "week", 3.0)
    warnings = sales.sales_error_warnings(rows, 3.0, "run-jun")

    # Hand-computed: 100 - 150 = -50 (50 %), 100 - 40 = 60 (60 %); bounds are +-20 and +-40.
    assert view[1] == (weeks[1], 2, -50.0, 50.0, False, False)
    assert view[3] == (weeks[3], 4, 60.0, 60.0, False, False)
    assert view[0] == (weeks[0], 1, -10.0, 10.0, True, True)
    # The week of 30 May ends on 5 June, so June's run checks it. The week of
    # 27 June ends in July, so its 200 % waits for July's run.
    assert [row["period_start"] for row in rows] == [weeks[1], weeks[3]]
    assert len(warnings) == 1
    key, summary, details = warnings[0]
    assert key == "cohort_monthly.sales_forecast_error:total"
    assert summary.startswith(
        "Sales series total: the forecast of the week of 2011-06-20 made as of 2011-05"
        " missed by 60.0%, more than 3 times its backtest MAPE of 4.0%"
    )
    assert len(details["forecasts_outside_band"]) == 2
    assert details["realised_errors"].startswith("marts.sales_forecast_error")


def test_day_errors_never_alert(warehouse_dsn):
    assert sales.sales_errors_outside_band(warehouse_dsn, dt.date(2011, 6, 1), "day", 0.0) == []


def test_month_model_row_records_backtest_mape(warehouse_dsn):
    # 40 months, one sale in each, repeating a yearly pattern with noise: long
    # enough for the 12-month backtest.
    rng = np.random.default_rng(11)
    months = [dt.date(2008 + i // 12, i % 12 + 1, 1) for i in range(40)]
    prices = 200 + 10 * (np.arange(40) % 12) + rng.normal(0, 5, 40)
    rows = [
        (i + 1, str(i + 1), "a", f"{month:%Y-%m}-15 10:00", 1, Decimal(f"{price:.2f}"), "purchase")
        for i, (month, price) in enumerate(zip(months, prices, strict=True))
    ]
    insert_transactions(warehouse_dsn, rows)
    set_month_status(warehouse_dsn, {f"{month:%Y-%m}": True for month in months})
    month_settings = settings("month", top=0)

    forecast_sales(warehouse_dsn, months[-1], month_settings, "run", interval(months[-1]))

    series = training_series(warehouse_dsn, "total", months[-1], "month")
    expected = fit_monthly_forecast(
        series, month_settings.forecast_horizon, series_id="total", grain="month"
    )
    ((mape, mase),) = fetch(
        warehouse_dsn, "select backtest_mape, backtest_mase from marts.forecast_model"
    )
    assert mape == pytest.approx(expected.champion_score.mape)
    assert mase == pytest.approx(expected.champion_score.mase)
