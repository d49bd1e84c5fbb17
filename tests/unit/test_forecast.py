"""Unit tests for the trading-day calendar and the day-grain sales forecaster."""

import datetime
import math

import numpy as np
import pandas as pd
import pytest

from cohortintel import autosarima
from cohortintel.forecast import closure_days, fill_closed_days, next_trading_days, trading_days
from cohortintel.monthly_forecast import (
    FORECAST_COLUMNS,
    MonthlyForecast,
    fit_trading_day_forecast,
)

# Standard normal quantiles for the 80 % and 95 % central intervals.
Z_80 = 1.2815515655446004
Z_95 = 1.959963984540054

# Revenue by position in the 6-day trading week, with the peak at 2 and the trough at 5.
WEEKLY_PATTERN = np.array([100.0, 120.0, 160.0, 130.0, 90.0, 60.0])


def make_series(values, start=datetime.date(2011, 1, 2)) -> pd.Series:
    """Put values on consecutive trading days starting at `start`."""
    index = next_trading_days(start - datetime.timedelta(days=1), len(values))
    return pd.Series(np.asarray(values, dtype=float), index=index, name="revenue")


def horizon_after(series: pd.Series, count: int) -> pd.DatetimeIndex:
    return next_trading_days(series.index[-1].date(), count)


def weekly_series(n_obs: int, noise_scale: float = 3.0, seed: int = 7) -> pd.Series:
    rng = np.random.default_rng(seed)
    values = np.resize(WEEKLY_PATTERN, n_obs) + rng.normal(0.0, noise_scale, n_obs)
    return make_series(values)


def test_trading_days_skip_saturday():
    days = trading_days(datetime.date(2010, 12, 30), datetime.date(2011, 1, 4))
    expected = pd.DatetimeIndex(
        ["2010-12-30", "2010-12-31", "2011-01-02", "2011-01-03", "2011-01-04"]
    )
    assert days.equals(expected)


def test_trading_days_custom_weekend():
    days = trading_days(
        datetime.date(2010, 12, 30), datetime.date(2011, 1, 4), non_trading_weekdays=(5, 6)
    )
    expected = pd.DatetimeIndex(["2010-12-30", "2010-12-31", "2011-01-03", "2011-01-04"])
    assert days.equals(expected)


def test_trading_days_empty_when_reversed():
    days = trading_days(datetime.date(2011, 1, 4), datetime.date(2011, 1, 3))
    assert len(days) == 0


def test_trading_days_invalid_weekday():
    with pytest.raises(ValueError, match="invalid non-trading weekday 7"):
        trading_days(datetime.date(2011, 1, 3), datetime.date(2011, 1, 4), (7,))


def test_trading_days_no_trading_weekday():
    with pytest.raises(ValueError, match="all 7 weekdays"):
        trading_days(datetime.date(2011, 1, 3), datetime.date(2011, 1, 4), range(7))


def test_next_trading_days_skip_saturday():
    days = next_trading_days(datetime.date(2010, 12, 31), 3)
    expected = pd.DatetimeIndex(["2011-01-02", "2011-01-03", "2011-01-04"])
    assert days.equals(expected)


def test_next_trading_days_after_non_trading_day():
    days = next_trading_days(datetime.date(2011, 1, 1), 2)
    expected = pd.DatetimeIndex(["2011-01-02", "2011-01-03"])
    assert days.equals(expected)


def test_next_trading_days_zero_count():
    assert len(next_trading_days(datetime.date(2011, 1, 1), 0)) == 0


def test_next_trading_days_negative_count():
    with pytest.raises(ValueError, match="count must be 0 or more, got -1"):
        next_trading_days(datetime.date(2011, 1, 1), -1)


@pytest.fixture(scope="module")
def weekly_fit() -> tuple[pd.Series, pd.DatetimeIndex, MonthlyForecast]:
    """Fit 120 trading days of the weekly pattern once for the tests that inspect it."""
    series = weekly_series(120)
    horizon = horizon_after(series, 12)
    return series, horizon, fit_trading_day_forecast(series, horizon, series_id="synthetic")


