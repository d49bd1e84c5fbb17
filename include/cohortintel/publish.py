"""Publish a run's results: staged forecasts into the marts, and the charts as PNG files."""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

import pandas as pd

from cohortintel import db
from cohortintel.config import Settings

log = logging.getLogger(__name__)

HISTORY_POINTS = 120
GRAIN_ADJECTIVES = {"day": "Daily", "week": "Weekly", "month": "Monthly"}


def publish_forecasts(warehouse_dsn: str, as_of_month: dt.date, grain: str = "day") -> int:
    """Replace the month's models and forecasts of ``grain`` with the staged ones, in one transaction.

    Returns the forecast rows published. A month with no staged series is
    published empty, so a rerun without series removes the month's older rows.
    """
    params = {"as_of_month": as_of_month, "grain": grain}
    with db.transaction(warehouse_dsn) as cur:
        db.execute_file(cur, "publish/forecasts.sql", params)
        cur.execute(
            "select count(*) filter (where status = 'forecast'),"
            " count(*) filter (where status = 'failed')"
            " from marts.forecast_model where as_of_month = %(as_of_month)s and grain = %(grain)s",
            params,
        )
        forecast_series, failed_series = cur.fetchone()
        cur.execute(
            "select count(*) from marts.sales_forecast"
            " where as_of_month = %(as_of_month)s and grain = %(grain)s",
            params,
        )
        (rows,) = cur.fetchone()
    month_text = f"{as_of_month:%Y-%m}"
    if rows == 0:
        log.warning(
            "No %s-grain forecast was staged for %s, so none is published.", grain, month_text
        )
    if failed_series:
        log.warning(
            "%s sales series could not be forecast at %s grain for %s; their reasons are in "
            "marts.forecast_model.failure_reason",
            failed_series,
            grain,
            month_text,
        )
    log.info(
        "Published %s sales series (%s forecast rows) at %s grain for %s into "
        "marts.forecast_model and marts.sales_forecast",
        forecast_series,
        rows,
        grain,
        month_text,
    )
    return rows


def chart_file_name(series_id: str) -> str:
    """Return the forecast chart's file name, such as ``forecast_country_United_Kingdom.png``."""
    return "forecast_" + re.sub(r"[^A-Za-z0-9]+", "_", series_id).strip("_") + ".png"


def chart_dir(settings: Settings, as_of_month: dt.date) -> Path:
    """Return the folder that contains the charts of one as-of month."""
    return settings.output_dir / "charts" / f"{as_of_month:%Y-%m}"


def _query_frame(warehouse_dsn: str, query: str, params: tuple | dict) -> pd.DataFrame:
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(query, params)
        columns = [column.name for column in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=columns)


def render_charts(warehouse_dsn: str, as_of_month: dt.date, settings: Settings) -> list[str]:
    """Draw the retention heatmap and each series' forecast chart; return the file paths."""
    from cohortintel.charts import render_forecast_chart, render_retention_heatmap

    folder = chart_dir(settings, as_of_month)
    written: list[str] = []
    cells = _query_frame(
        warehouse_dsn,
        "select cohort_month, months_since_first_purchase, cohort_size,"
        " retention_rate::double precision as retention_rate, is_complete"
        " from marts.cohort_retention where segment_type = 'all' and activity_month <= %s"
        " order by 1, 2",
        (as_of_month,),
    )
    if cells.empty:
        log.warning(
            "No cohort cells up to %s; the retention heatmap is skipped.", f"{as_of_month:%Y-%m}"
        )
    else:
        path = render_retention_heatmap(
            cells,
            folder / "retention_heatmap.png",
            title=f"Customer retention by cohort, as of {as_of_month:%Y-%m}",
        )
        written.append(str(path))
    grain = settings.sales_grain
    models = _query_frame(
        warehouse_dsn,
        "select series_id, model_spec, training_end from marts.forecast_model"
        " where as_of_month = %s and grain = %s and status = 'forecast' order by series_id",
        (as_of_month, grain),
    )
    if grain == "day":
        history_query = (
            "select period_start, net_revenue::double precision as value from marts.sales_daily"
            " where series_id = %(series_id)s and is_trading_day and period_start <= %(end)s"
            " order by period_start desc limit %(limit)s"
        )
    else:
        history_query = (
            "select period_start, net_revenue::double precision as value from marts.sales_period"
            " where series_id = %(series_id)s and grain = %(grain)s and period_start <= %(end)s"
            " order by period_start desc limit %(limit)s"
        )
    for model in models.itertuples(index=False):
        history = _query_frame(
            warehouse_dsn,
            history_query,
            {
                "series_id": model.series_id,
                "grain": grain,
                "end": model.training_end,
                "limit": HISTORY_POINTS,
            },
        ).sort_values("period_start")
        forecast = _query_frame(
            warehouse_dsn,
            "select period_start, forecast, lower_80, upper_80, lower_95, upper_95"
            " from marts.sales_forecast where series_id = %s and grain = %s and as_of_month = %s"
            " order by period_start",
            (model.series_id, grain, as_of_month),
        )
        if history.empty:
            log.warning(
                "Series %s has no %s-grain history up to %s; its chart is skipped.",
                model.series_id,
                grain,
                model.training_end,
            )
            continue
        history["period_start"] = pd.to_datetime(history["period_start"])
        forecast["period_start"] = pd.to_datetime(forecast["period_start"])
        path = render_forecast_chart(
            history,
            forecast,
            folder / chart_file_name(model.series_id),
            title=(
                f"{GRAIN_ADJECTIVES[grain]} net revenue ({model.series_id}), "
                f"forecast as of {as_of_month:%Y-%m}"
            ),
            model_label=model.model_spec,
        )
        written.append(str(path))
    for path in written:
        log.info("Wrote chart %s", path)
    return written
