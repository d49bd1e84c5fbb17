"""Copy the external monthly sales series, forecast each one and publish a month's forecasts.

The monthly DAG calls these steps in order, one run per as-of month M:

1. ``copy_monthly_sales`` copies every series' months up to M from the source
   table into ``marts.sales_monthly`` and returns the series ids;
2. ``fit_monthly_series`` (one mapped task per series) fits
   ``cohortintel.monthly_forecast.fit_monthly_forecast`` on the months up to M,
   warm-started from the series' newest earlier model, and stages the result;
3. ``publish_monthly_forecasts`` moves every staged series of M into the marts
   in one transaction;
4. ``realised_errors_outside_band`` finds the forecasts whose month M has
   arrived and whose error is far above their backtest MAPE.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from cohortintel import db
from cohortintel.autosarima import SarimaSpec
from cohortintel.config import Settings
from cohortintel.monthly_forecast import (
    MonthlyForecast,
    SeriesValidationError,
    WarmStart,
    fit_monthly_forecast,
    prepare_monthly_series,
)
from cohortintel.months import add_months, months_between

log = logging.getLogger(__name__)

SEASON_LENGTH = 12
ERROR_VIEW = "marts.monthly_forecast_error"


# --- Copy --------------------------------------------------------------------------


def _clear_staging(warehouse_dsn: str, as_of_month: dt.date) -> None:
    # A series that left the source must not leave an older staged forecast behind.
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "delete from staging.monthly_sales_forecast where as_of_month = %s", (as_of_month,)
        )
        cur.execute(
            "delete from staging.monthly_forecast_model where as_of_month = %s", (as_of_month,)
        )


def _read_source(source_dsn: str, table: str, next_month: dt.date) -> io.StringIO | None:
    """COPY the source rows before ``next_month`` into a CSV buffer; None when the table is missing."""
    buffer = io.StringIO()
    with db.transaction(source_dsn) as cur:
        cur.execute("select to_regclass(%s)", (table,))
        if cur.fetchone()[0] is None:
            return None
        # A NULL value becomes NaN, so the fit step records that series as invalid
        # instead of the copy failing for every series.
        query = db.sql.SQL(
            "copy (select series_id, date_trunc('month', period)::date,"
            " coalesce(value, 'NaN'::numeric) from {} where period < %s) to stdout"
            " with (format csv)"
        ).format(db.identifier(table))
        # COPY takes no bound parameters, so the month is bound by mogrify first.
        cur.copy_expert(cur.mogrify(query, (next_month,)).decode(), buffer)
    buffer.seek(0)
    return buffer


def copy_monthly_sales(
    source_dsn: str, warehouse_dsn: str, as_of_month: dt.date, settings: Settings, run_id: str
) -> list[str]:
    """Copy every series' months up to ``as_of_month`` into ``marts.sales_monthly``.

    Months after ``as_of_month`` are never read, because they are not closed at
    the run's month. Returns the ids of the series copied, sorted; an empty list
    when the source table is missing or has no month up to ``as_of_month``.

    Raises:
        ValueError: a series has two source rows in one month.
    """
    _clear_staging(warehouse_dsn, as_of_month)
    table = settings.monthly_sales_table
    next_month = add_months(as_of_month, 1)
    buffer = _read_source(source_dsn, table, next_month)
    if buffer is None:
        log.warning(
            "The source database has no monthly sales table %s, so no monthly series is "
            "forecast for %s. Load one with `cohortintel demo` or set "
            "COHORTINTEL_MONTHLY_SALES_TABLE.",
            table,
            f"{as_of_month:%Y-%m}",
        )
        return []

    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "create temporary table monthly_sales_source"
            " (series_id text not null, period_start date not null, value numeric not null)"
            " on commit drop"
        )
        cur.copy_expert(
            "copy monthly_sales_source (series_id, period_start, value) from stdin"
            " with (format csv)",
            buffer,
        )
        cur.execute(
            "select series_id, period_start, count(*) from monthly_sales_source"
            " group by 1, 2 having count(*) > 1 order by 1, 2 limit 1"
        )
        duplicate = cur.fetchone()
        if duplicate:
            raise ValueError(
                f"Monthly sales table {table} has {duplicate[2]} rows for series "
                f"{duplicate[0]!r} in {duplicate[1]:%Y-%m}; keep one row per series and month."
            )
        db.execute_file(
            cur,
            "monthly/copy_sales_monthly.sql",
            {"next_month": next_month, "run_id": run_id},
        )
        cur.execute(
            "select series_id, count(*), count(*) filter (where is_filled)"
            " from marts.sales_monthly where period_start < %s group by 1 order by 1",
            (next_month,),
        )
        counts = cur.fetchall()

    series_ids = [series_id for series_id, _, _ in counts]
    if not series_ids:
        log.warning(
            "Monthly sales table %s has no month up to %s, so no monthly series is forecast.",
            table,
            f"{as_of_month:%Y-%m}",
        )
        return []
    log.info(
        "Copied %s monthly sales series up to %s from %s into marts.sales_monthly: "
        "%s months, %s of them missing in the source and filled with 0",
        len(series_ids),
        f"{as_of_month:%Y-%m}",
        table,
        sum(months for _, months, _ in counts),
        sum(filled for _, _, filled in counts),
    )
    return series_ids


# --- Fit -----------------------------------------------------------------------------


def training_series(
    warehouse_dsn: str, series_id: str, as_of_month: dt.date
) -> tuple[pd.Series, list[dt.date]]:
    """Return the series' months up to and including ``as_of_month``, and the filled months.

    The series is indexed by month start. The filled months are those the copy
    step set to 0 because the source has no row for them.
    """
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "select period_start, value::double precision, is_filled from marts.sales_monthly"
            " where series_id = %s and period_start < %s order by period_start",
            (series_id, add_months(as_of_month, 1)),
        )
        rows = cur.fetchall()
    index = pd.DatetimeIndex([pd.Timestamp(month) for month, _, _ in rows], name="period_start")
    series = pd.Series(
        [value for _, value, _ in rows], index=index, name=series_id, dtype="float64"
    )
    return series, [month for month, _, is_filled in rows if is_filled]


def _finite(value: float | None) -> float | None:
    """Return the value as a float, or None when it is missing, NaN or infinite (JSON has neither)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _finite_params(params: dict[str, float]) -> dict[str, float | None]:
    return {name: _finite(value) for name, value in params.items()}


