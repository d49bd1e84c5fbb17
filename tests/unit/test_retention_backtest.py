"""Unit tests of the backtest's baseline and scoring on a small hand-made matrix."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from cohortintel.retention_backtest import baseline_active_rates, hidden_cells, score_backtest

COLUMNS = [
    "cohort_month",
    "months_since_first_purchase",
    "cohort_size",
    "active_customers",
    "unbounded_active_customers",
]
JAN, FEB, MAR = dt.date(2011, 1, 1), dt.date(2011, 2, 1), dt.date(2011, 3, 1)

# As of March: January (100 customers) has lived months 0..2, February (300) 0..1,
# March (50) month 0.
OBSERVED = pd.DataFrame(
    [
        (JAN, 0, 100, 100, 100),
        (JAN, 1, 100, 30, 50),
        (JAN, 2, 100, 20, 20),
        (FEB, 0, 300, 300, 300),
        (FEB, 1, 300, 60, 60),
        (MAR, 0, 50, 50, 50),
    ],
    columns=COLUMNS,
)
# Two months later. Unbounded counts of the old months have grown with later purchases.
ACTUAL = pd.DataFrame(
    [
        (JAN, 0, 100, 100, 100),
        (JAN, 1, 100, 30, 60),
        (JAN, 2, 100, 20, 50),
        (JAN, 3, 100, 25, 40),
        (JAN, 4, 100, 22, 22),
        (FEB, 0, 300, 300, 300),
        (FEB, 1, 300, 60, 120),
        (FEB, 2, 300, 45, 100),
        (FEB, 3, 300, 40, 40),
        (MAR, 0, 50, 50, 50),
        (MAR, 1, 50, 10, 15),
        (MAR, 2, 50, 8, 8),
    ],
    columns=COLUMNS,
)


def test_baseline_is_size_weighted_by_month():
    rates = baseline_active_rates(OBSERVED, pd.Series([1, 2, 0]))
    # Month 1: (30 + 60) / (100 + 300); month 2: 20 / 100.
    assert rates.tolist() == pytest.approx([0.225, 0.2, 1.0])


def test_baseline_repeats_last_lived_month():
    rates = baseline_active_rates(OBSERVED, pd.Series([3, 4]))
    assert rates.tolist() == pytest.approx([0.2, 0.2])


def test_hidden_cells_are_months_after_as_of():
    hidden = hidden_cells(OBSERVED, ACTUAL, MAR, hidden_months=2)
    keys = sorted(zip(hidden["cohort_month"], hidden["months_since_first_purchase"], strict=True))
    assert keys == [(JAN, 3), (JAN, 4), (FEB, 2), (FEB, 3), (MAR, 1), (MAR, 2)]


def test_score_baseline_error_by_hand():
    score = score_backtest(OBSERVED, ACTUAL, MAR, hidden_months=2, settle_months=0, draws=200)
    # Baseline rates and actual rates of the hidden cells:
    # JAN 3: 0.2 vs 0.25, JAN 4: 0.2 vs 0.22, FEB 2: 0.2 vs 0.15,
    # FEB 3: 0.2 vs 0.40 / 3, MAR 1: 0.225 vs 0.2, MAR 2: 0.2 vs 0.16.
    errors = [0.05, 0.02, 0.05, 0.2 - 40 / 300, 0.025, 0.04]
    sizes = [100, 100, 300, 300, 50, 50]
    assert score.baseline_mean_absolute_error == pytest.approx(np.mean(errors))
    assert score.baseline_weighted_absolute_error == pytest.approx(
        np.average(errors, weights=sizes)
    )
    assert len(score.cells) == 6


def test_score_model_error_matches_cells():
    score = score_backtest(OBSERVED, ACTUAL, MAR, hidden_months=2, settle_months=0, draws=200)
    cells = score.cells
    assert cells["retention_rate"].notna().all()
    manual = (cells["retention_rate"] - cells["actual_rate"]).abs().mean()
    assert score.mean_absolute_error == pytest.approx(manual)
    inside = (cells["actual_rate"] >= cells["retention_rate_lower_80"]) & (
        cells["actual_rate"] <= cells["retention_rate_upper_80"]
    )
    assert score.coverage_80 == pytest.approx(inside.mean())
    assert score.coverage_80 <= score.coverage_95


def test_score_without_hidden_cells_rejected():
    with pytest.raises(ValueError, match="no cell in the 2 month"):
        score_backtest(OBSERVED, OBSERVED, MAR, hidden_months=2, settle_months=0)
