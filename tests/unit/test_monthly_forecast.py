"""Unit tests for the monthly forecaster: series preparation, awkward series, backtest."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.forecasting.theta import ThetaModel

from cohortintel import autosarima, monthly_forecast
from cohortintel.monthly_forecast import (
    COMBINATION_MARGIN,
    BacktestScore,
    SeriesValidationError,
    fit_monthly_forecast,
    forecast_months,
    prepare_monthly_series,
    score_forecasts,
)

MONTHLY_PATTERN = np.array([0.8, 0.85, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.1, 1.0, 0.95, 0.85])
FORECAST_VALUE_COLUMNS = ["forecast", "lower_80", "upper_80", "lower_95", "upper_95"]


def month_starts(start: str, periods: int) -> pd.DatetimeIndex:
    return pd.date_range(start, periods=periods, freq="MS")


def monthly(values, start: str = "2020-01-01") -> pd.Series:
    values = np.asarray(values, dtype=float)
    return pd.Series(values, index=month_starts(start, len(values)))


def seasonal_values(n_obs: int, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    level = 100 * np.exp(0.01 * np.arange(n_obs))
    return level * np.resize(MONTHLY_PATTERN, n_obs) * np.exp(rng.normal(0, 0.03, n_obs))


def expected_champion_mase(backtest: dict) -> float:
    """Return the champion's MASE by the rule: lowest, unless the mean is within the margin."""
    best = min(score.mase for score in backtest.values())
    combination = backtest.get("combination")
    if combination is not None and best >= (1 - COMBINATION_MARGIN) * combination.mase:
        return combination.mase
    return best


@pytest.mark.parametrize(
    ("ets_mase", "champion"),
    [
        # 0.85 is within 20 % of the mean's 1.0, so the mean stays champion.
        (0.85, "combination"),
        # 0.75 is more than 20 % below it, so ETS wins.
        (0.75, "ets"),
        (1.2, "combination"),
    ],
)
def test_champion_keeps_mean_within_margin(ets_mase, champion):
    kinds = ["sarima", "ets", "theta", "combination", "naive"]
    candidates = [monthly_forecast._Candidate(kind, kind, None, None) for kind in kinds]
    mases = {"sarima": 0.9, "ets": ets_mase, "theta": 1.1, "combination": 1.0, "naive": 2.0}
    scores = {
        kind: BacktestScore(kind, mape=5.0, smape=5.0, mase=mase, n_forecasts=78)
        for kind, mase in mases.items()
    }

    assert monthly_forecast._champion(candidates, scores, True).kind == champion


def offset_candidate(kind: str, offset: float) -> monthly_forecast._Candidate:
    """Return a candidate whose backtest forecasts miss every actual by ``offset``."""

    def backtest(data, origins, end):
        return {origin: data[origin:end] + offset for origin in origins}

    return monthly_forecast._cached_backtest(
        monthly_forecast._Candidate(kind, kind, None, backtest)
    )


@pytest.mark.parametrize(
    ("theta_offset", "ets_offset", "expected_kinds", "combination_mase"),
    [
        # The seasonal naive's in-sample error on a line of slope 1 is 12, so the
        # MASEs are the offsets divided by 12. ETS at exactly 1.5 times SARIMA stays,
        # and Theta at 2 times is dropped: the mean misses by (1 + 1.5) / 2.
        (2.0, 1.5, ["sarima", "ets", "theta", "combination"], 1.25 / 12),
        # Neither challenger is within 1.5 times, so no mean is left.
        (2.0, 1.6, ["sarima", "ets", "theta"], None),
        # All three are within 1.5 times, so the mean of three stays.
        (1.2, 1.5, ["sarima", "ets", "theta", "combination"], (1 + 1.5 + 1.2) / 3 / 12),
    ],
)
def test_mean_drops_members_far_behind(theta_offset, ets_offset, expected_kinds, combination_mase):
    values = 10.0 + np.arange(48)
    members = [
        offset_candidate("sarima", 1.0),
        offset_candidate("ets", ets_offset),
        offset_candidate("theta", theta_offset),
    ]
    candidates = [*members, monthly_forecast._combination_candidate(members)]
    scores, _ = monthly_forecast._run_backtest(values, candidates, 12)
    notes: list[str] = []

    trimmed, trimmed_scores = monthly_forecast._trim_combination(
        values, candidates, scores, 12, notes
    )

    assert [c.kind for c in trimmed] == expected_kinds
    if combination_mase is None:
        assert "combination" not in trimmed_scores
    else:
        assert trimmed_scores["combination"].mase == pytest.approx(combination_mase)
        combination = next(c for c in trimmed if c.kind == "combination")
        assert ("theta" in combination.spec) == (theta_offset <= 1.5)
    assert len(notes) == (ets_offset > 1.5) + (theta_offset > 1.5)
    assert all("was left out of the mean" in note for note in notes)


