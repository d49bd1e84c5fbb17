"""Unit tests of the retention projection on small hand-made cohort matrices."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from cohortintel.months import add_months
from cohortintel.projection import (
    Z_80,
    InsufficientHistoryError,
    ProjectionSettingError,
    ProjectionSettings,
    active_rate_bounds,
    project_segment_retention,
)

AS_OF = dt.date(2011, 6, 1)
# Unbounded and active customers by month since first purchase of a 100-customer cohort.
UNBOUNDED = [100, 60, 50, 45, 42, 40]
ACTIVE = [100, 30, 25, 20, 20, 40]


def triangle(first: dt.date, as_of: dt.date, active_overrides: dict | None = None) -> pd.DataFrame:
    """Cohorts of 100 customers from ``first`` to ``as_of``, each observed through ``as_of``."""
    rows = []
    cohort = first
    while cohort <= as_of:
        lived = (as_of.year - cohort.year) * 12 + as_of.month - cohort.month
        for month in range(lived + 1):
            active = (active_overrides or {}).get((cohort, month), ACTIVE[month])
            rows.append((cohort, month, 100, active, UNBOUNDED[month]))
        cohort = add_months(cohort, 1)
    return pd.DataFrame(
        rows,
        columns=[
            "cohort_month",
            "months_since_first_purchase",
            "cohort_size",
            "active_customers",
            "unbounded_active_customers",
        ],
    )


def test_bounds_match_hand_computation():
    # spread = sqrt(0.2 * 0.8 / 100 + (0.2 * 0.1) ** 2) = sqrt(0.002) = 0.0447214
    lower, upper = active_rate_bounds(np.array([0.2]), 100, 0.1, Z_80)
    assert lower[0] == pytest.approx(0.2 - 1.2815516 * 0.0447214, abs=1e-6)
    assert upper[0] == pytest.approx(0.2 + 1.2815516 * 0.0447214, abs=1e-6)


def test_bounds_clipped_to_unit_interval():
    lower, upper = active_rate_bounds(np.array([0.01, 0.99]), 10, 0.5, 1.96)
    assert lower[0] == 0.0
    assert upper[1] == 1.0


def test_observed_rows_equal_input():
    cells = triangle(dt.date(2011, 1, 1), AS_OF)
    result = project_segment_retention(cells, AS_OF, horizon_months=2, draws=200)
    observed = result.cells[~result.cells["is_projected"]]
    assert len(observed) == len(cells)
    merged = observed.merge(cells, on=["cohort_month", "months_since_first_purchase"])
    assert np.allclose(merged["retention_rate"], merged["active_customers"] / 100)
    assert np.allclose(
        merged["unbounded_retention_rate"], merged["unbounded_active_customers"] / 100
    )


def test_projection_runs_through_horizon():
    cells = triangle(dt.date(2011, 1, 1), AS_OF)
    result = project_segment_retention(cells, AS_OF, horizon_months=4, draws=200)
    projected = result.cells[result.cells["is_projected"]]
    last = projected.groupby("cohort_month")["activity_month"].max()
    assert set(last) == {dt.date(2011, 10, 1)}
    first = projected.groupby("cohort_month")["activity_month"].min()
    assert set(first) == {dt.date(2011, 7, 1)}
    assert len(projected) == 6 * 4


def test_projected_rates_and_bounds_ordered():
    cells = triangle(dt.date(2011, 1, 1), AS_OF)
    projected = project_segment_retention(cells, AS_OF, horizon_months=6, draws=500).cells
    projected = projected[projected["is_projected"]]
    columns = [
        "retention_rate_lower_95",
        "retention_rate_lower_80",
        "retention_rate",
        "retention_rate_upper_80",
        "retention_rate_upper_95",
    ]
    values = projected[columns].to_numpy()
    assert (values >= 0).all()
    assert (values <= 1).all()
    assert (np.diff(values, axis=1) >= 0).all()
    assert (projected["retention_rate"] <= projected["unbounded_retention_rate"]).all()


def test_active_share_pools_settled_cells():
    # Settled cells (3 closed months after them) as of June: January months 0..2,
    # February months 0..1. Share at 1: (30 + 18) / (60 + 60) = 0.4; at 2: 25 / 50.
    cells = triangle(dt.date(2011, 1, 1), AS_OF, {(dt.date(2011, 2, 1), 1): 18})
    result = project_segment_retention(cells, AS_OF, horizon_months=1, draws=200)
    assert result.active_share[0] == 1.0
    assert result.active_share[1] == pytest.approx(0.4)
    assert result.active_share[2] == pytest.approx(0.5)
    # Months without a settled cell repeat the last share.
    assert result.active_share[6] == pytest.approx(0.5)


def test_cohort_effect_of_newest_cohort_is_one():
    cells = triangle(dt.date(2011, 1, 1), AS_OF)
    result = project_segment_retention(cells, AS_OF, horizon_months=1, draws=200)
    assert result.cohort_effect[AS_OF] == 1.0


def test_cohort_effect_follows_busier_cohort():
    busier = {(dt.date(2011, 3, 1), month): ACTIVE[month] + 10 for month in (1, 2, 3)}
    cells = triangle(dt.date(2011, 1, 1), AS_OF, busier)
    result = project_segment_retention(cells, AS_OF, horizon_months=1, draws=200)
    assert result.cohort_effect[dt.date(2011, 3, 1)] > 1.0
    assert result.cohort_effect[dt.date(2011, 3, 1)] > result.cohort_effect[dt.date(2011, 2, 1)]


def test_cohort_effect_without_prior_is_ratio():
    # With settle_months=0 every cell is settled, so the expected active customers of
    # a closed month are the observed unbounded count times the pooled share.
    cells = triangle(dt.date(2011, 4, 1), AS_OF)
    result = project_segment_retention(
        cells, AS_OF, horizon_months=1, settle_months=0, cohort_prior=0, draws=200
    )
    share = result.active_share
    # April: months 1 and 2 observed, 30 + 25 active against 60 * share[1] + 50 * share[2].
    expected = 60 * share[1] + 50 * share[2]
    assert result.cohort_effect[dt.date(2011, 4, 1)] == pytest.approx(55 / expected)


def test_young_segment_raises_insufficient_history():
    cells = triangle(dt.date(2011, 4, 1), AS_OF)
    with pytest.raises(InsufficientHistoryError, match="at least 4 closed months"):
        project_segment_retention(cells, AS_OF, draws=200)


def test_cells_past_as_of_rejected():
    cells = triangle(dt.date(2011, 1, 1), AS_OF)
    with pytest.raises(ValueError, match="as-of month 2011-05"):
        project_segment_retention(cells, dt.date(2011, 5, 1), draws=200)


def test_rerun_gives_same_rows():
    cells = triangle(dt.date(2011, 1, 1), AS_OF)
    first = project_segment_retention(cells, AS_OF, horizon_months=3, draws=300).cells
    second = project_segment_retention(cells, AS_OF, horizon_months=3, draws=300).cells
    pd.testing.assert_frame_equal(first, second)


def test_settings_reject_bad_horizon(monkeypatch):
    monkeypatch.setenv("COHORTINTEL_RETENTION_HORIZON_MONTHS", "twelve")
    with pytest.raises(ProjectionSettingError, match="'twelve' is not an integer"):
        ProjectionSettings.from_env()


def test_settings_defaults(monkeypatch):
    for name in ("HORIZON_MONTHS", "MIN_CUSTOMERS", "SETTLE_MONTHS", "COHORT_PRIOR"):
        monkeypatch.delenv(f"COHORTINTEL_RETENTION_{name}", raising=False)
    settings = ProjectionSettings.from_env()
    assert settings.horizon_months == 12
    assert settings.min_customers == 200
    assert settings.settle_months == 3
    assert math.isclose(settings.cohort_prior, 50)
