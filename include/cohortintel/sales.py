"""Build the sales series of the transactions and forecast each one for an as-of month.

The monthly DAG calls these steps in order, one run per as-of month M:

1. ``prepare_sales_series`` rebuilds ``marts.sales_daily`` and
   ``marts.sales_period`` for series ``total`` and the top countries
   (``COHORTINTEL_SALES_TOP_COUNTRIES``), clears M's staged forecasts of the
   configured grain and returns the ids of the series to forecast;
2. ``fit_series`` (one mapped task per series) fits the series' closed periods
   up to M at the configured grain and stages the model row and the forecast;
3. ``cohortintel.publish.publish_forecasts`` moves every staged series of M
   into the marts in one transaction.

Day grain uses ``cohortintel.forecast`` on trading days (weekly season); week and
month grains use the champion forecaster of ``cohortintel.monthly_forecast``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cohortintel import db
from cohortintel.autosarima import NoSarimaFitError
from cohortintel.config import Settings
from cohortintel.forecast import closure_days, next_trading_days
from cohortintel.monthly_forecast import (
    MonthlyForecast,
    WarmStart,
    fit_monthly_forecast,
    fit_trading_day_forecast,
)
from cohortintel.monthly_sales import error_warnings, previous_warm_start, stored_warm_start
from cohortintel.months import add_months

log = logging.getLogger(__name__)

TOTAL_SERIES = "total"
SALES_ERROR_VIEW = "marts.sales_forecast_error"
COUNTRY_PREFIX = "country:"

# Season length of the week and month forecasters, in periods. A year is 52 ISO
# weeks (53 in some years, so the weekly season drifts by a week every few years).
# Online Retail covers about one year, far less than the 3 * 52 + 1 weeks a
# seasonal model needs, so weekly series get the forecaster's non-seasonal fallback.
SEASON_LENGTHS = {"week": 52, "month": 12}

# A fit that raises one of these is recorded as failed for its series, so the
# other series of the month are still forecast and published. Database errors are
# not caught: they fail the task, and Airflow retries it.
# Grains whose realised forecast errors can raise a warning alert.
ALERT_GRAINS = ("week", "month")
FIT_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError, NoSarimaFitError)


def country_series_id(country: str) -> str:
    """Return the series id of one country's sales, such as ``country:United Kingdom``."""
    return f"{COUNTRY_PREFIX}{country}"


# --- Build ---------------------------------------------------------------------------


def top_countries(warehouse_dsn: str, count: int, up_to_month: dt.date | None = None) -> list[str]:
    """Return the ``count`` countries with the most net revenue in the closed months.

    Only closed months up to ``up_to_month`` count (all closed months when it is
    None), so a rerun of a month picks the same countries. Net revenue is
    purchases plus returns, and countries whose net revenue is not above 0 are
    never chosen. Ties are broken by country name, so the choice is deterministic.
    """
    if count == 0:
        return []
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "select transactions.country from core.transactions"
            " inner join ops.month_status on transactions.occurred_month = month_status.month"
            " where month_status.is_complete and transactions.country is not null"
            " and transactions.line_kind in ('purchase', 'return')"
            " and (%(up_to)s::date is null or transactions.occurred_month <= %(up_to)s::date)"
            " group by 1 having sum(transactions.amount) > 0"
            " order by sum(transactions.amount) desc, 1 limit %(count)s",
            {"up_to": up_to_month, "count": count},
        )
        return [country for (country,) in cur.fetchall()]


def _forecast_countries(warehouse_dsn: str) -> list[str]:
    """Return the countries with a published forecast, so their actuals stay in the marts."""
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "select distinct substr(series_id, %s) from marts.forecast_model"
            " where starts_with(series_id, %s) order by 1",
            (len(COUNTRY_PREFIX) + 1, COUNTRY_PREFIX),
        )
        return [country for (country,) in cur.fetchall()]


