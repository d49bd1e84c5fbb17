"""The short summary the demo prints: row counts, the retention matrix, the latest forecasts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cohortintel import db

MATRIX_OFFSETS = 13


def _fetch(dsn: str, query: str, params: tuple = ()) -> list[tuple]:
    with db.transaction(dsn) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def row_counts(source_dsn: str, warehouse_dsn: str, source_table: str) -> list[str]:
    """Return lines that reconcile source rows with accepted and quarantined rows."""
    with db.transaction(source_dsn) as cur:
        cur.execute(db.sql.SQL("select count(*) from {}").format(db.identifier(source_table)))
        (source_rows,) = cur.fetchone()
    ((accepted, without_customer),) = _fetch(
        warehouse_dsn,
        "select count(*), count(*) filter (where customer_id is null) from core.transactions",
    )
    kinds = dict(
        _fetch(warehouse_dsn, "select line_kind, count(*) from core.transactions group by 1")
    )
    ((quarantined,),) = _fetch(
        warehouse_dsn, "select count(distinct row_data) from quarantine.transactions"
    )
    by_rule = _fetch(
        warehouse_dsn,
        "select rule, count(*) from quarantine.transactions group by rule order by 2 desc",
    )
    lines = [
        f"Rows read from the source:   {source_rows:>9,}",
        f"  accepted:                  {accepted:>9,}"
        f"  (purchases {kinds.get('purchase', 0):,}, returns {kinds.get('return', 0):,},"
        f" adjustments {kinds.get('adjustment', 0):,}, other {kinds.get('other', 0):,})",
        f"  quarantined:               {quarantined:>9,}",
    ]
    lines += [f"    {rule:<24} {count:>9,}" for rule, count in by_rule]
    lines.append(f"  without a customer id:     {without_customer:>9,}  (in sales, not in cohorts)")
    unaccounted = source_rows - accepted - quarantined
    if unaccounted:
        lines.append(
            f"  not accounted for yet:     {unaccounted:>9,}  (neither accepted nor quarantined:"
            " months not loaded yet, or rows outside every run's window)"
        )
    return lines


def retention_matrix(warehouse_dsn: str) -> list[str]:
    """Return the retention triangle as text, one line per cohort; blank cells are not lived yet."""
    rows = _fetch(
        warehouse_dsn,
        "select cohort_month, cohort_size, months_since_first_purchase, retention_rate, is_complete"
        " from marts.cohort_retention where segment_type = 'all'"
        " order by cohort_month, months_since_first_purchase",
    )
    if not rows:
        return ["(no cohorts yet)"]
    header = "cohort    size " + " ".join(f"{f'm{k}':>5}" for k in range(MATRIX_OFFSETS))
    table: dict = {}
    for cohort_month, size, offset, rate, is_complete in rows:
        cells = table.setdefault((cohort_month, size), [""] * MATRIX_OFFSETS)
        if offset < MATRIX_OFFSETS:
            cells[offset] = f"{float(rate):.0%}" + ("" if is_complete else "*")
    lines = [header]
    for (cohort_month, size), cells in table.items():
        # A trailing "*" may widen a cell to 5 characters, so cells are 5 wide and
        # the size column leaves a space before the first cell.
        lines.append(f"{cohort_month:%Y-%m} {size:>6} " + " ".join(f"{cell:>5}" for cell in cells))
    lines.append("* month not closed yet; blank: the cohort has not lived that month")
    return lines


def average_curve(warehouse_dsn: str) -> list[str]:
    """Return the size-weighted average retention of all customers by month since first purchase."""
    rows = _fetch(
        warehouse_dsn,
        "select months_since_first_purchase, cohorts, retention_rate, unbounded_retention_rate,"
        " revenue_per_customer from marts.retention_curve where segment_type = 'all'"
        " and months_since_first_purchase < %s order by 1",
        (MATRIX_OFFSETS,),
    )
    if not rows:
        return ["(no closed month yet)"]
    header = "month since first purchase " + " ".join(f"{k:>5}" for k, *_ in rows)
    return [
        header,
        "cohorts averaged           " + " ".join(f"{cohorts:>5}" for _, cohorts, *_ in rows),
        "active in that month       " + " ".join(f"{float(rate):>5.0%}" for _, _, rate, *_ in rows),
        "active then or later       " + " ".join(f"{float(row[3]):>5.0%}" for row in rows),
        "net revenue per customer   " + " ".join(f"{float(row[4]):>5.0f}" for row in rows),
    ]


def at_risk_section(warehouse_dsn: str, through_month: dt.date | None = None) -> list[str]:
    """Return the at-risk cohorts of the newest retention projection, one line each.

    With ``through_month``, projections as of a later month are left out.
    """
    from cohortintel.at_risk import at_risk_cohorts

    ((as_of_month,),) = _fetch(
        warehouse_dsn,
        "select max(as_of_month) from marts.retention_projection"
        " where %s::date is null or as_of_month <= %s",
        (through_month, through_month),
    )
    if as_of_month is None:
        return [
            "(no retention projection yet: a segment needs COHORTINTEL_RETENTION_MIN_CUSTOMERS "
            "customers and a cohort that has lived COHORTINTEL_RETENTION_SETTLE_MONTHS closed "
            "months after a month since its first purchase; the project_retention log says "
            "which condition is missing)"
        ]
    rows = at_risk_cohorts(warehouse_dsn, as_of_month)
    if not rows:
        return ["(no cohort flagged in the newest retention projection)"]
    lines = [f"As of {rows[0]['as_of_month']:%Y-%m}: {len(rows)} flag(s), largest shortfall first"]
    for row in rows:
        lines.append(
            f"  {row['segment_type']}={row['segment']} cohort {row['cohort_month']:%Y-%m}"
            f" month {row['months_since_first_purchase']}: {row['observed_rate']:.1%} active,"
            f" band {row['band_lower']:.1%} to {row['band_upper']:.1%}"
            f" ({row['rule']}, {100 * row['shortfall']:.1f} points under)"
        )
    return lines


PERIOD_NAMES = {"day": "trading days", "week": "weeks", "month": "months"}
PERIOD_FORMATS = {"day": "%a %Y-%m-%d", "week": "week of %Y-%m-%d", "month": "%Y-%m"}


def latest_forecasts(
    warehouse_dsn: str, days_shown: int = 6, through_month: dt.date | None = None
) -> list[str]:
    """Return the newest model per series and grain with its first forecast periods and total.

    With ``through_month``, models as of a later month are left out.
    """
    models = _fetch(
        warehouse_dsn,
        "select distinct on (series_id, grain) series_id, grain, as_of_month, status,"
        " failure_reason, model_spec, reason, n_obs, training_start, training_end"
        " from marts.forecast_model where %s::date is null or as_of_month <= %s"
        " order by series_id, grain, as_of_month desc",
        (through_month, through_month),
    )
    if not models:
        return ["(no forecasts yet: forecasts train only on closed months, and none is closed yet)"]
    lines = []
    for series_id, grain, as_of, status, failure, spec, reason, n_obs, start, end in models:
        periods = PERIOD_NAMES[grain]
        if status == "failed":
            lines.append(f"Series {series_id} ({grain}), as of {as_of:%Y-%m}: failed: {failure}")
            continue
        lines.append(
            f"Series {series_id} ({grain}), as of {as_of:%Y-%m}: {spec} on {n_obs} {periods} "
            f"({start} to {end})"
        )
        lines.append(f"  why: {reason}")
        forecast = _fetch(
            warehouse_dsn,
            "select period_start, forecast, lower_80, upper_80, is_closed from marts.sales_forecast"
            " where series_id = %s and grain = %s and as_of_month = %s order by period_start",
            (series_id, grain, as_of),
        )
        for period, value, low, high, is_closed in forecast[:days_shown]:
            lines.append(
                f"  {period:{PERIOD_FORMATS[grain]}}  {value:>12,.0f}   "
                + ("shop closed" if is_closed else f"80% interval {low:>10,.0f} to {high:>10,.0f}")
            )
        total = sum(row[1] for row in forecast)
        closed = sum(row[4] for row in forecast)
        closures = f" ({closed} of them closures, forecast as 0)" if closed else ""
        lines.append(f"  next {len(forecast)} {periods} in total: {total:,.0f}{closures}")
    return lines


def monthly_forecasts(warehouse_dsn: str, through_month: dt.date | None = None) -> list[str]:
    """Return the newest model of every external monthly series, one line each.

    With ``through_month``, models as of a later month are left out.
    """
    models = _fetch(
        warehouse_dsn,
        "select distinct on (series_id) series_id, as_of_month, status, model_spec,"
        " failure_reason, champion_mape, seasonal_naive_mape from marts.monthly_forecast_model"
        " where %s::date is null or as_of_month <= %s order by series_id, as_of_month desc",
        (through_month, through_month),
    )
    if not models:
        return ["(no monthly sales series in the source)"]
    lines = []
    for series_id, as_of, status, spec, failure, mape, naive_mape in models:
        if status == "failed":
            lines.append(f"{series_id}, as of {as_of:%Y-%m}: failed: {failure}")
            continue
        scores = (
            f"backtest MAPE {mape:.2f}% (seasonal naive {naive_mape:.2f}%)"
            if mape is not None and naive_mape is not None
            else "no backtest (series too short)"
        )
        lines.append(f"{series_id}, as of {as_of:%Y-%m}: {spec}; {scores}")
    return lines


def _later_months_note(warehouse_dsn: str, through_month: dt.date | None) -> list[str]:
    """Return a note when earlier runs loaded months after the last run's month."""
    if through_month is None:
        return []
    ((last_loaded,),) = _fetch(warehouse_dsn, "select max(occurred_month) from core.transactions")
    if last_loaded is None or last_loaded <= through_month:
        return []
    return [
        f"  The runs ended with {through_month:%Y-%m}, but earlier runs loaded months up to "
        f"{last_loaded:%Y-%m}. The row counts and the cohort tables include those months; "
        f"the at-risk cohorts and the forecasts below are those of {through_month:%Y-%m} "
        "and before."
    ]