def test_weekly_series_selects_weekly_sarima(weekly_fit):
    series, _, result = weekly_fit

    assert result.sarima is not None
    assert result.sarima.spec.seasonal_order[3] == 6
    assert math.isfinite(result.sarima.aicc)
    assert result.fallback_reason is None
    assert result.selection == "cold"
    assert result.series_id == "synthetic"
    assert result.n_obs == 120
    assert result.training_start == series.index[0]
    assert result.training_end == series.index[-1]


def test_weekly_series_backtest_scores_champion(weekly_fit):
    result = weekly_fit[2]

    assert result.champion_score is not None
    assert result.champion_score is result.backtest[result.model_kind]
    assert result.seasonal_naive_score is result.backtest["seasonal_naive"]
    # 12 origins, each forecasting the rest of the last 12 trading days.
    assert result.champion_score.n_forecasts == 78
    assert result.champion_score.mase < result.seasonal_naive_score.mase


def test_weekly_series_forecast_shape(weekly_fit):
    _, horizon, result = weekly_fit
    frame = result.forecast

    assert list(frame.columns) == list(FORECAST_COLUMNS)
    assert len(frame) == len(horizon)
    assert pd.DatetimeIndex(frame["period_start"]).equals(horizon)
    for column in ("forecast", "lower_80", "upper_80", "lower_95", "upper_95"):
        assert frame[column].dtype == np.float64, column
        assert np.isfinite(frame[column]).all(), column


def test_weekly_series_interval_order(weekly_fit):
    frame = weekly_fit[2].forecast

    assert (frame["lower_95"] <= frame["lower_80"]).all()
    assert (frame["lower_80"] <= frame["forecast"]).all()
    assert (frame["forecast"] <= frame["upper_80"]).all()
    assert (frame["upper_80"] <= frame["upper_95"]).all()
    assert (frame["upper_95"] > frame["lower_95"]).all()


def test_weekly_series_reproduces_pattern(weekly_fit):
    # 120 is a multiple of 6, so horizon step i has position i % 6 in the pattern.
    values = weekly_fit[2].forecast["forecast"].to_numpy()

    peak, trough = int(np.argmax(WEEKLY_PATTERN)), int(np.argmin(WEEKLY_PATTERN))
    assert values[peak] > values[trough]
    assert values[peak + 6] > values[trough + 6]
    assert values[:6] == pytest.approx(WEEKLY_PATTERN, abs=10.0)


def test_refit_starts_from_last_model(weekly_fit):
    result = weekly_fit[2]
    longer = weekly_series(126)

    warm = fit_trading_day_forecast(
        longer, horizon_after(longer, 6), warm_start=result.warm_start()
    )

    assert warm.selection == "warm"
    assert warm.sarima.spec.seasonal_order[3] == 6


def test_negative_values_kept_without_clipping():
    series = weekly_series(60) - 120.0
    result = fit_trading_day_forecast(series, horizon_after(series, 6), nonnegative=False)

    assert result.sarima.spec.boxcox_lambda is None
    assert (result.forecast["forecast"] < 0).any()
    assert result.clipped_values == 0


def test_negative_values_clipped_for_sales():
    series = weekly_series(60) - 120.0
    result = fit_trading_day_forecast(series, horizon_after(series, 6))

    assert (result.forecast["forecast"] >= 0).all()
    assert result.clipped_values > 0


def test_short_series_not_seasonal():
    series = weekly_series(20)
    result = fit_trading_day_forecast(series, horizon_after(series, 6))

    # 20 days allow an ARIMA but no backtest, so the ARIMA is the first candidate.
    assert result.model_kind == "arima"
    assert not result.sarima.spec.is_seasonal
    assert "20 trading days, fewer than the 43" in result.fallback_reason
    assert len(result.forecast) == 6


