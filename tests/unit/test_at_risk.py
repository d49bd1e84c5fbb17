"""Unit tests of the at-risk rules on hand-made cells."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from cohortintel.at_risk import RULE_BELOW_BAND, RULE_BELOW_OLDER, flag_at_risk

AS_OF = dt.date(2011, 6, 1)
MAY = dt.date(2011, 5, 1)


def cell(cohort: str, month: int, size: int, rate: float) -> dict:
    cohort_month = dt.date.fromisoformat(cohort + "-01")
    activity = dt.date(
        cohort_month.year + (cohort_month.month + month - 1) // 12,
        (cohort_month.month + month - 1) % 12 + 1,
        1,
    )
    return {
        "cohort_month": cohort_month,
        "months_since_first_purchase": month,
        "activity_month": activity,
        "cohort_size": size,
        "retention_rate": rate,
    }


def previous_band(cohort: str, month: int, point: float, lower: float, upper: float) -> dict:
    return {
        "cohort_month": dt.date.fromisoformat(cohort + "-01"),
        "months_since_first_purchase": month,
        "as_of_month": MAY,
        "retention_rate": point,
        "retention_rate_lower_80": lower,
        "retention_rate_upper_80": upper,
    }


def test_cell_below_band_flagged():
    observed = pd.DataFrame([cell("2011-04", 0, 200, 1.0), cell("2011-04", 2, 200, 0.10)])
    previous = pd.DataFrame([previous_band("2011-04", 2, 0.25, 0.20, 0.30)])
    flagged = flag_at_risk(observed, previous, AS_OF)
    assert len(flagged) == 1
    row = flagged.iloc[0]
    assert row["rule"] == RULE_BELOW_BAND
    assert row["observed_rate"] == 0.10
    assert row["expected_rate"] == 0.25
    assert row["band_lower"] == 0.20
    assert row["shortfall"] == pytest.approx(0.10)
    assert row["reference_as_of_month"] == MAY


def test_cell_inside_band_not_flagged():
    observed = pd.DataFrame([cell("2011-04", 2, 200, 0.20)])
    previous = pd.DataFrame([previous_band("2011-04", 2, 0.25, 0.20, 0.30)])
    assert flag_at_risk(observed, previous, AS_OF).empty


def test_cell_below_older_cohorts_flagged():
    # Older cohorts at month 1: 30/100, 50/200 and 35/100 active.
    observed = pd.DataFrame(
        [
            cell("2011-02", 1, 100, 0.30),
            cell("2011-03", 1, 200, 0.25),
            cell("2011-04", 1, 100, 0.35),
            cell("2011-05", 1, 150, 0.20),
        ]
    )
    flagged = flag_at_risk(observed, pd.DataFrame(), AS_OF)
    assert len(flagged) == 1
    row = flagged.iloc[0]
    assert row["rule"] == RULE_BELOW_OLDER
    assert row["cohort_month"] == MAY
    assert row["expected_rate"] == pytest.approx(115 / 400)
    assert row["band_lower"] == 0.25
    assert row["band_upper"] == 0.35
    assert row["shortfall"] == pytest.approx(0.05)
    assert row["reference_cohorts"] == 3


def test_older_cohorts_rule_needs_enough_references():
    observed = pd.DataFrame(
        [
            cell("2011-03", 1, 200, 0.25),
            cell("2011-04", 1, 100, 0.35),
            cell("2011-05", 1, 150, 0.20),
        ]
    )
    assert flag_at_risk(observed, pd.DataFrame(), AS_OF, min_reference_cohorts=3).empty
    assert len(flag_at_risk(observed, pd.DataFrame(), AS_OF, min_reference_cohorts=2)) == 1


def test_first_month_never_flagged():
    observed = pd.DataFrame([cell("2011-06", 0, 100, 1.0)])
    previous = pd.DataFrame([previous_band("2011-06", 0, 1.0, 1.0, 1.0)])
    assert flag_at_risk(observed, previous, AS_OF).empty


def test_bad_reference_count_rejected():
    with pytest.raises(ValueError, match="min_reference_cohorts must be 1 or more, got 0"):
        flag_at_risk(pd.DataFrame([cell("2011-05", 1, 10, 0.1)]), pd.DataFrame(), AS_OF, 0)
