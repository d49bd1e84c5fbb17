"""Build the daily sales series and refit its forecast for one as-of month."""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd

from cohortintel import db
from cohortintel.config import Settings
from cohortintel.forecast import ForecastResult, fit_sales_forecast, next_trading_days
from cohortintel.months import add_months

log = logging.getLogger(__name__)

SERIES_IDS = ("total",)


def build_sales_series(warehouse_dsn: str, settings: Settings) -> dict[str, int]:
    """Rebuild ``marts.sales_daily`` on a full calendar; return the day counts."""
    params = {
        "business_timezone": settings.business_timezone,
        # Python weekday 0 is Monday; Postgres isodow 1 is Monday.
        "non_trading_isodow": [day + 1 for day in settings.non_trading_weekdays],
    }
    with db.transaction(warehouse_dsn) as cur:
        db.execute_file(cur, "sales/sales_daily.sql", params)
        cur.execute(
            "select count(*), count(*) filter (where is_trading_day),"
            " count(*) filter (where not is_complete_period)"
            " from marts.sales_daily where series_id = 'total'"
        )
        days, trading_days, incomplete_days = cur.fetchone()
    log.info(
        "Built marts.sales_daily: %s days, %s trading days, %s days in a month not closed yet",
        days,
        trading_days,
        incomplete_days,
    )
    return {"days": days, "trading_days": trading_days, "incomplete_days": incomplete_days}


def training_series(warehouse_dsn: str, series_id: str, as_of_month: dt.date) -> pd.Series:
    """Return the series' trading days of closed months up to the end of ``as_of_month``."""
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "select period_start, net_revenue::double precision from marts.sales_daily"
            " where series_id = %s and is_trading_day and is_complete_period"
            " and period_start < %s order by period_start",
            (series_id, add_months(as_of_month, 1)),
        )
        rows = cur.fetchall()
    index = pd.DatetimeIndex([pd.Timestamp(day) for day, _ in rows], name="period_start")
    return pd.Series([value for _, value in rows], index=index, name=series_id, dtype="float64")


def fit_forecasts(
    warehouse_dsn: str,
    as_of_month: dt.date,
    settings: Settings,
    run_id: str,
    data_interval: tuple[dt.datetime, dt.datetime],
) -> list[dict]:
    """Refit every series' model and stage its forecast for the publish step."""
    with db.transaction(warehouse_dsn) as cur:
        # A series without a forecast this month must not leave an older one behind.
        cur.execute("delete from staging.sales_forecast where as_of_month = %s", (as_of_month,))
        cur.execute("delete from staging.forecast_model where as_of_month = %s", (as_of_month,))
    summaries = []
    for series_id in SERIES_IDS:
        series = training_series(warehouse_dsn, series_id, as_of_month)
        if series.empty:
            log.warning(
                "Series %s has no closed month up to %s yet; no forecast is published for it.",
                series_id,
                f"{as_of_month:%Y-%m}",
            )
            continue
        horizon = next_trading_days(
            series.index[-1].date(), settings.forecast_horizon, settings.non_trading_weekdays
        )
        result = fit_sales_forecast(
            series, horizon, series_id=series_id, season_length=settings.season_length
        )
        clipped = clip_at_zero(result.forecast)
        if clipped:
            log.warning(
                "Series %s as of %s: %s forecast values or interval bounds were below zero "
                "and were set to 0, because sales cannot be negative",
                series_id,
                f"{as_of_month:%Y-%m}",
                clipped,
            )
        stage_forecast(warehouse_dsn, result, as_of_month, run_id, data_interval, clipped)
        log.info(
            "Series %s as of %s: %s on %s observations (%s to %s); %s",
            series_id,
            f"{as_of_month:%Y-%m}",
            model_spec(result),
            result.n_obs,
            result.training_start,
            result.training_end,
            result.reason,
        )
        summaries.append(
            {"series_id": series_id, "model": model_spec(result), "n_obs": result.n_obs}
        )
    return summaries


def clip_at_zero(forecast: pd.DataFrame) -> int:
    """Set negative forecasts and interval bounds to 0 in place; return how many were changed.

    Daily net revenue can be negative when returns outweigh sales, but an
    expected value or a bound below zero is never a useful forecast of sales.
    """
    columns = ["forecast", "lower_80", "upper_80", "lower_95", "upper_95"]
    negative = forecast[columns] < 0
    forecast[columns] = forecast[columns].clip(lower=0.0)
    return int(negative.to_numpy().sum())


def model_spec(result: ForecastResult) -> str:
    """Return a readable model name such as ``SARIMA(1,0,1)(0,1,1,6)``."""
    if result.model_kind == "sarima" and result.order and result.seasonal_order:
        return f"SARIMA{tuple(result.order)}{tuple(result.seasonal_order)}".replace(" ", "")
    if result.model_kind == "arima" and result.order:
        return f"ARIMA{tuple(result.order)}".replace(" ", "")
    return result.model_kind.replace("_", " ")


def stage_forecast(
    warehouse_dsn: str,
    result: ForecastResult,
    as_of_month: dt.date,
    run_id: str,
    data_interval: tuple[dt.datetime, dt.datetime],
    clipped_values: int = 0,
) -> None:
    """Replace the staged model and forecast rows of one series and as-of month."""
    key = (result.series_id, as_of_month)
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "delete from staging.sales_forecast where series_id = %s and as_of_month = %s", key
        )
        cur.execute(
            "delete from staging.forecast_model where series_id = %s and as_of_month = %s", key
        )
        cur.execute(
            "insert into staging.forecast_model (series_id, as_of_month, run_id, data_interval_start,"
            " data_interval_end, model_kind, model_spec, arima_order, seasonal_order, aic, n_obs,"
            " training_start, training_end, reason, converged, warnings, candidates_tried,"
            " clipped_values, fitted_at)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())",
            (
                result.series_id,
                as_of_month,
                run_id,
                data_interval[0],
                data_interval[1],
                result.model_kind,
                model_spec(result),
                list(result.order) if result.order else None,
                list(result.seasonal_order) if result.seasonal_order else None,
                result.aic,
                result.n_obs,
                result.training_start,
                result.training_end,
                result.reason,
                result.converged,
                list(result.warnings),
                result.candidates_tried,
                clipped_values,
            ),
        )
        rows = [
            (
                result.series_id,
                as_of_month,
                row.period_start.date(),
                float(row.forecast),
                float(row.lower_80),
                float(row.upper_80),
                float(row.lower_95),
                float(row.upper_95),
            )
            for row in result.forecast.itertuples(index=False)
        ]
        from psycopg2.extras import execute_values

        execute_values(
            cur,
            "insert into staging.sales_forecast (series_id, as_of_month, period_start, forecast,"
            " lower_80, upper_80, lower_95, upper_95) values %s",
            rows,
        )