def build_sales_series(
    warehouse_dsn: str, settings: Settings, as_of_month: dt.date | None = None
) -> dict[str, Any]:
    """Rebuild ``marts.sales_daily`` and ``marts.sales_period`` for total and the top countries.

    The top countries are chosen on the closed months up to ``as_of_month`` (see
    ``top_countries``). Countries with a published forecast keep their series
    too, so every stored forecast still joins its actuals. Returns the day and
    period counts and ``series_ids``, the ids to forecast: total first, then the
    top countries by net revenue.
    """
    countries = top_countries(warehouse_dsn, settings.sales_top_countries, as_of_month)
    earlier_countries = sorted(set(_forecast_countries(warehouse_dsn)) - set(countries))
    params = {
        "business_timezone": settings.business_timezone,
        # Python weekday 0 is Monday; Postgres isodow 1 is Monday.
        "non_trading_isodow": [day + 1 for day in settings.non_trading_weekdays],
        "countries": countries + earlier_countries,
    }
    with db.transaction(warehouse_dsn) as cur:
        db.execute_file(cur, "sales/sales_daily.sql", params)
        db.execute_file(cur, "sales/sales_period.sql", params)
        cur.execute(
            "select count(*), count(*) filter (where is_trading_day),"
            " count(*) filter (where not is_complete_period)"
            " from marts.sales_daily where series_id = 'total'"
        )
        days, trading_days, incomplete_days = cur.fetchone()
        cur.execute(
            "select count(*) filter (where grain = 'week'), count(*) filter (where grain = 'month')"
            " from marts.sales_period where series_id = 'total'"
        )
        weeks, months = cur.fetchone()
    series_ids = (
        [TOTAL_SERIES, *(country_series_id(country) for country in countries)] if days else []
    )
    log.info(
        "Built marts.sales_daily and marts.sales_period for %s series (%s kept for their earlier "
        "forecasts): %s days, %s trading days, %s days in a month not closed yet, %s complete "
        "weeks, %s complete months per series",
        len(series_ids) + len(earlier_countries),
        len(earlier_countries),
        days,
        trading_days,
        incomplete_days,
        weeks,
        months,
    )
    return {
        "days": days,
        "trading_days": trading_days,
        "incomplete_days": incomplete_days,
        "weeks": weeks,
        "months": months,
        "series_ids": series_ids,
    }


def clear_staged_forecasts(warehouse_dsn: str, as_of_month: dt.date, grain: str) -> None:
    """Delete the staged rows of one as-of month and grain before its series are fitted."""
    # A series that left the top countries must not leave an older staged forecast behind.
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "delete from staging.sales_forecast where as_of_month = %s and grain = %s",
            (as_of_month, grain),
        )
        cur.execute(
            "delete from staging.forecast_model where as_of_month = %s and grain = %s",
            (as_of_month, grain),
        )


def prepare_sales_series(warehouse_dsn: str, as_of_month: dt.date, settings: Settings) -> list[str]:
    """Rebuild the series tables, clear the month's staged forecasts and return the series ids."""
    counts = build_sales_series(warehouse_dsn, settings, as_of_month)
    clear_staged_forecasts(warehouse_dsn, as_of_month, settings.sales_grain)
    return counts["series_ids"]


# --- Fit -----------------------------------------------------------------------------


def training_series(
    warehouse_dsn: str, series_id: str, as_of_month: dt.date, grain: str = "day"
) -> pd.Series:
    """Return the series' closed periods up to the end of ``as_of_month``, indexed by period start.

    Day grain returns the trading days of closed months. Week and month grains
    return the complete periods that end by the end of ``as_of_month``.
    """
    next_month = add_months(as_of_month, 1)
    if grain == "day":
        query = (
            "select period_start, net_revenue::double precision from marts.sales_daily"
            " where series_id = %(series_id)s and is_trading_day and is_complete_period"
            " and period_start < %(next_month)s order by period_start"
        )
    else:
        query = (
            "select period_start, net_revenue::double precision from marts.sales_period"
            " where series_id = %(series_id)s and grain = %(grain)s"
            " and period_start + case grain when 'week' then interval '7 days'"
            " else interval '1 month' end <= %(next_month)s order by period_start"
        )
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(query, {"series_id": series_id, "grain": grain, "next_month": next_month})
        rows = cur.fetchall()
    index = pd.DatetimeIndex([pd.Timestamp(day) for day, _ in rows], name="period_start")
    return pd.Series([value for _, value in rows], index=index, name=series_id, dtype="float64")