def warm_start_to_json(warm_start: WarmStart) -> dict[str, Any]:
    """Return the warm start as a JSON object for ``monthly_forecast_model.warm_start``."""
    spec = warm_start.spec
    return {
        "order": list(spec.order),
        "seasonal_order": list(spec.seasonal_order),
        "with_constant": spec.with_constant,
        "boxcox_lambda": spec.boxcox_lambda,
        "params": {name: float(value) for name, value in warm_start.params.items()},
        "sarima_backtest_mase": _finite(warm_start.sarima_backtest_mase),
        "ets_params": _finite_values(warm_start.ets_params),
        "sarima_backtest_params": (
            _finite_params(warm_start.sarima_backtest_params)
            if warm_start.sarima_backtest_params
            else None
        ),
        "ets_backtest_params": _finite_values(warm_start.ets_backtest_params),
    }


def _finite_values(values: Sequence[float] | None) -> list[float | None] | None:
    return [_finite(value) for value in values] if values else None


def _complete(values: Any) -> Any:
    """Return stored parameters only when none is missing, because a NaN was stored as null."""
    if not values:
        return None
    found = values.values() if isinstance(values, dict) else values
    return None if any(value is None for value in found) else values


def warm_start_from_json(stored: dict[str, Any]) -> WarmStart:
    """Rebuild a ``WarmStart`` from the JSON object that ``warm_start_to_json`` returned."""
    spec = SarimaSpec(
        order=tuple(stored["order"]),
        seasonal_order=tuple(stored["seasonal_order"]),
        with_constant=bool(stored["with_constant"]),
        boxcox_lambda=stored["boxcox_lambda"],
    )
    ets_params = _complete(stored.get("ets_params"))
    ets_backtest_params = _complete(stored.get("ets_backtest_params"))
    return WarmStart(
        spec=spec,
        params={name: float(value) for name, value in stored["params"].items()},
        # A warm start stored before the SARIMA's own MASE was kept has only the
        # champion's "backtest_mase", which is not comparable, so that month's
        # refit skips the check whether its backtest worsened.
        sarima_backtest_mase=stored.get("sarima_backtest_mase"),
        ets_params=tuple(ets_params) if ets_params else None,
        sarima_backtest_params=_complete(stored.get("sarima_backtest_params")),
        ets_backtest_params=tuple(ets_backtest_params) if ets_backtest_params else None,
    )