def test_eight_points_seasonal_naive():
    values = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 16.0, 24.0]
    series = make_series(values)
    result = fit_trading_day_forecast(series, horizon_after(series, 8))
    frame = result.forecast

    assert result.model_kind == "seasonal_naive"
    assert result.sarima is None
    assert result.converged is None
    assert "8 trading days" in result.fallback_reason
    # The last season is positions 2..7, repeated from step 7 on.
    expected = [30.0, 40.0, 50.0, 60.0, 16.0, 24.0, 30.0, 40.0]
    assert frame["forecast"].tolist() == pytest.approx(expected)


def test_seasonal_naive_intervals_by_hand():
    values = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 16.0, 24.0]
    series = make_series(values)
    frame = fit_trading_day_forecast(series, horizon_after(series, 8)).forecast

    # Seasonal errors are 16 - 10 = 6 and 24 - 20 = 4, so sigma = sqrt((36 + 16) / 2).
    sigma = math.sqrt(26.0)
    assert frame.loc[0, "upper_80"] == pytest.approx(30.0 + Z_80 * sigma)
    assert frame.loc[0, "lower_95"] == pytest.approx(30.0 - Z_95 * sigma)
    # Step 7 is in the second season ahead, so its spread grows by sqrt(2).
    assert frame.loc[6, "upper_95"] == pytest.approx(30.0 + Z_95 * sigma * math.sqrt(2.0))
    assert frame.loc[5, "upper_95"] == pytest.approx(24.0 + Z_95 * sigma)


def test_one_season_intervals_from_daily_changes():
    series = make_series(WEEKLY_PATTERN)
    result = fit_trading_day_forecast(series, horizon_after(series, 7))
    frame = result.forecast

    assert result.model_kind == "seasonal_naive"
    assert frame["forecast"].tolist() == WEEKLY_PATTERN.tolist() + [100.0]
    assert (frame["upper_95"] > frame["forecast"]).all()
    assert any("neighbouring periods" in message for message in result.warnings)


def test_three_points_naive():
    series = make_series([5.0, 7.0, 4.0])
    result = fit_trading_day_forecast(series, horizon_after(series, 4))
    frame = result.forecast

    assert result.model_kind == "naive"
    assert result.converged is None
    assert "3 trading days" in result.fallback_reason
    assert frame["forecast"].tolist() == [4.0, 4.0, 4.0, 4.0]


def test_naive_intervals_by_hand():
    series = make_series([5.0, 7.0, 4.0])
    frame = fit_trading_day_forecast(series, horizon_after(series, 4)).forecast

    # Naive errors are 7 - 5 = 2 and 4 - 7 = -3, so sigma = sqrt((4 + 9) / 2).
    sigma = math.sqrt(6.5)
    assert frame.loc[0, "lower_80"] == pytest.approx(4.0 - Z_80 * sigma)
    assert frame.loc[0, "upper_95"] == pytest.approx(4.0 + Z_95 * sigma)
    assert frame.loc[3, "upper_95"] == pytest.approx(4.0 + Z_95 * sigma * 2.0)


def test_single_observation_repeats_it():
    series = make_series([42.0])
    result = fit_trading_day_forecast(series, horizon_after(series, 3))
    frame = result.forecast

    assert result.model_kind == "constant"
    assert "zero-width" in result.fallback_reason
    assert frame["forecast"].tolist() == [42.0, 42.0, 42.0]
    assert frame["lower_95"].tolist() == [42.0, 42.0, 42.0]
    assert frame["upper_95"].tolist() == [42.0, 42.0, 42.0]


def test_constant_series_forecasts_constant():
    series = make_series([250.0] * 40)
    result = fit_trading_day_forecast(series, horizon_after(series, 6))

    assert result.model_kind == "constant"
    assert result.model_spec == "constant 250"
    assert result.forecast["forecast"].tolist() == [250.0] * 6
    assert result.forecast["upper_95"].tolist() == [250.0] * 6


