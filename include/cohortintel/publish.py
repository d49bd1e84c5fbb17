"""Publish a run's results: staged forecasts into the marts, and the charts as PNG files."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pandas as pd

from cohortintel import db
from cohortintel.config import Settings

log = logging.getLogger(__name__)

HISTORY_POINTS = 120


def publish_forecasts(warehouse_dsn: str, as_of_month: dt.date) -> int:
    """Move the staged forecasts of ``as_of_month`` into the marts in one transaction."""
    with db.transaction(warehouse_dsn) as cur:
        db.execute_file(cur, "publish/forecasts.sql", {"as_of_month": as_of_month})
        cur.execute(
            "select count(*) from marts.sales_forecast where as_of_month = %s", (as_of_month,)
        )
        (rows,) = cur.fetchone()
    if rows == 0:
        log.warning("No forecast was staged for %s, so none is published.", f"{as_of_month:%Y-%m}")
    log.info(
        "Published %s forecast rows for %s into marts.sales_forecast", rows, f"{as_of_month:%Y-%m}"
    )
    return rows


def chart_dir(settings: Settings, as_of_month: dt.date) -> Path:
    """Return the folder that contains the charts of one as-of month."""
    return settings.output_dir / "charts" / f"{as_of_month:%Y-%m}"


def _query_frame(warehouse_dsn: str, query: str, params: tuple) -> pd.DataFrame:
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
    models = _query_frame(
        warehouse_dsn,
        "select series_id, model_spec, training_end from marts.forecast_model where as_of_month = %s",
        (as_of_month,),
    )
    for model in models.itertuples(index=False):
        history = _query_frame(
            warehouse_dsn,
            "select period_start, net_revenue::double precision as value from marts.sales_daily"
            " where series_id = %s and is_trading_day and period_start <= %s"
            " order by period_start desc limit %s",
            (model.series_id, model.training_end, HISTORY_POINTS),
        ).sort_values("period_start")
        forecast = _query_frame(
            warehouse_dsn,
            "select period_start, forecast, lower_80, upper_80, lower_95, upper_95"
            " from marts.sales_forecast where series_id = %s and as_of_month = %s order by period_start",
            (model.series_id, as_of_month),
        )
        history["period_start"] = pd.to_datetime(history["period_start"])
        forecast["period_start"] = pd.to_datetime(forecast["period_start"])
        path = render_forecast_chart(
            history,
            forecast,
            folder / f"forecast_{model.series_id}.png",
            title=f"Daily net revenue ({model.series_id}), forecast as of {as_of_month:%Y-%m}",
            model_label=model.model_spec,
        )
        written.append(str(path))
    for path in written:
        log.info("Wrote chart %s", path)
    return written