def stored_warm_start(result: MonthlyForecast) -> str | None:
    """Return the result's warm start as JSON text for a ``warm_start`` column, or None.

    None when no SARIMA was fitted, or when a parameter is not finite: JSON has
    no NaN, and a NaN parameter is no start for next month's refit.
    """
    warm_start = result.warm_start()
    if warm_start is None or None in _finite_params(warm_start.params).values():
        return None
    return json.dumps(warm_start_to_json(warm_start))


def previous_warm_start(
    warehouse_dsn: str, series_id: str, as_of_month: dt.date, grain: str | None = None
) -> tuple[dt.date, WarmStart] | None:
    """Return the as-of month and warm start of the series' newest published model before this month.

    Without ``grain`` the series is an external monthly series
    (``marts.monthly_forecast_model``); with it, a sales series of the
    transactions at that grain (``marts.forecast_model``).
    """
    if grain is None:
        table, grain_filter = "marts.monthly_forecast_model", ""
    else:
        table, grain_filter = "marts.forecast_model", " and grain = %(grain)s"
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            f"select as_of_month, warm_start from {table}"
            " where series_id = %(series_id)s and as_of_month < %(as_of_month)s"
            f" and warm_start is not null{grain_filter}"
            " order by as_of_month desc limit 1",
            {"series_id": series_id, "as_of_month": as_of_month, "grain": grain},
        )
        row = cur.fetchone()
    if row is None:
        return None
    return row[0], warm_start_from_json(row[1])


def transformation(boxcox_lambda: float | None) -> str:
    """Return the Box-Cox transformation in words: none, log or Box-Cox with its parameter."""
    if boxcox_lambda is None or boxcox_lambda == 1.0:
        return "none"
    if boxcox_lambda == 0.0:
        return "log"
    return f"Box-Cox {boxcox_lambda:g}"


def _score_json(score) -> dict[str, Any]:
    return {
        "mape": _finite(score.mape),
        "smape": _finite(score.smape),
        "mase": _finite(score.mase),
        "n_forecasts": score.n_forecasts,
    }


def model_row(result: MonthlyForecast, filled_months: Sequence[dt.date] = ()) -> dict[str, Any]:
    """Return the model columns of a fitted series for ``monthly_forecast_model``.

    ``filled_months`` are the months the copy step filled with 0; the months the
    forecaster filled itself are added to them.
    """
    filled = sorted({*filled_months, *(month.date() for month in result.filled_periods)})
    warnings = list(result.warnings)
    if filled:
        months = ", ".join(f"{month:%Y-%m}" for month in filled)
        noun = "month" if len(filled) == 1 else "months"
        warnings.insert(0, f"{len(filled)} {noun} missing in the source filled with 0: {months}")
    sarima = result.sarima
    champion = result.champion_score
    naive = result.seasonal_naive_score
    return {
        "status": "forecast",
        "failure_reason": None,
        "model_kind": result.model_kind,
        "model_spec": result.model_spec,
        "selection": result.selection,
        "sarima_order": list(sarima.spec.order) if sarima else None,
        "sarima_seasonal_order": list(sarima.spec.seasonal_order) if sarima else None,
        "sarima_with_constant": sarima.spec.with_constant if sarima else None,
        "sarima_params": json.dumps(_finite_params(sarima.params)) if sarima else None,
        "boxcox_lambda": sarima.spec.boxcox_lambda if sarima else None,
        "transformation": transformation(sarima.spec.boxcox_lambda if sarima else None),
        "training_start": result.training_start.date(),
        "training_end": result.training_end.date(),
        "n_obs": result.n_obs,
        "filled_periods": filled,
        "warnings": warnings,
        "converged": result.converged,
        "fallback_reason": result.fallback_reason,
        "clipped_values": result.clipped_values,
        "champion_mape": _finite(champion.mape) if champion else None,
        "champion_smape": _finite(champion.smape) if champion else None,
        "champion_mase": _finite(champion.mase) if champion else None,
        "seasonal_naive_mape": _finite(naive.mape) if naive else None,
        "seasonal_naive_smape": _finite(naive.smape) if naive else None,
        "seasonal_naive_mase": _finite(naive.mase) if naive else None,
        "backtest_forecasts": champion.n_forecasts if champion else None,
        "backtest_scores": json.dumps(
            {kind: _score_json(score) for kind, score in result.backtest.items()}
        ),
        "warm_start": stored_warm_start(result),
    }