def _period_reason(result: MonthlyForecast, grain: str) -> str:
    """Describe why the forecaster chose its champion, in one sentence."""
    if result.model_kind == "constant":
        return result.fallback_reason or "the series is constant"
    fallback = result.fallback_reason
    if result.champion_score is not None:
        reason = (
            f"lowest backtest MASE ({result.champion_score.mase:.3f}) of "
            f"{len(result.backtest)} scored candidates (SARIMA selection: {result.selection})"
        )
    else:
        reason = "too few periods for a backtest, so the first candidate was used"
    if fallback:
        reason += f"; no seasonal model because {fallback}"
    return reason


def period_model_row(result: MonthlyForecast, grain: str) -> dict[str, Any]:
    """Return the ``forecast_model`` columns of a fit at any grain."""
    sarima = result.sarima
    champion_is_sarima = sarima is not None and result.model_kind in ("sarima", "arima")
    naive = result.seasonal_naive_score
    return {
        "status": "forecast",
        "model_kind": result.model_kind,
        "model_spec": result.model_spec,
        "arima_order": list(sarima.spec.order) if champion_is_sarima else None,
        "seasonal_order": (
            list(sarima.spec.seasonal_order)
            if champion_is_sarima and result.model_kind == "sarima"
            else None
        ),
        "aic": sarima.aicc if champion_is_sarima else None,
        "n_obs": result.n_obs,
        "training_start": result.training_start.date(),
        "training_end": result.training_end.date(),
        "reason": _period_reason(result, grain),
        "converged": result.converged,
        "warnings": list(result.warnings),
        "candidates_tried": sarima.candidates_fitted + sarima.candidates_failed if sarima else 0,
        "clipped_values": result.clipped_values,
        "backtest_mase": _finite(result.champion_score.mase) if result.champion_score else None,
        "backtest_mape": _finite(result.champion_score.mape) if result.champion_score else None,
        "seasonal_naive_mase": _finite(naive.mase) if naive else None,
        "selection": result.selection,
        "warm_start": stored_warm_start(result),
    }


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def failed_model_row(reason: str) -> dict[str, Any]:
    """Return the ``forecast_model`` columns of a series that was not forecast."""
    return {
        "status": "failed",
        "failure_reason": reason,
        "warnings": [],
        "candidates_tried": 0,
        "clipped_values": 0,
    }


def stage_forecast(
    warehouse_dsn: str,
    series_id: str,
    grain: str,
    as_of_month: dt.date,
    columns: dict[str, Any],
    forecast: pd.DataFrame | None,
    run_id: str,
    data_interval: tuple[dt.datetime, dt.datetime],
) -> None:
    """Replace the staged model row and forecast rows of one series, grain and as-of month.

    A day-grain ``forecast`` has an is_closed column; without it every row is an open period.
    """
    from psycopg2.extras import execute_values

    key = {"series_id": series_id, "grain": grain, "as_of_month": as_of_month}
    row = {
        **key,
        **columns,
        "run_id": run_id,
        "data_interval_start": data_interval[0],
        "data_interval_end": data_interval[1],
    }
    names = db.sql.SQL(", ").join(db.sql.Identifier(name) for name in row)
    values = db.sql.SQL(", ").join(db.sql.Placeholder(name) for name in row)
    forecast_rows = [
        (
            series_id,
            grain,
            as_of_month,
            pd.Timestamp(item.period_start).date(),
            float(item.forecast),
            float(item.lower_80),
            float(item.upper_80),
            float(item.lower_95),
            float(item.upper_95),
            bool(getattr(item, "is_closed", False)),
        )
        for item in (forecast.itertuples(index=False) if forecast is not None else ())
    ]
    where = (
        " where series_id = %(series_id)s and grain = %(grain)s and as_of_month = %(as_of_month)s"
    )
    with db.transaction(warehouse_dsn) as cur:
        cur.execute("delete from staging.sales_forecast" + where, key)
        cur.execute("delete from staging.forecast_model" + where, key)
        cur.execute(
            db.sql.SQL(
                "insert into staging.forecast_model ({}, fitted_at) values ({}, now())"
            ).format(names, values),
            row,
        )
        execute_values(
            cur,
            "insert into staging.sales_forecast (series_id, grain, as_of_month, period_start,"
            " forecast, lower_80, upper_80, lower_95, upper_95, is_closed) values %s",
            forecast_rows,
        )