def test_all_zero_series_forecasts_zero():
    series = make_series([0.0] * 40)
    result = fit_trading_day_forecast(series, horizon_after(series, 6))

    assert result.model_kind == "constant"
    assert "all zero" in result.fallback_reason
    assert result.forecast["forecast"].tolist() == [0.0] * 6


def test_sarima_failure_falls_back(monkeypatch):
    def failing_selection(*args, **kwargs):
        raise autosarima.NoSarimaFitError("all 4 SARIMA candidates failed to fit")

    monkeypatch.setattr(autosarima, "select_sarima", failing_selection)
    series = weekly_series(60)
    result = fit_trading_day_forecast(series, horizon_after(series, 6))

    assert result.sarima is None
    assert result.model_kind in ("ets", "theta", "seasonal_naive", "naive")
    assert result.fallback_reason == "no SARIMA candidate could be fitted"
    assert "all 4 SARIMA candidates failed to fit" in result.warnings


def test_nan_value_names_date():
    series = make_series([1.0, 2.0, 3.0, 4.0])
    series.iloc[2] = np.nan
    bad_date = series.index[2].date().isoformat()

    with pytest.raises(ValueError, match=f"nan on {bad_date}"):
        fit_trading_day_forecast(series, horizon_after(series, 2))


def test_inf_value_names_date():
    series = make_series([1.0, 2.0, 3.0, 4.0])
    series.iloc[1] = -np.inf
    bad_date = series.index[1].date().isoformat()

    with pytest.raises(ValueError, match=f"-inf on {bad_date}"):
        fit_trading_day_forecast(series, horizon_after(series, 2))


def test_unsorted_index_rejected():
    series = make_series([1.0, 2.0, 3.0, 4.0]).iloc[[0, 2, 1, 3]]

    with pytest.raises(ValueError, match="not sorted because 2011-01-03 follows 2011-01-04"):
        fit_trading_day_forecast(series, horizon_after(series, 2))


def test_duplicate_index_rejected():
    series = make_series([1.0, 2.0, 3.0, 4.0]).iloc[[0, 1, 1, 2]]

    with pytest.raises(ValueError, match="duplicate date 2011-01-03"):
        fit_trading_day_forecast(series, next_trading_days(datetime.date(2011, 1, 4), 2))


def test_empty_series_rejected():
    series = pd.Series([], index=pd.DatetimeIndex([]), dtype=float)

    with pytest.raises(ValueError, match="is empty"):
        fit_trading_day_forecast(series, next_trading_days(datetime.date(2011, 1, 4), 2))


def test_horizon_before_series_end_rejected():
    series = make_series([1.0, 2.0, 3.0, 4.0])

    with pytest.raises(ValueError, match="not after the last date"):
        fit_trading_day_forecast(series, pd.DatetimeIndex(series.index[-2:]))


def test_empty_horizon_rejected():
    series = make_series([1.0, 2.0, 3.0, 4.0])

    with pytest.raises(ValueError, match="horizon is empty"):
        fit_trading_day_forecast(series, horizon_after(series, 0))


CHRISTMAS = (((12, 24), (1, 2)),)


def test_england_holidays_around_new_year():
    days = closure_days(datetime.date(2011, 12, 20), datetime.date(2012, 1, 5), "GB-ENG")
    # 25 December 2011 and 1 January 2012 fall on Sundays, so the Tuesday
    # after Christmas and the Monday after New Year are the substitute days.
    expected = ["2011-12-25", "2011-12-26", "2011-12-27", "2012-01-01", "2012-01-02"]
    assert days.equals(pd.DatetimeIndex(expected))


def test_one_off_public_holiday_included():
    days = closure_days(datetime.date(2011, 4, 26), datetime.date(2011, 5, 3), "GB-ENG")
    # The royal wedding of 29 April 2011, then the May bank holiday.
    assert days.equals(pd.DatetimeIndex(["2011-04-29", "2011-05-02"]))