def failed_row(reason: str) -> dict[str, Any]:
    """Return the model columns of a series that was not forecast."""
    return {"status": "failed", "failure_reason": reason}


def forecast_rows(result: MonthlyForecast) -> list[tuple]:
    """Return (period_start, forecast_horizon, forecast, lower_80, upper_80, lower_95, upper_95) rows."""
    training_end = result.training_end.date()
    rows = []
    for row in result.forecast.itertuples(index=False):
        period_start = row.period_start.date()
        rows.append(
            (
                period_start,
                months_between(training_end, period_start),
                float(row.forecast),
                float(row.lower_80),
                float(row.upper_80),
                float(row.lower_95),
                float(row.upper_95),
            )
        )
    return rows


def stage_monthly_forecast(
    warehouse_dsn: str,
    series_id: str,
    as_of_month: dt.date,
    columns: dict[str, Any],
    forecasts: list[tuple],
    run_id: str,
    data_interval: tuple[dt.datetime, dt.datetime],
) -> None:
    """Replace the staged model row and forecast rows of one series and as-of month."""
    from psycopg2.extras import execute_values

    key = (series_id, as_of_month)
    row = {
        "series_id": series_id,
        "as_of_month": as_of_month,
        **columns,
        "run_id": run_id,
        "data_interval_start": data_interval[0],
        "data_interval_end": data_interval[1],
    }
    names = db.sql.SQL(", ").join(db.sql.Identifier(name) for name in row)
    values = db.sql.SQL(", ").join(db.sql.Placeholder(name) for name in row)
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "delete from staging.monthly_sales_forecast where series_id = %s and as_of_month = %s",
            key,
        )
        cur.execute(
            "delete from staging.monthly_forecast_model where series_id = %s and as_of_month = %s",
            key,
        )
        cur.execute(
            db.sql.SQL(
                "insert into staging.monthly_forecast_model ({}, fitted_at) values ({}, now())"
            ).format(names, values),
            row,
        )
        execute_values(
            cur,
            "insert into staging.monthly_sales_forecast (series_id, as_of_month, period_start,"
            " forecast_horizon, forecast, lower_80, upper_80, lower_95, upper_95) values %s",
            [(*key, *forecast) for forecast in forecasts],
        )


def training_digest(series: pd.Series, filled_months: Sequence[dt.date], horizon: int) -> str:
    """Return a SHA-256 of the training months, values, filled flags and the horizon."""
    filled = set(filled_months)
    text = f"horizon={horizon}\n" + "".join(
        f"{month:%Y-%m},{value!r},{month.date() in filled}\n" for month, value in series.items()
    )
    return hashlib.sha256(text.encode()).hexdigest()


# Columns that belong to the run that stages a row, not to the model it copies.
_RUN_COLUMNS = (
    "series_id",
    "as_of_month",
    "run_id",
    "data_interval_start",
    "data_interval_end",
    "fitted_at",
)
_JSON_COLUMNS = ("sarima_params", "backtest_scores", "warm_start")


def reuse_unchanged_model(
    warehouse_dsn: str,
    series_id: str,
    as_of_month: dt.date,
    digest: str,
    run_id: str,
    data_interval: tuple[dt.datetime, dt.datetime],
) -> dt.date | None:
    """Stage the newest earlier model again when its training digest equals ``digest``.

    Returns the as-of month whose model was copied, or None when there is none
    or its training data differs, in which case the caller fits the series.
    """
    from psycopg2.extras import RealDictCursor

    conn = db.connect(warehouse_dsn)
    try:
        with conn.cursor(cursor_factory=RealDictCursor) as cur:
            cur.execute(
                "select * from marts.monthly_forecast_model where series_id = %s"
                " and as_of_month < %s and status = 'forecast'"
                " order by as_of_month desc limit 1",
                (series_id, as_of_month),
            )
            previous = cur.fetchone()
            if previous is None or previous["training_digest"] != digest:
                return None
            cur.execute(
                "select period_start, forecast_horizon, forecast, lower_80, upper_80, lower_95,"
                " upper_95 from marts.monthly_sales_forecast where series_id = %s"
                " and as_of_month = %s order by period_start",
                (series_id, previous["as_of_month"]),
            )
            forecasts = [tuple(row.values()) for row in cur.fetchall()]
    finally:
        conn.close()
    source_month = previous["as_of_month"]
    columns = {name: value for name, value in previous.items() if name not in _RUN_COLUMNS}
    for name in _JSON_COLUMNS:
        if columns[name] is not None:
            columns[name] = json.dumps(columns[name])
    columns["selection"] = f"reused from {source_month:%Y-%m}"
    stage_monthly_forecast(
        warehouse_dsn, series_id, as_of_month, columns, forecasts, run_id, data_interval
    )
    return source_month