def past_closures(warehouse_dsn: str, as_of_month: dt.date) -> pd.DatetimeIndex:
    """Return the trading days up to the end of ``as_of_month`` on which the shop was closed.

    Those are the days with no source line at all (``marts.sales_daily.is_closed``).
    COHORTINTEL_HOLIDAY_CALENDAR and COHORTINTEL_ANNUAL_CLOSURES apply only to the
    days ahead, because in the past the data shows whether the shop opened.
    """
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "select period_start from marts.sales_daily where series_id = %s and is_closed"
            " and period_start < %s order by period_start",
            (TOTAL_SERIES, add_months(as_of_month, 1)),
        )
        return pd.DatetimeIndex([pd.Timestamp(day) for (day,) in cur.fetchall()])


def _fit_day(
    series: pd.Series,
    series_id: str,
    settings: Settings,
    warm_start: WarmStart | None,
    closed: pd.DatetimeIndex,
) -> tuple[dict, pd.DataFrame]:
    horizon = next_trading_days(
        series.index[-1].date(), settings.forecast_horizon, settings.non_trading_weekdays
    )
    closed_ahead = closure_days(
        horizon[0].date(), horizon[-1].date(), settings.holiday_calendar, settings.annual_closures
    )
    log.info(
        "Series %s: %s trading days of the training data are closures, and %s of the %s days "
        "ahead are closed and forecast as 0",
        series_id,
        int(series.index.isin(closed).sum()),
        int(horizon.isin(closed_ahead).sum()),
        len(horizon),
    )
    result = fit_trading_day_forecast(
        series,
        horizon,
        series_id=series_id,
        season_length=settings.season_length,
        warm_start=warm_start,
        closed_days=closed.append(closed_ahead),
    )
    frame = result.forecast.assign(is_closed=horizon.isin(closed_ahead))
    return period_model_row(result, "day"), frame


def _fit_period(
    series: pd.Series, series_id: str, settings: Settings, warm_start: WarmStart | None
) -> tuple[dict, pd.DataFrame]:
    grain = settings.sales_grain
    result = fit_monthly_forecast(
        series,
        settings.forecast_horizon,
        series_id=series_id,
        season_length=SEASON_LENGTHS[grain],
        grain=grain,
        warm_start=warm_start,
    )
    return period_model_row(result, grain), result.forecast


def fit_series(
    warehouse_dsn: str,
    series_id: str,
    as_of_month: dt.date,
    settings: Settings,
    run_id: str,
    data_interval: tuple[dt.datetime, dt.datetime],
) -> dict[str, Any]:
    """Fit one series at the configured grain on its closed periods and stage the result.

    A series without a closed period, or whose fit raises one of ``FIT_ERRORS``,
    is staged with status failed and its reason, and the function returns
    normally, so the other series of the month are still forecast and published.
    """
    grain = settings.sales_grain
    month_text = f"{as_of_month:%Y-%m}"
    series = training_series(warehouse_dsn, series_id, as_of_month, grain)
    forecast = None
    if series.empty:
        reason = f"the series has no closed {grain} up to {month_text}"
    else:
        try:
            previous = previous_warm_start(warehouse_dsn, series_id, as_of_month, grain)
            if previous is not None:
                log.info(
                    "Series %s at %s grain as of %s starts from the model of %s",
                    series_id,
                    grain,
                    month_text,
                    f"{previous[0]:%Y-%m}",
                )
            warm_start = previous[1] if previous else None
            if grain == "day":
                closed = past_closures(warehouse_dsn, as_of_month)
                columns, forecast = _fit_day(series, series_id, settings, warm_start, closed)
            else:
                columns, forecast = _fit_period(series, series_id, settings, warm_start)
            reason = None
        except FIT_ERRORS as error:
            log.exception(
                "Fitting series %s at %s grain as of %s failed", series_id, grain, month_text
            )
            reason = f"the fit raised {type(error).__name__}: {error}"
    if reason is not None:
        log.warning(
            "Series %s at %s grain as of %s is not forecast and is recorded as failed: %s",
            series_id,
            grain,
            month_text,
            reason,
        )
        stage_forecast(
            warehouse_dsn,
            series_id,
            grain,
            as_of_month,
            failed_model_row(reason),
            None,
            run_id,
            data_interval,
        )
        return {"series_id": series_id, "grain": grain, "status": "failed", "reason": reason}

    stage_forecast(
        warehouse_dsn, series_id, grain, as_of_month, columns, forecast, run_id, data_interval
    )
    log.info(
        "Series %s at %s grain as of %s: %s on %s periods (%s to %s); staged %s forecast periods",
        series_id,
        grain,
        month_text,
        columns["model_spec"],
        columns["n_obs"],
        columns["training_start"],
        columns["training_end"],
        len(forecast),
    )
    return {
        "series_id": series_id,
        "grain": grain,
        "status": "forecast",
        "model": columns["model_spec"],
        "n_obs": columns["n_obs"],
    }