def summary(
    source_dsn: str,
    warehouse_dsn: str,
    source_table: str,
    chart_paths: list[Path],
    data_docs: Path | None = None,
    through_month: dt.date | None = None,
) -> str:
    """Return the whole demo summary as text.

    With ``through_month``, the month of the last run, the at-risk and forecast
    sections leave out the results of later months, which earlier runs may have left.
    """
    sections = [
        "== Rows ==",
        *row_counts(source_dsn, warehouse_dsn, source_table),
        *_later_months_note(warehouse_dsn, through_month),
        "",
        "== Customer retention by cohort (share of the cohort active in month k) ==",
        *retention_matrix(warehouse_dsn),
        "",
        "== Average retention curve, all customers (closed months only, weighted by cohort size) ==",
        *average_curve(warehouse_dsn),
        "",
        "== Cohorts at risk (newest closed month below the projected band or older cohorts) ==",
        *at_risk_section(warehouse_dsn, through_month),
        "",
        "== Latest sales forecasts (net revenue per period, GBP) ==",
        *latest_forecasts(warehouse_dsn, through_month=through_month),
        "",
        "== Monthly sales series (champion model of the newest run) ==",
        *monthly_forecasts(warehouse_dsn, through_month),
        "",
        "== Where the results are ==",
        f"Warehouse: {db.redact_dsn(warehouse_dsn)}",
        "Tables: core.transactions, quarantine.transactions, marts.cohort_retention,"
        " marts.cohort_retention_matrix, marts.retention_curve, marts.customer_cohort,"
        " marts.retention_projection, marts.retention_at_risk, marts.customer_risk,"
        " marts.sales_daily, marts.sales_period, marts.sales_forecast_error,"
        " marts.sales_forecast, marts.forecast_model, marts.monthly_forecast_model,"
        " marts.monthly_sales_forecast, marts.monthly_forecast_error, ops.batch_report,"
        " ops.validation_result",
        *(f"Chart: {path}" for path in chart_paths),
        *([f"GX Data Docs: {data_docs}"] if data_docs and data_docs.is_file() else []),
    ]
    return "\n".join(sections)