def validation_failure(series: pd.Series, series_id: str, min_months: int) -> str | None:
    """Return why the series cannot be forecast, or None when it can."""
    if series.empty:
        return "the series has no month up to the as-of month"
    try:
        monthly, _ = prepare_monthly_series(series, series_id)
    except SeriesValidationError as error:
        return str(error)
    if len(monthly) < min_months:
        return (
            f"the series has {len(monthly)} months, fewer than the {min_months} that "
            f"COHORTINTEL_MONTHLY_MIN_MONTHS requires"
        )
    return None


def fit_monthly_series(
    warehouse_dsn: str,
    series_id: str,
    as_of_month: dt.date,
    settings: Settings,
    run_id: str,
    data_interval: tuple[dt.datetime, dt.datetime],
) -> dict[str, Any]:
    """Fit one series on its months up to ``as_of_month`` and stage its model and forecast.

    A series that fails validation (a NaN value, too few months) is staged with
    status failed and its reason, and the function returns normally, so the
    other series of the month are still forecast and published.
    """
    series, filled_months = training_series(warehouse_dsn, series_id, as_of_month)
    month_text = f"{as_of_month:%Y-%m}"
    reason = validation_failure(series, series_id, settings.monthly_min_months)
    if reason is not None:
        log.warning(
            "Monthly series %s as of %s is not forecast and is recorded as failed: %s",
            series_id,
            month_text,
            reason,
        )
        stage_monthly_forecast(
            warehouse_dsn,
            series_id,
            as_of_month,
            failed_row(reason),
            [],
            run_id,
            data_interval,
        )
        return {"series_id": series_id, "status": "failed", "reason": reason}

    digest = training_digest(series, filled_months, settings.monthly_forecast_horizon)
    reused_from = reuse_unchanged_model(
        warehouse_dsn, series_id, as_of_month, digest, run_id, data_interval
    )
    if reused_from is not None:
        log.info(
            "Monthly series %s as of %s: training data unchanged since %s, so that month's "
            "model and forecast are reused without a refit",
            series_id,
            month_text,
            f"{reused_from:%Y-%m}",
        )
        return {"series_id": series_id, "status": "forecast", "reused_from": str(reused_from)}

    previous = previous_warm_start(warehouse_dsn, series_id, as_of_month)
    if previous is not None:
        log.info(
            "Monthly series %s as of %s starts from the model of %s",
            series_id,
            month_text,
            f"{previous[0]:%Y-%m}",
        )
    result = fit_monthly_forecast(
        series,
        settings.monthly_forecast_horizon,
        series_id=series_id,
        season_length=SEASON_LENGTH,
        warm_start=previous[1] if previous else None,
    )
    forecasts = forecast_rows(result)
    stage_monthly_forecast(
        warehouse_dsn,
        series_id,
        as_of_month,
        {**model_row(result, filled_months), "training_digest": digest},
        forecasts,
        run_id,
        data_interval,
    )
    log.info(
        "Monthly series %s as of %s: %s (%s selection) on %s months (%s to %s); staged %s "
        "forecast months",
        series_id,
        month_text,
        result.model_spec,
        result.selection,
        result.n_obs,
        f"{result.training_start:%Y-%m}",
        f"{result.training_end:%Y-%m}",
        len(forecasts),
    )
    return {"series_id": series_id, "status": "forecast", "model": result.model_spec}


# --- Publish and realised error ------------------------------------------------------