def test_missing_month_filled_with_zero():
    index = pd.DatetimeIndex(["2020-01-01", "2020-02-01", "2020-04-01"])
    series = pd.Series([5.0, 6.0, 8.0], index=index)

    prepared, filled = prepare_monthly_series(series)

    assert prepared.index.equals(month_starts("2020-01-01", 4))
    assert prepared.tolist() == [5.0, 6.0, 0.0, 8.0]
    assert filled == [pd.Timestamp("2020-03-01")]


def test_month_end_dates_become_month_starts():
    # Month-end dates built without a month-end alias, because pandas 2.2
    # renamed it from "M" to "ME".
    index = month_starts("2020-01-01", 3) + pd.offsets.MonthEnd(0)
    series = pd.Series([1.0, 2.0, 3.0], index=index)

    prepared, filled = prepare_monthly_series(series)

    assert prepared.index.equals(month_starts("2020-01-01", 3))
    assert filled == []


def test_period_index_accepted():
    series = pd.Series([1.0, 2.0], index=pd.period_range("2020-11", periods=2, freq="M"))

    prepared, _ = prepare_monthly_series(series)

    assert prepared.index.equals(pd.DatetimeIndex(["2020-11-01", "2020-12-01"]))


def test_forecast_months_cross_year():
    months = forecast_months(pd.Timestamp("2020-11-01"), 3)
    assert months.equals(pd.DatetimeIndex(["2020-12-01", "2021-01-01", "2021-02-01"]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_value_rejected(bad):
    series = monthly([1.0, bad, 3.0])

    with pytest.raises(SeriesValidationError, match=r"non-finite value .* in 2020-02"):
        fit_monthly_forecast(series, 3)


def test_duplicate_month_rejected():
    index = pd.DatetimeIndex(["2020-01-01", "2020-01-15", "2020-02-01"])
    series = pd.Series([1.0, 2.0, 3.0], index=index)

    with pytest.raises(SeriesValidationError, match="two values for 2020-01"):
        prepare_monthly_series(series)


def test_non_date_index_rejected():
    with pytest.raises(SeriesValidationError, match="DatetimeIndex or PeriodIndex, got RangeIndex"):
        prepare_monthly_series(pd.Series([1.0, 2.0]))


def test_constant_series_forecasts_constant():
    result = fit_monthly_forecast(monthly([7.5] * 40), 4)

    assert result.model_kind == "constant"
    assert result.sarima is None
    assert result.forecast["forecast"].tolist() == [7.5] * 4
    assert result.forecast["lower_95"].tolist() == [7.5] * 4
    assert "constant at 7.5" in result.fallback_reason


def test_all_zero_series_forecasts_zero():
    result = fit_monthly_forecast(monthly([0.0] * 30), 3)

    assert result.model_kind == "constant"
    assert result.forecast[FORECAST_VALUE_COLUMNS].to_numpy().tolist() == [[0.0] * 5] * 3
    assert "all zero" in result.fallback_reason


def test_very_short_series_uses_naive():
    # 8 months: too short for an ARIMA (16) and for a season (12), so the forecast
    # repeats the last value.
    result = fit_monthly_forecast(monthly([3.0, 5.0, 4.0, 6.0, 5.0, 7.0, 6.0, 8.0]), 2)

    assert result.model_kind == "naive"
    assert result.forecast["forecast"].tolist() == [8.0, 8.0]
    assert "fewer than the 37" in result.fallback_reason
    # The in-sample naive errors are +2, -1, +2, -1, +2, -1, +2, so the one-step
    # error scale is sqrt((4 * 4 + 3 * 1) / 7) = sqrt(19 / 7).
    spread = np.sqrt(19 / 7)
    assert result.forecast["upper_80"].iloc[0] == pytest.approx(8.0 + 1.2815515655 * spread)


def test_short_series_not_labelled_sarima():
    # 30 months is under two seasons plus one seasonal and one regular difference.
    result = fit_monthly_forecast(monthly(seasonal_values(30)), 6, challengers=False)

    assert result.model_kind != "sarima"
    assert result.sarima is not None
    assert not result.sarima.spec.is_seasonal
    assert result.fallback_reason.startswith("the series has 30 months, fewer than the 37")
    assert not result.model_spec.startswith("SARIMA")


def test_seasonal_series_backtest_recorded():
    result = fit_monthly_forecast(monthly(seasonal_values(60)), 12, series_id="north")

    assert result.fallback_reason is None
    assert result.selection == "cold"
    assert set(result.backtest) == {
        "sarima",
        "ets",
        "theta",
        "combination",
        "seasonal_naive",
        "naive",
    }
    assert result.champion_score.mase == expected_champion_mase(result.backtest)
    assert result.seasonal_naive_score.model_kind == "seasonal_naive"
    # 12 origins forecasting to the end: 12 + 11 + ... + 1 = 78 forecasts.
    assert result.champion_score.n_forecasts == 78
    assert result.n_obs == 60
    assert result.training_end == pd.Timestamp("2024-12-01")
    assert result.forecast["period_start"].iloc[0] == pd.Timestamp("2025-01-01")

    warm = fit_monthly_forecast(
        monthly(seasonal_values(61)), 12, series_id="north", warm_start=result.warm_start()
    )
    assert warm.selection in ("warm", "cold after warm backtest worsened")
    assert warm.n_obs == 61


def test_sarima_failure_falls_back(monkeypatch):
    def broken_fit(self, *args, **kwargs):
        raise np.linalg.LinAlgError("LU decomposition error.")

    monkeypatch.setattr(autosarima.SARIMAX, "fit", broken_fit)

    result = fit_monthly_forecast(monthly(seasonal_values(48)), 6, challengers=False)

    assert result.sarima is None
    assert result.converged is None
    assert result.model_kind == "seasonal_naive"
    assert result.fallback_reason == "no SARIMA candidate could be fitted"
    assert any("LU decomposition error" in message for message in result.warnings)


def test_declining_series_never_negative():
    # Sales falling by 10 a month from 300 reach 10 in the last month. A model
    # without a log transformation extrapolates the decline below zero.
    values = 300.0 - 10.0 * np.arange(30)
    result = fit_monthly_forecast(monthly(values), 12, challengers=False)

    assert (result.forecast[FORECAST_VALUE_COLUMNS].to_numpy() >= 0).all()
    assert result.clipped_values > 0
    assert any("were set to 0" in message for message in result.warnings)


def test_clip_counts_each_value():
    frame = pd.DataFrame(
        {
            "period_start": month_starts("2021-01-01", 2),
            "forecast": [1.0, -1.0],
            "lower_80": [-2.0, -3.0],
            "upper_80": [2.0, 1.0],
            "lower_95": [0.0, -4.0],
            "upper_95": [3.0, 2.0],
        }
    )

    assert monthly_forecast._clip_at_zero(frame) == 4
    assert frame["lower_95"].tolist() == [0.0, 0.0]


def test_score_forecasts_by_hand():
    # Training part [10, 20, 10, 20] with m = 2 has seasonal naive errors of 0,
    # so take m = 1: errors 10, 10, 10, scale 10.
    values = np.array([10.0, 20.0, 10.0, 20.0, 10.0, 20.0])
    forecasts = {4: np.array([12.0, 15.0]), 5: np.array([25.0])}

    score = score_forecasts(values, forecasts, 6, 1, "test")

    # Errors: |10 - 12| = 2, |20 - 15| = 5, |20 - 25| = 5.
    assert score.n_forecasts == 3
    assert score.mape == pytest.approx((2 / 10 + 5 / 20 + 5 / 20) / 3 * 100)
    assert score.smape == pytest.approx((2 * 2 / 22 + 2 * 5 / 35 + 2 * 5 / 45) / 3 * 100)
    assert score.mase == pytest.approx((2 + 5 + 5) / 3 / 10)


def test_score_mape_skips_zero_actuals():
    values = np.array([1.0, 3.0, 0.0, 4.0])
    score = score_forecasts(values, {2: np.array([1.0, 2.0])}, 4, 1, "test")

    # Only the actual 4 counts for MAPE: |4 - 2| / 4 = 50 %.
    assert score.mape == pytest.approx(50.0)


@pytest.fixture(scope="module")
def cold_north():
    """One cold fit on 60 months, shared because a search takes about a second."""
    return fit_monthly_forecast(monthly(seasonal_values(60)), 12, series_id="north")


def test_warm_refit_searches_neighbourhood(cold_north):
    previous = dataclasses.replace(cold_north.warm_start(), sarima_backtest_mase=10.0)

    warm = fit_monthly_forecast(
        monthly(seasonal_values(61)), 12, series_id="north", warm_start=previous
    )

    assert warm.selection == "warm"
    assert warm.sarima.selection == "neighbourhood"
    assert warm.sarima.spec.boxcox_lambda == cold_north.sarima.spec.boxcox_lambda
    assert warm.sarima.spec.order[1] == cold_north.sarima.spec.order[1]
    assert warm.sarima.spec.seasonal_order[1] == cold_north.sarima.spec.seasonal_order[1]


def test_warm_refit_whose_backtest_worsens_runs_full_search(cold_north):
    # Last month's SARIMA "scored" a MASE of 1e-9, so its backtest this month
    # is more than WARM_BACKTEST_TOLERANCE times worse.
    previous = dataclasses.replace(cold_north.warm_start(), sarima_backtest_mase=1e-9)

    warm = fit_monthly_forecast(
        monthly(seasonal_values(61)), 12, series_id="north", warm_start=previous
    )

    assert warm.selection == "cold after warm backtest worsened"
    assert warm.sarima.selection == "stepwise"
    assert any("so the full search ran" in message for message in warm.warnings)
    assert warm.champion_score.mase == expected_champion_mase(warm.backtest)


def test_worsened_refit_keeps_challengers(cold_north):
    values = monthly(seasonal_values(61))
    steady = fit_monthly_forecast(values, 12, series_id="north", warm_start=cold_north.warm_start())
    previous = dataclasses.replace(cold_north.warm_start(), sarima_backtest_mase=1e-9)

    worsened = fit_monthly_forecast(values, 12, series_id="north", warm_start=previous)

    assert worsened.selection == "cold after warm backtest worsened"
    assert worsened.sarima.spec.boxcox_lambda == cold_north.sarima.spec.boxcox_lambda
    # ETS started from the same parameters and Theta are not fitted again, so
    # they score as in the refit whose backtest did not worsen.
    assert worsened.backtest["ets"] == steady.backtest["ets"]
    assert worsened.backtest["theta"] == steady.backtest["theta"]
    assert "combination" in worsened.backtest


def test_warm_start_carries_sarima_mase(cold_north):
    warm_start = cold_north.warm_start()

    assert warm_start.sarima_backtest_mase == cold_north.backtest["sarima"].mase


def test_warm_backtest_starts_from_last_backtest(cold_north, monkeypatch):
    previous = cold_north.warm_start()
    assert previous.sarima_backtest_params is not None
    assert previous.ets_backtest_params is not None
    starts = []
    refit = autosarima.refit_sarima

    def recording_refit(values, spec, params, *, neighbourhood=True):
        if not neighbourhood:
            starts.append(params)
        return refit(values, spec, params, neighbourhood=neighbourhood)

    monkeypatch.setattr(autosarima, "refit_sarima", recording_refit)

    warm = fit_monthly_forecast(
        monthly(seasonal_values(61)), 12, series_id="north", warm_start=previous
    )

    if warm.sarima.spec == previous.spec:
        assert starts == [previous.sarima_backtest_params]
    else:
        # Another order won the neighbourhood, so last month's estimate does not apply.
        assert starts == [warm.sarima.params]
    assert warm.sarima_backtest_params is not None


def _score(kind: str, mase: float) -> BacktestScore:
    return BacktestScore(kind, mape=10.0, smape=10.0, mase=mase, n_forecasts=78)


@pytest.mark.parametrize(
    ("previous", "scores", "expected"),
    [
        # 1.4 is within 1.5 times 1.0, and the worse ETS does not count.
        (1.0, {"sarima": 1.4, "ets": 9.0}, None),
        (1.0, {"sarima": 1.6, "ets": 0.5}, "SARIMA backtest MASE 1.600 is worse"),
        (1.0, {"ets": 0.5}, "backtest of the warm-refitted SARIMA failed"),
        (None, {"sarima": 50.0}, None),
    ],
)
def test_worsened_check_counts_sarima_only(cold_north, previous, scores, expected):
    warm_start = dataclasses.replace(cold_north.warm_start(), sarima_backtest_mase=previous)
    scored = {kind: _score(kind, mase) for kind, mase in scores.items()}

    reason = monthly_forecast._warm_backtest_worsened(warm_start, cold_north.sarima, "warm", scored)

    if expected is None:
        assert reason is None
    else:
        assert expected in reason


def test_theta_point_forecast_by_hand():
    # y = 1, 2, 3, 5: SES errors only grow as alpha falls below 1, so alpha = 1
    # and the level is 5. The OLS slope on t = 0..3 is 6.5 / 5 = 1.3, and with
    # alpha = 1 the trend term is b0 / 2 * (h - 1 + 1): 0.65 and 1.3.
    forecast = monthly_forecast.theta_point_forecast(np.array([1.0, 2.0, 3.0, 5.0]), None, 2)

    assert forecast == pytest.approx([5.65, 6.3])


def statsmodels_theta(values: np.ndarray, period: int | None):
    """Return statsmodels' ThetaModel fit that the forecaster's Theta reproduces."""
    return ThetaModel(
        values,
        period=period,
        deseasonalize=period is not None,
        use_test=False,
        method="multiplicative" if period else "additive",
    ).fit()


@pytest.mark.parametrize("period", [12, None])
def test_theta_point_forecast_matches_statsmodels(period):
    values = seasonal_values(60)
    reference = statsmodels_theta(values, period)

    forecast = monthly_forecast.theta_point_forecast(values, period, 18)

    assert forecast == pytest.approx(np.asarray(reference.forecast(18)), rel=1e-4)


@pytest.mark.parametrize("period", [12, None])
def test_theta_intervals_match_statsmodels(period):
    values = seasonal_values(60)
    reference = statsmodels_theta(values, period)
    bounds = np.asarray(reference.prediction_intervals(18, alpha=0.05), dtype=float)

    prediction = monthly_forecast._theta_candidate(values, 12, period is not None).predict(18)

    # The variance comes from the same ARIMA(0,1,1) with drift, fitted another way.
    assert monthly_forecast.theta_innovation_variance(values) == pytest.approx(
        reference.sigma2, rel=0.01
    )
    assert prediction.lower_95 == pytest.approx(bounds[:, 0], rel=0.01)
    assert prediction.upper_95 == pytest.approx(bounds[:, 1], rel=0.01)
    assert (prediction.lower_95 < prediction.lower_80).all()
    assert (prediction.upper_80 < prediction.upper_95).all()


def test_one_season_intervals_not_zero_width():
    # 12 months: no ARIMA (16 needed) and no backtest, so the seasonal naive is
    # the first candidate, and one season gives it no seasonal error.
    result = fit_monthly_forecast(monthly(seasonal_values(12)), 6, series_id="short")

    assert result.model_kind == "seasonal_naive"
    assert (result.forecast["upper_80"] > result.forecast["lower_80"]).all()
    assert (result.forecast["upper_95"] > result.forecast["upper_80"]).all()
    assert any("no seasonal error" in message for message in result.warnings)
    assert result.fallback_reason.endswith("was the first candidate left")


def test_parameterless_candidate_not_fitted():
    # ARIMA(0,1,0) without a constant has no free parameter once the scale is
    # concentrated out, so the search leaves it to the naive candidate.
    random_walk = np.cumsum(np.random.default_rng(2).normal(0, 1, 40)) + 50
    previous = autosarima.SarimaSpec((0, 1, 1), (0, 0, 0, 0), False, None)

    fit = autosarima.refit_sarima(random_walk, previous, {"ma.L1": -0.3, "sigma2": 1.0})

    assert not any("failed to fit" in message for message in fit.warnings)
