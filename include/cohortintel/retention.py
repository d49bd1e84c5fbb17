"""Write a run's retention projection and at-risk cohorts into the marts.

Reads the cohort counts of ``marts.cohort_cell`` up to the newest closed month
(never raw transactions), projects each segment with ``projection``, flags at-risk
cohorts with ``at_risk``, and replaces the as-of month's rows of
``marts.retention_projection`` and ``marts.retention_at_risk`` in one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging

import pandas as pd
from psycopg2.extras import Json, execute_values

from cohortintel import db
from cohortintel.at_risk import flag_at_risk
from cohortintel.months import add_months
from cohortintel.projection import (
    MODEL_NAME,
    InsufficientHistoryError,
    ProjectionSettings,
    model_parameters,
    project_segment_retention,
)

log = logging.getLogger(__name__)

CELL_QUERY_COLUMNS = (
    "segment_type",
    "segment",
    "cohort_month",
    "months_since_first_purchase",
    "cohort_size",
    "active_customers",
    "unbounded_active_customers",
)

PROJECTION_BOUNDS = (
    "retention_rate_lower_80",
    "retention_rate_upper_80",
    "retention_rate_lower_95",
    "retention_rate_upper_95",
)
UNBOUNDED_BOUNDS = (
    "unbounded_lower_80",
    "unbounded_upper_80",
    "unbounded_lower_95",
    "unbounded_upper_95",
)


def _optional(value) -> float | None:
    return None if pd.isna(value) else float(value)


def _projection_values(
    as_of_month: dt.date,
    segment_type: str,
    segment: str,
    result,
    settings: ProjectionSettings,
    run_id: str,
) -> list[tuple]:
    values = []
    for _, row in result.cells.iterrows():
        values.append(
            (
                as_of_month,
                segment_type,
                segment,
                row["cohort_month"],
                int(row["months_since_first_purchase"]),
                row["activity_month"],
                bool(row["is_projected"]),
                int(row["cohort_size"]),
                float(row["retention_rate"]),
                *(_optional(row.get(column)) for column in PROJECTION_BOUNDS),
                float(row["unbounded_retention_rate"]),
                *(_optional(row.get(column)) for column in UNBOUNDED_BOUNDS),
                MODEL_NAME,
                Json(model_parameters(result, row, settings)),
                run_id,
            )
        )
    return values


def _at_risk_values(
    as_of_month: dt.date, segment_type: str, segment: str, flagged: pd.DataFrame, run_id: str
) -> list[tuple]:
    return [
        (
            as_of_month,
            segment_type,
            segment,
            row.cohort_month,
            row.rule,
            int(row.months_since_first_purchase),
            row.activity_month,
            int(row.cohort_size),
            float(row.observed_rate),
            float(row.expected_rate),
            float(row.band_lower),
            float(row.band_upper),
            float(row.shortfall),
            None if pd.isna(row.reference_as_of_month) else row.reference_as_of_month,
            None if pd.isna(row.reference_cohorts) else int(row.reference_cohorts),
            run_id,
        )
        for row in flagged.itertuples(index=False)
    ]


def _read_inputs(cur, run_month: dt.date) -> tuple[dt.date | None, pd.DataFrame, pd.DataFrame]:
    db.execute_file(cur, "retention/as_of_month.sql", {"run_month": run_month})
    (as_of_month,) = cur.fetchone()
    if as_of_month is None:
        return None, pd.DataFrame(), pd.DataFrame()
    db.execute_file(cur, "retention/closed_cells.sql", {"as_of_month": as_of_month})
    cells = pd.DataFrame(cur.fetchall(), columns=list(CELL_QUERY_COLUMNS))
    db.execute_file(
        cur,
        "retention/previous_band.sql",
        {"as_of_month": as_of_month, "previous_as_of_month": add_months(as_of_month, -1)},
    )
    previous = pd.DataFrame(cur.fetchall(), columns=[column.name for column in cur.description])
    return as_of_month, cells, previous


def project_retention(
    warehouse_dsn: str,
    run_month: dt.date,
    run_id: str,
    settings: ProjectionSettings | None = None,
) -> dict:
    """Project retention as of the newest closed month up to ``run_month`` and store it.

    Segments with fewer than ``settings.min_customers`` customers, or without a cohort
    old enough to fit, are skipped and counted. A rerun for the same as-of month
    replaces its rows. Returns the counts for the task log.
    """
    settings = settings or ProjectionSettings.from_env()
    with db.transaction(warehouse_dsn) as cur:
        as_of_month, cells, previous = _read_inputs(cur, run_month)
    counts = {
        "table": "marts.retention_projection",
        "as_of_month": as_of_month.isoformat() if as_of_month else None,
        "cells_read": len(cells),
        "segments_projected": 0,
        "segments_too_small": 0,
        "segments_too_little_history": 0,
        "rows_observed": 0,
        "rows_projected": 0,
        "at_risk_cohorts": 0,
    }
    if as_of_month is None:
        log.warning(
            "No month up to %s is closed, so there is nothing to project; the retention "
            "projection is skipped for this run.",
            f"{run_month:%Y-%m}",
        )
        return counts

    projection_rows: list[tuple] = []
    at_risk_rows: list[tuple] = []
    for (segment_type, segment), segment_cells in cells.groupby(
        ["segment_type", "segment"], sort=True
    ):
        customers = int(
            segment_cells.loc[
                segment_cells["months_since_first_purchase"] == 0, "cohort_size"
            ].sum()
        )
        if customers < settings.min_customers:
            counts["segments_too_small"] += 1
            log.debug("Skipping segment %s=%s: %s customers", segment_type, segment, customers)
            continue
        try:
            result = project_segment_retention(
                segment_cells,
                as_of_month,
                horizon_months=settings.horizon_months,
                settle_months=settings.settle_months,
                cohort_prior=settings.cohort_prior,
                draws=settings.draws,
            )
        except InsufficientHistoryError as error:
            counts["segments_too_little_history"] += 1
            log.warning("Segment %s=%s is not projected: %s", segment_type, segment, error)
            continue
        counts["segments_projected"] += 1
        projected = int(result.cells["is_projected"].sum())
        counts["rows_projected"] += projected
        counts["rows_observed"] += len(result.cells) - projected
        projection_rows += _projection_values(
            as_of_month, segment_type, segment, result, settings, run_id
        )
        segment_previous = (
            previous[(previous["segment_type"] == segment_type) & (previous["segment"] == segment)]
            if not previous.empty
            else previous
        )
        flagged = flag_at_risk(
            result.cells[~result.cells["is_projected"]],
            segment_previous,
            as_of_month,
            settings.min_reference_cohorts,
        )
        for row in flagged.itertuples(index=False):
            log.warning(
                "Cohort %s of %s=%s is at risk (%s): %.1f%% active in %s, %.1f points under "
                "the band's lower end %.1f%%.",
                f"{row.cohort_month:%Y-%m}",
                segment_type,
                segment,
                row.rule,
                100 * row.observed_rate,
                f"{as_of_month:%Y-%m}",
                100 * row.shortfall,
                100 * row.band_lower,
            )
        at_risk_rows += _at_risk_values(as_of_month, segment_type, segment, flagged, run_id)

    _replace_rows(warehouse_dsn, as_of_month, projection_rows, at_risk_rows)
    counts["at_risk_cohorts"] = len(at_risk_rows)
    skipped = counts["segments_too_small"] + counts["segments_too_little_history"]
    if counts["segments_projected"] == 0:
        log.warning(
            "No segment could be projected as of %s (%s skipped); marts.retention_projection "
            "has no rows for that month.",
            f"{as_of_month:%Y-%m}",
            skipped,
        )
    log.info(
        "Projected retention as of %s: %s cells read, %s segments projected, %s with fewer than "
        "%s customers and %s with too little history skipped; %s observed and %s projected rows "
        "and %s at-risk flags written to marts.retention_projection and marts.retention_at_risk",
        f"{as_of_month:%Y-%m}",
        counts["cells_read"],
        counts["segments_projected"],
        counts["segments_too_small"],
        settings.min_customers,
        counts["segments_too_little_history"],
        counts["rows_observed"],
        counts["rows_projected"],
        counts["at_risk_cohorts"],
    )
    return counts


def _replace_rows(
    warehouse_dsn: str,
    as_of_month: dt.date,
    projection_rows: list[tuple],
    at_risk_rows: list[tuple],
) -> None:
    with db.transaction(warehouse_dsn) as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('marts.retention_projection'))")
        cur.execute("delete from marts.retention_at_risk where as_of_month = %s", (as_of_month,))
        cur.execute("delete from marts.retention_projection where as_of_month = %s", (as_of_month,))
        if projection_rows:
            execute_values(
                cur, db.read_sql("retention/insert_projection.sql"), projection_rows, page_size=1000
            )
        if at_risk_rows:
            execute_values(cur, db.read_sql("retention/insert_at_risk.sql"), at_risk_rows)