def publish_monthly_forecasts(warehouse_dsn: str, as_of_month: dt.date) -> dict[str, int]:
    """Replace the month's models and forecasts in the marts with the staged ones, in one transaction."""
    with db.transaction(warehouse_dsn) as cur:
        db.execute_file(cur, "monthly/publish_monthly_forecasts.sql", {"as_of_month": as_of_month})
        cur.execute(
            "select count(*) filter (where status = 'forecast'),"
            " count(*) filter (where status = 'failed')"
            " from marts.monthly_forecast_model where as_of_month = %s",
            (as_of_month,),
        )
        forecast_series, failed_series = cur.fetchone()
        cur.execute(
            "select count(*) from marts.monthly_sales_forecast where as_of_month = %s",
            (as_of_month,),
        )
        (rows,) = cur.fetchone()
    month_text = f"{as_of_month:%Y-%m}"
    if forecast_series + failed_series == 0:
        log.warning("No monthly series was staged for %s, so none is published.", month_text)
    if failed_series:
        log.warning(
            "%s monthly series could not be forecast for %s; their reasons are in "
            "marts.monthly_forecast_model.failure_reason",
            failed_series,
            month_text,
        )
    log.info(
        "Published %s monthly series (%s forecast rows) for %s into "
        "marts.monthly_forecast_model and marts.monthly_sales_forecast",
        forecast_series,
        rows,
        month_text,
    )
    return {"forecast_series": forecast_series, "failed_series": failed_series, "rows": rows}


def realised_errors_outside_band(
    warehouse_dsn: str, as_of_month: dt.date, factor: float
) -> list[dict[str, Any]]:
    """Return the forecasts of ``as_of_month`` whose realised error is far above their backtest.

    A forecast is outside the band when its absolute percentage error exceeds
    ``factor`` times the champion's backtest MAPE. Only forecasts of the month
    whose actual this run copied are checked, so each forecast is reported once.
    """
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "select series_id, as_of_month, period_start, forecast_horizon, model_spec, actual,"
            " forecast, absolute_percentage_error, backtest_mape"
            f" from {ERROR_VIEW}"
            " where period_start = %s and backtest_mape > 0"
            " and absolute_percentage_error > %s * backtest_mape"
            " order by series_id, as_of_month",
            (as_of_month, factor),
        )
        columns = [column.name for column in cur.description]
        return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]


def _period_text(row: dict[str, Any]) -> str:
    """Return the row's period in words: 2011-06 for a month, the week of 2011-06-06, a day."""
    grain = row.get("grain", "month")
    if grain == "week":
        return f"the week of {row['period_start']:%Y-%m-%d}"
    if grain == "day":
        return f"{row['period_start']:%Y-%m-%d}"
    return f"{row['period_start']:%Y-%m}"


def error_warnings(
    rows: list[dict[str, Any]],
    factor: float,
    run_id: str,
    *,
    subject: str = "Monthly sales series",
    alert_name: str = "monthly_forecast_error",
    error_view: str = ERROR_VIEW,
) -> list[tuple[str, str, dict[str, Any]]]:
    """Group the rows by series into (alert key, summary, details) warnings, one per series.

    The defaults word the warnings for the external monthly series. The sales
    series of the transactions pass their own ``subject``, ``alert_name`` and
    ``error_view``.
    """
    by_series: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_series.setdefault(row["series_id"], []).append(row)
    warnings = []
    for series_id, series_rows in by_series.items():
        worst = max(series_rows, key=lambda row: row["absolute_percentage_error"])
        period = _period_text(worst)
        summary = (
            f"{subject} {series_id}: the forecast of {period} made as of "
            f"{worst['as_of_month']:%Y-%m} missed by {worst['absolute_percentage_error']:.1f}%, "
            f"more than {factor:g} times its backtest MAPE of {worst['backtest_mape']:.1f}%"
        )
        details = {
            "run_id": run_id,
            "series_id": series_id,
            "month": f"{worst['period_start']:%Y-%m}",
            "period": period,
            "actual": worst["actual"],
            "forecasts_outside_band": [
                f"as of {row['as_of_month']:%Y-%m} ({row['model_spec']}): forecast of "
                f"{_period_text(row)} {row['forecast']:.6g}, error "
                f"{row['absolute_percentage_error']:.1f}%"
                for row in series_rows
            ],
            "realised_errors": f"{error_view} where series_id is the series above",
        }
        warnings.append((f"cohort_monthly.{alert_name}:{series_id}", summary, details))
    return warnings