def test_annual_closure_over_year_end():
    days = closure_days(datetime.date(2011, 12, 22), datetime.date(2012, 1, 4), "", CHRISTMAS)
    assert days.equals(pd.date_range("2011-12-24", "2012-01-02"))


def test_annual_closure_within_year():
    days = closure_days(
        datetime.date(2011, 7, 1), datetime.date(2012, 8, 31), "", (((8, 1), (8, 2)),)
    )
    assert days.equals(pd.DatetimeIndex(["2011-08-01", "2011-08-02", "2012-08-01", "2012-08-02"]))


def test_no_closures_configured():
    assert len(closure_days(datetime.date(2011, 12, 1), datetime.date(2011, 12, 31))) == 0


@pytest.mark.parametrize(
    ("calendar", "fragment"),
    [("XX", "is not a country"), ("GB-XYZ", "GB-ENG, GB-NIR, GB-SCT, GB-WLS")],
)
def test_unknown_holiday_calendar_named(calendar, fragment):
    with pytest.raises(ValueError) as caught:
        closure_days(datetime.date(2011, 12, 1), datetime.date(2011, 12, 31), calendar)
    assert repr(calendar) in str(caught.value)
    assert fragment in str(caught.value)


def test_closed_day_takes_mean_of_same_weekday():
    series = make_series(np.resize(WEEKLY_PATTERN, 18))
    series.iloc[8] = 0.0
    filled, days = fill_closed_days(series, series.index[[8]], 6)
    # Position 8 is weekday 2 of the pattern. Days 2 and 14 are open and sold 160 each.
    assert filled.iloc[8] == 160.0
    assert days.equals(series.index[[8]])
    assert filled.drop(series.index[8]).equals(series.drop(series.index[8]))


def test_long_closure_reaches_open_weeks():
    values = np.arange(1.0, 25.0)
    series = make_series(values)
    closed = series.index[6:14]
    filled, days = fill_closed_days(series, closed, 6)
    # Day 7 is closed and day 13 too, so day 7 takes the mean of day 1 (2.0) and day 19 (20.0).
    assert filled.iloc[7] == 11.0
    # Day 12 looks back to day 0 (1.0) and on to day 18 (19.0).
    assert filled.iloc[12] == 10.0
    assert len(days) == 8


def test_closure_at_end_takes_week_before():
    series = make_series(np.resize(WEEKLY_PATTERN, 12))
    filled, _ = fill_closed_days(series, series.index[[11]], 6)
    assert filled.iloc[11] == WEEKLY_PATTERN[5]


def test_closed_weekday_without_open_day_kept():
    series = make_series([5.0, 0.0, 7.0, 8.0])
    filled, days = fill_closed_days(series, series.index[[1]], 6)
    assert filled.equals(series)
    assert len(days) == 0


def test_closures_filled_and_zero_ahead():
    series = weekly_series(96)
    closed_history = series.index[[40, 41, 47]]
    closed_values = series.copy()
    closed_values[closed_history] = 0.0
    horizon = horizon_after(series, 12)
    closed_ahead = horizon[[3, 4]]
    filled, _ = fill_closed_days(closed_values, closed_history, 6)

    result = fit_trading_day_forecast(
        closed_values, horizon, closed_days=closed_history.append(closed_ahead)
    )
    reference = fit_trading_day_forecast(filled, horizon)

    assert result.model_spec == reference.model_spec
    frame, expected = result.forecast, reference.forecast
    closed_rows = frame["period_start"].isin(closed_ahead)
    assert (frame.loc[closed_rows, list(FORECAST_COLUMNS[1:])] == 0.0).all().all()
    assert frame[~closed_rows].equals(expected[~closed_rows])
    assert (frame.loc[~closed_rows, "forecast"] > 0).all()
    assert any("3 days closed in the training data" in note for note in result.warnings)
    assert any(
        f"closed on 2 days of the horizon ({horizon[3].date()} to {horizon[4].date()})" in note
        for note in result.warnings
    )
