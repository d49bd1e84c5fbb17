"""Score the retention projection on closed months it did not see, against a plain baseline.

The baseline projects a cohort's active rate at month k since first purchase as
the size-weighted average active rate of the cohorts that have lived month k.
Months no cohort has lived repeat the last month that one has. Both are scored
by the absolute error of the active rate per hidden cell, and the projection also
by the share of hidden cells inside its 80 % and 95 % intervals.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cohortintel.months import add_months
from cohortintel.projection import project_segment_retention

KEY = ["cohort_month", "months_since_first_purchase"]


@dataclass(frozen=True)
class BacktestScore:
    """Errors of the projection and the baseline on the hidden cells of one segment."""

    cells: pd.DataFrame
    mean_absolute_error: float
    baseline_mean_absolute_error: float
    weighted_absolute_error: float
    baseline_weighted_absolute_error: float
    coverage_80: float
    coverage_95: float


def baseline_active_rates(observed: pd.DataFrame, months: pd.Series) -> np.ndarray:
    """Return the size-weighted average active rate of the observed cells at each of ``months``."""
    totals = observed.groupby("months_since_first_purchase")[
        ["active_customers", "cohort_size"]
    ].sum()
    rates = totals["active_customers"] / totals["cohort_size"]
    last = int(max(months.max(), rates.index.max()))
    rates = rates.reindex(pd.RangeIndex(0, last + 1)).ffill()
    return rates.reindex(months).to_numpy(dtype=float)


def hidden_cells(
    observed: pd.DataFrame, actual: pd.DataFrame, as_of_month: dt.date, hidden_months: int
) -> pd.DataFrame:
    """Return the actual cells of the observed cohorts in the ``hidden_months`` after ``as_of_month``."""
    actual = actual.copy()
    actual["cohort_month"] = pd.to_datetime(actual["cohort_month"]).dt.date
    activity = [
        add_months(cohort, int(month))
        for cohort, month in zip(
            actual["cohort_month"], actual["months_since_first_purchase"], strict=True
        )
    ]
    last_hidden = add_months(as_of_month, hidden_months)
    in_window = [as_of_month < month <= last_hidden for month in activity]
    cohorts = set(pd.to_datetime(observed["cohort_month"]).dt.date)
    return actual[np.array(in_window) & actual["cohort_month"].isin(cohorts).to_numpy()]


def score_backtest(
    observed: pd.DataFrame,
    actual: pd.DataFrame,
    as_of_month: dt.date,
    hidden_months: int = 3,
    **projection_options,
) -> BacktestScore:
    """Project one segment from ``observed`` and score it on the hidden cells of ``actual``.

    ``observed`` contains the cells as they were when ``as_of_month`` was the newest
    closed month, ``actual`` the same segment's cells at least ``hidden_months``
    later. Both have the columns of ``marts.cohort_cell``. Keyword options go to
    ``project_segment_retention``.
    """
    if hidden_months < 1:
        raise ValueError(f"hidden_months must be 1 or more, got {hidden_months}.")
    hidden = hidden_cells(observed, actual, as_of_month, hidden_months)
    if hidden.empty:
        raise ValueError(
            f"actual has no cell in the {hidden_months} month(s) after {as_of_month:%Y-%m}. "
            "Pass cells observed later than the as-of month."
        )
    projection = project_segment_retention(
        observed, as_of_month, horizon_months=hidden_months, **projection_options
    ).cells
    scored = hidden[KEY + ["cohort_size", "active_customers"]].merge(
        projection[projection["is_projected"]].drop(columns="cohort_size"), on=KEY, how="left"
    )
    scored["actual_rate"] = scored["active_customers"] / scored["cohort_size"]
    scored["baseline_rate"] = baseline_active_rates(observed, scored["months_since_first_purchase"])
    error = (scored["retention_rate"] - scored["actual_rate"]).abs()
    baseline_error = (scored["baseline_rate"] - scored["actual_rate"]).abs()
    weights = scored["cohort_size"]

    def inside(level: int) -> float:
        lower = scored[f"retention_rate_lower_{level}"]
        upper = scored[f"retention_rate_upper_{level}"]
        return float(((scored["actual_rate"] >= lower) & (scored["actual_rate"] <= upper)).mean())

    return BacktestScore(
        cells=scored,
        mean_absolute_error=float(error.mean()),
        baseline_mean_absolute_error=float(baseline_error.mean()),
        weighted_absolute_error=float(np.average(error, weights=weights)),
        baseline_weighted_absolute_error=float(np.average(baseline_error, weights=weights)),
        coverage_80=inside(80),
        coverage_95=inside(95),
    )
