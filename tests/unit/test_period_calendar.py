"""Week and month calendars of the period forecaster under pandas 2.2 and 3.x aliases.

pandas 2.2 renamed the month-end offset alias "M" to "ME" and pandas 3 rejects
"M" for offsets, while periods keep "M" and reject "ME". The forecaster works
on periods only, so an index built with any of these aliases maps to the same
period starts: the 1st of the month, and the ISO Monday of the week.
"""

from __future__ import annotations

import pandas as pd
import pytest

from cohortintel.monthly_forecast import (
    SeriesValidationError,
    forecast_months,
    period_frequency,
    prepare_monthly_series,
)

MONTH_STARTS = pd.DatetimeIndex(["2011-01-01", "2011-02-01", "2011-03-01"])
WEEK_STARTS = pd.DatetimeIndex(["2011-01-03", "2011-01-10", "2011-01-17"])


def series_on(index: pd.Index) -> pd.Series:
    return pd.Series([1.0, 2.0, 3.0], index=index)


@pytest.mark.parametrize(
    "index",
    [
        pd.date_range("2011-01-01", periods=3, freq="MS"),
        pd.date_range("2011-01-31", periods=3, freq="ME"),
        pd.DatetimeIndex(["2011-01-15", "2011-02-15", "2011-03-15"]),
        pd.period_range("2011-01", periods=3, freq="M"),
    ],
    ids=["MS", "ME", "mid-month", "period-M"],
)
def test_month_index_maps_to_starts(index):
    prepared, filled = prepare_monthly_series(series_on(index), grain="month")
    assert list(prepared.index) == list(MONTH_STARTS)
    assert filled == []


@pytest.mark.parametrize(
    "index",
    [
        # Mondays: the week starts that the warehouse stores.
        pd.date_range("2011-01-03", periods=3, freq="W-MON"),
        # Sundays: the ends of the same ISO weeks.
        pd.date_range("2011-01-09", periods=3, freq="W-SUN"),
        # Wednesdays, in the middle of those weeks.
        pd.DatetimeIndex(["2011-01-05", "2011-01-12", "2011-01-19"]),
        pd.period_range("2011-01-03", periods=3, freq="W-SUN"),
    ],
    ids=["W-MON", "W-SUN", "mid-week", "period-W-SUN"],
)
def test_week_index_maps_to_mondays(index):
    prepared, filled = prepare_monthly_series(series_on(index), grain="week")
    assert list(prepared.index) == list(WEEK_STARTS)
    assert filled == []


def test_missing_week_filled_with_zero():
    index = pd.DatetimeIndex(["2011-01-03", "2011-01-17"])
    prepared, filled = prepare_monthly_series(pd.Series([4.0, 5.0], index=index), grain="week")
    assert list(prepared) == [4.0, 0.0, 5.0]
    assert filled == [pd.Timestamp("2011-01-10")]


def test_two_values_in_one_week_rejected():
    index = pd.DatetimeIndex(["2011-01-03", "2011-01-09"])
    with pytest.raises(SeriesValidationError, match="one per week"):
        prepare_monthly_series(pd.Series([1.0, 2.0], index=index), grain="week")


def test_forecast_weeks_start_on_monday():
    horizon = forecast_months(pd.Timestamp("2011-12-26"), 3, grain="week")
    assert list(horizon) == list(pd.DatetimeIndex(["2012-01-02", "2012-01-09", "2012-01-16"]))
    assert all(day.isoweekday() == 1 for day in horizon)


def test_forecast_months_cross_year():
    horizon = forecast_months(pd.Timestamp("2011-11-01"), 3)
    assert list(horizon) == list(pd.DatetimeIndex(["2011-12-01", "2012-01-01", "2012-02-01"]))


def test_period_aliases_accepted_by_pandas():
    # pandas rejects "ME" for periods; "M" and "W-SUN" are valid in 2.2 and 3.x.
    assert period_frequency("month") == "M"
    assert period_frequency("week") == "W-SUN"
    assert pd.Period("2011-01-05", freq=period_frequency("week")).start_time == pd.Timestamp(
        "2011-01-03"
    )
    with pytest.raises(ValueError):
        pd.Period("2011-01", freq="ME")


def test_unknown_grain_named():
    with pytest.raises(ValueError, match="'quarter'"):
        period_frequency("quarter")