def series_to_forecast(warehouse_dsn: str, as_of_month: dt.date, settings: Settings) -> list[str]:
    """Return total and the top countries of ``as_of_month`` that have rows in ``marts.sales_daily``."""
    candidate_ids = [
        TOTAL_SERIES,
        *(
            country_series_id(country)
            for country in top_countries(warehouse_dsn, settings.sales_top_countries, as_of_month)
        ),
    ]
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "select distinct series_id from marts.sales_daily where series_id = any(%s)",
            (candidate_ids,),
        )
        present = {series_id for (series_id,) in cur.fetchall()}
    return [series_id for series_id in candidate_ids if series_id in present]


def fit_forecasts(
    warehouse_dsn: str,
    as_of_month: dt.date,
    settings: Settings,
    run_id: str,
    data_interval: tuple[dt.datetime, dt.datetime],
    series_ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Clear the month's staged forecasts and fit every series with ``fit_series``, one by one.

    The DAG runs ``fit_series`` as one mapped task per series instead. Without
    ``series_ids`` the series are those of ``series_to_forecast``.
    """
    clear_staged_forecasts(warehouse_dsn, as_of_month, settings.sales_grain)
    if series_ids is None:
        series_ids = series_to_forecast(warehouse_dsn, as_of_month, settings)
    return [
        fit_series(warehouse_dsn, series_id, as_of_month, settings, run_id, data_interval)
        for series_id in series_ids
    ]


def sales_errors_outside_band(
    warehouse_dsn: str, as_of_month: dt.date, grain: str, factor: float
) -> list[dict[str, Any]]:
    """Return the forecasts of periods ending in ``as_of_month`` that missed far beyond their backtest.

    A forecast is outside the band when its absolute percentage error exceeds
    ``factor`` times the champion's backtest MAPE. Only the weeks or the month
    that end in ``as_of_month`` are checked, so each forecast is reported once.
    Days are not checked: on Online Retail a quiet day missed by more than 3
    times the backtest MAPE in 8 of 12 months, so the alert would fire almost
    every month.
    """
    if grain not in ALERT_GRAINS:
        return []
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "select series_id, grain, as_of_month, period_start, forecast_horizon, model_spec,"
            " actual, forecast, absolute_percentage_error, backtest_mape"
            f" from {SALES_ERROR_VIEW}"
            " where grain = %(grain)s"
            " and period_start + case grain when 'week' then 6 else 0 end >= %(month)s"
            " and period_start + case grain when 'week' then 6 else 0 end < %(next_month)s"
            " and backtest_mape > 0 and absolute_percentage_error > %(factor)s * backtest_mape"
            " order by series_id, as_of_month, period_start",
            {
                "grain": grain,
                "month": as_of_month,
                "next_month": add_months(as_of_month, 1),
                "factor": factor,
            },
        )
        columns = [column.name for column in cur.description]
        return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def sales_error_warnings(
    rows: list[dict[str, Any]], factor: float, run_id: str
) -> list[tuple[str, str, dict[str, Any]]]:
    """Group the rows by series into (alert key, summary, details) warnings, one per series."""
    return error_warnings(
        rows,
        factor,
        run_id,
        subject="Sales series",
        alert_name="sales_forecast_error",
        error_view=SALES_ERROR_VIEW,
    )
