"""Unit tests for the automatic SARIMA order selection."""

import numpy as np
import pytest

from cohortintel import autosarima
from cohortintel.autosarima import (
    SarimaSpec,
    boxcox,
    choose_boxcox_lambda,
    choose_differences,
    choose_seasonal_differences,
    forecast_sarima,
    inv_boxcox,
    refit_sarima,
    select_sarima,
)

MONTHLY_PATTERN = np.array([0.8, 0.85, 0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.1, 1.0, 0.95, 0.85])


def seasonal_series(n_obs: int, seed: int = 3, growth: float = 0.01) -> np.ndarray:
    """Multiplicative monthly season on an exponential trend with 2 % noise."""
    rng = np.random.default_rng(seed)
    level = 100 * np.exp(growth * np.arange(n_obs))
    return level * np.resize(MONTHLY_PATTERN, n_obs) * np.exp(rng.normal(0, 0.02, n_obs))


@pytest.fixture(scope="module")
def cold_fit() -> autosarima.SarimaFit:
    """One stepwise search on 72 months, shared because a search takes seconds."""
    return select_sarima(seasonal_series(72), 12)


def test_boxcox_round_trip():
    values = np.array([1.0, 4.0, 9.0, 100.0])
    for lam in (None, 0.0, 0.5):
        assert np.allclose(inv_boxcox(boxcox(values, lam), lam), values)


def test_boxcox_square_root_by_hand():
    # (sqrt(9) - 1) / 0.5 = 4 and (sqrt(1) - 1) / 0.5 = 0
    assert np.allclose(boxcox(np.array([9.0, 1.0]), 0.5), [4.0, 0.0])


def test_lambda_log_when_spread_grows_with_level():
    # Each season has sd proportional to its mean, so log(sd) on log(mean) has
    # slope 1 and the Box-Cox parameter is 1 - 1 = 0.
    seasons = [level * MONTHLY_PATTERN for level in (10.0, 40.0, 160.0)]
    assert choose_boxcox_lambda(np.concatenate(seasons), 12) == 0.0


def test_lambda_none_when_spread_constant():
    # The same additive pattern at three levels: slope 0, so no transformation.
    seasons = [level + 10 * MONTHLY_PATTERN for level in (100.0, 200.0, 300.0)]
    assert choose_boxcox_lambda(np.concatenate(seasons), 12) is None


def test_lambda_none_with_zero_value():
    values = np.concatenate([MONTHLY_PATTERN, 10 * MONTHLY_PATTERN])
    values[3] = 0.0
    assert choose_boxcox_lambda(values, 12) is None


def test_seasonal_difference_for_strong_season():
    assert choose_seasonal_differences(np.log(seasonal_series(72)), 12) == 1


def test_no_seasonal_difference_for_noise():
    noise = np.random.default_rng(1).normal(0, 1, 72)
    assert choose_seasonal_differences(noise, 12) == 0


def test_differences_random_walk_once():
    walk = np.cumsum(np.random.default_rng(2).normal(0, 1, 120))
    assert choose_differences(walk) == 1


def test_differences_noise_none():
    noise = np.random.default_rng(2).normal(0, 1, 120)
    assert choose_differences(noise) == 0


def test_select_seasonal_series(cold_fit):
    fit = cold_fit

    assert fit.spec.boxcox_lambda == 0.0
    assert fit.spec.seasonal_order[1] == 1
    assert fit.spec.seasonal_order[3] == 12
    assert fit.selection == "stepwise"
    assert fit.candidates_fitted >= 4
    assert "sigma2" in fit.params


def test_forecast_intervals_nest(cold_fit):
    result = forecast_sarima(seasonal_series(72), cold_fit, 12)

    assert np.all(result.lower_95 <= result.lower_80)
    assert np.all(result.lower_80 <= result.forecast)
    assert np.all(result.forecast <= result.upper_80)
    assert np.all(result.upper_80 <= result.upper_95)
    # The season peaks in August (index 7 of the pattern) and the series ends in
    # December, so the forecast for the next August is the year's highest.
    assert int(np.argmax(result.forecast)) == 7


def test_refit_fixed_order_keeps_order(cold_fit):
    # The same seed draws the same first 72 values, so this adds one month.
    values = seasonal_series(73)
    cold = cold_fit

    warm = refit_sarima(values, cold.spec, cold.params, neighbourhood=False)

    assert warm.spec == cold.spec
    assert warm.selection == "fixed"
    assert warm.candidates_fitted == 1


def test_refit_neighbourhood_one_step(cold_fit):
    values = seasonal_series(73)
    cold = cold_fit

    warm = refit_sarima(values, cold.spec, cold.params)

    changes = [
        abs(a - b)
        for a, b in zip(
            warm.spec.order + warm.spec.seasonal_order,
            cold.spec.order + cold.spec.seasonal_order,
            strict=True,
        )
    ]
    assert sum(changes) <= 1
    assert warm.spec.boxcox_lambda == cold.spec.boxcox_lambda
    # The previous order and at most its 8 one-step neighbours.
    assert warm.candidates_fitted <= 9


def test_refit_from_nonstationary_start():
    # An AR coefficient of 1.5 is not a valid start with enforce_stationarity, so
    # the refit starts from the statsmodels default instead of failing.
    values = seasonal_series(72)
    spec = SarimaSpec((1, 0, 0), (0, 1, 1, 12), True, 0.0)

    fit = refit_sarima(values, spec, {"ar.L1": 1.5}, neighbourhood=False)

    assert fit.spec == spec
    assert abs(fit.params["ar.L1"]) < 1


def test_all_candidates_failing_raises(monkeypatch):
    def broken_fit(self, *args, **kwargs):
        raise np.linalg.LinAlgError("Schur decomposition solver error.")

    monkeypatch.setattr(autosarima.SARIMAX, "fit", broken_fit)

    with pytest.raises(autosarima.NoSarimaFitError, match="all 4 SARIMA candidates failed"):
        select_sarima(seasonal_series(72), 12)


def test_non_converged_fit_recorded(monkeypatch):
    monkeypatch.setattr(autosarima, "SEARCH_MAX_ITERATIONS", 1)
    monkeypatch.setattr(autosarima, "RETRY_MAX_ITERATIONS", 1)

    fit = select_sarima(seasonal_series(72), 12)

    assert fit.converged is False
    assert any("did not converge in 1 iterations" in message for message in fit.warnings)


def test_spec_label():
    spec = SarimaSpec((0, 1, 1), (0, 1, 1, 12), False, 0.0)
    assert spec.label() == "SARIMA(0,1,1)(0,1,1)12 log"
    flat = SarimaSpec((1, 0, 0), (0, 0, 0, 0), True, None)
    assert flat.label() == "ARIMA(1,0,0) with constant"


def test_invalid_start_replaced_by_default_start():
    # ar.L1 = 1.5 has no unconstrained form, so the fit must start where a fit
    # without start parameters starts, and end at the same estimate.
    values = seasonal_series(72)
    spec = SarimaSpec((1, 0, 0), (0, 1, 1, 12), True, 0.0)
    y = boxcox(values, 0.0)

    from_invalid, _ = autosarima._fit_differenced(y, spec, {"ar.L1": 1.5}, 50)
    from_default, _ = autosarima._fit_differenced(y, spec, None, 50)

    assert np.allclose(from_invalid.params, from_default.params)


def test_chosen_fit_polished_with_strict_rule(cold_fit):
    # The search stops early; the chosen candidate is refitted with scipy's
    # default stopping rule, which converged on this series.
    assert cold_fit.converged is True
    assert not any("did not converge" in message for message in cold_fit.warnings)


def test_rolling_forecasts_equal_dynamic_prediction(cold_fit):
    # The forecasts from the system matrices must equal statsmodels' dynamic
    # prediction from each origin, which refilters the sample once per origin.
    values = seasonal_series(72)
    origins = [60, 66, 71]

    rolling = autosarima.rolling_forecasts_sarima(values, cold_fit, origins, 72)

    results = autosarima.full_model_results(values, cold_fit)
    for origin in origins:
        expected = results.predict(start=origin, end=71, dynamic=True)
        assert rolling[origin] == pytest.approx(inv_boxcox(np.asarray(expected), 0.0), rel=1e-10)
