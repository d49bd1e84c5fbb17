"""Unit tests for the shifted-beta-geometric retention model.

The published figures come from Fader, P. S. and Hardie, B. G. S. (2007), "How to
Project Customer Retention", Journal of Interactive Marketing 21(1), 76-90: the
percentage of 1,000 customers of the "Regular" and "High End" segments still active
at the start of years 0..12, and the maximum-likelihood estimates fitted on years 0..7.
"""

import csv
import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cohortintel import retention_model
from cohortintel.config import PROJECT_ROOT
from cohortintel.retention_model import (
    RetentionModelWarning,
    active_share_by_month,
    churn_probabilities,
    fit_sbg,
    fit_sbg_pooled,
    log_likelihood,
    project_cohort,
    project_segment,
    project_survivors,
    retention_rates,
    survival,
)

FADER_HARDIE_CSV = (
    PROJECT_ROOT.parent
    / "shared"
    / "data"
    / "fader_hardie_2007"
    / "sbg_regular_highend_pct_surviving.csv"
)
FADER_HARDIE_CUSTOMERS = 1000
FIT_YEARS = 8  # years 0..7 are fitted, years 8..12 are held out

# Published estimates (alpha, beta) for the fit on years 0..7.
PUBLISHED_ESTIMATES = {
    "regular": (0.704, 1.182),
    "high_end": (0.668, 3.806),
}

# Held-out tolerance, in shares of the cohort. The sBG projections of both segments
# fall short of the observed years 8..12 by up to 1.6 percentage points. The worst
# is High End in year 12, with 37.8 % projected from the published estimates and
# 39.4 % observed. A correct fit passes 2 points, and a model off by more fails.
HOLDOUT_TOLERANCE = 0.02


def read_fader_hardie_counts() -> dict[str, np.ndarray]:
    """Return the survivors of 1,000 customers at the start of years 0..12 by segment."""
    if not FADER_HARDIE_CSV.is_file():
        pytest.fail(f"The Fader-Hardie survival data is missing at {FADER_HARDIE_CSV}.")
    with FADER_HARDIE_CSV.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["year"]) for row in rows] == list(range(13))
    return {
        segment: np.array(
            [
                round(float(row[f"{segment}_pct_surviving"]) * FADER_HARDIE_CUSTOMERS / 100)
                for row in rows
            ]
        )
        for segment in PUBLISHED_ESTIMATES
    }


@pytest.fixture(scope="module")
def fader_hardie_counts() -> dict[str, np.ndarray]:
    return read_fader_hardie_counts()


def hand_survival(alpha: float, beta: float, last_year: int) -> list[float]:
    """S(t) by the recursion S(t) = S(t-1) * (beta + t - 1) / (alpha + beta + t - 1)."""
    values = [1.0]
    for t in range(1, last_year + 1):
        values.append(values[-1] * (beta + t - 1) / (alpha + beta + t - 1))
    return values


def hand_churn_probabilities(alpha: float, beta: float, last_year: int) -> list[float]:
    """P(T = t) by the recursion P(T = t) = P(T = t - 1) * (beta + t - 2) / (alpha + beta + t - 1)."""
    values = [alpha / (alpha + beta)]
    for t in range(2, last_year + 1):
        values.append(values[-1] * (beta + t - 2) / (alpha + beta + t - 1))
    return values


def simulate_cohort_triangle(
    alpha: float, beta: float, cohort_sizes: list[int], ages: list[int], seed: int
) -> list[np.ndarray]:
    """Draw survivor curves: each customer gets theta ~ Beta(alpha, beta) and a geometric lifetime."""
    rng = np.random.default_rng(seed)
    curves = []
    for size, age in zip(cohort_sizes, ages, strict=True):
        theta = rng.beta(alpha, beta, size=size)
        lifetime = rng.geometric(theta)  # first period not alive, 1, 2, ...
        curves.append(np.array([(lifetime > k).sum() for k in range(age + 1)]))
    return curves


# --- the model's probabilities ----------------------------------------------------


@pytest.mark.parametrize("segment", sorted(PUBLISHED_ESTIMATES))
def test_survival_matches_recursion(segment):
    alpha, beta = PUBLISHED_ESTIMATES[segment]
    np.testing.assert_allclose(
        survival(alpha, beta, 12), hand_survival(alpha, beta, 12), rtol=1e-12
    )


@pytest.mark.parametrize("segment", sorted(PUBLISHED_ESTIMATES))
def test_churn_probabilities_match_recursion(segment):
    alpha, beta = PUBLISHED_ESTIMATES[segment]
    np.testing.assert_allclose(
        churn_probabilities(alpha, beta, 12), hand_churn_probabilities(alpha, beta, 12), rtol=1e-12
    )


def test_survival_is_one_minus_cumulative_churn():
    alpha, beta = PUBLISHED_ESTIMATES["regular"]
    churn = churn_probabilities(alpha, beta, 20)
    np.testing.assert_allclose(survival(alpha, beta, 20)[1:], 1.0 - np.cumsum(churn), rtol=1e-12)


def test_retention_rates_by_hand():
    # r(1) = beta / (alpha + beta) = 1.182 / 1.886, r(3) = 3.182 / 3.886.
    rates = retention_rates(0.704, 1.182, 3)
    assert rates[0] == pytest.approx(1.182 / 1.886, rel=1e-12)
    assert rates[2] == pytest.approx(3.182 / 3.886, rel=1e-12)
    survivors = survival(0.704, 1.182, 3)
    np.testing.assert_allclose(rates, survivors[1:] / survivors[:-1], rtol=1e-12)


def test_log_likelihood_by_hand():
    # 100 customers: 30 churn in period 1, 20 in period 2, 50 are censored at period 2.
    alpha, beta = 0.8, 1.5
    churn = hand_churn_probabilities(alpha, beta, 2)
    alive = hand_survival(alpha, beta, 2)
    expected = 30 * math.log(churn[0]) + 20 * math.log(churn[1]) + 50 * math.log(alive[2])
    assert log_likelihood(alpha, beta, [[100, 70, 50]]) == pytest.approx(expected, rel=1e-12)


def test_log_likelihood_pooled_is_sum():
    curves = [[100, 70, 50, 45], [80, 60], [40]]
    alpha, beta = 0.9, 2.2
    separate = sum(log_likelihood(alpha, beta, [curve]) for curve in curves)
    assert log_likelihood(alpha, beta, curves) == pytest.approx(separate, rel=1e-12)
    # A cohort that has lived only period 0 adds nothing: log S(0) = 0.
    assert log_likelihood(alpha, beta, [[40]]) == 0.0


def test_derivatives_match_finite_differences(fader_hardie_counts):
    curves = [fader_hardie_counts["regular"][:FIT_YEARS], fader_hardie_counts["high_end"][:5]]
    stats = retention_model._sufficient_statistics([np.asarray(curve) for curve in curves])
    point = np.array([math.log(0.7), math.log(1.9)])
    gradient, hessian = retention_model._log_likelihood_derivatives(stats, *point)

    def value(params):
        return retention_model._log_likelihood(stats, math.exp(params[0]), math.exp(params[1]))

    step = 1e-4
    unit = np.eye(2) * step
    numeric_gradient = [
        (value(point + unit[i]) - value(point - unit[i])) / (2 * step) for i in range(2)
    ]
    numeric_hessian = [
        [
            (
                value(point + unit[i] + unit[j])
                - value(point + unit[i] - unit[j])
                - value(point - unit[i] + unit[j])
                + value(point - unit[i] - unit[j])
            )
            / (4 * step**2)
            for j in range(2)
        ]
        for i in range(2)
    ]
    np.testing.assert_allclose(gradient, numeric_gradient, rtol=1e-6)
    np.testing.assert_allclose(hessian, numeric_hessian, rtol=1e-4)


# --- the published figures ----------------------------------------------------------


@pytest.mark.parametrize("segment", sorted(PUBLISHED_ESTIMATES))
def test_fit_reproduces_published_estimates(segment, fader_hardie_counts):
    fit = fit_sbg(fader_hardie_counts[segment][:FIT_YEARS])
    published_alpha, published_beta = PUBLISHED_ESTIMATES[segment]
    assert fit.converged, fit.message
    assert round(fit.alpha, 3) == published_alpha
    assert round(fit.beta, 3) == published_beta
    assert fit.customers == FADER_HARDIE_CUSTOMERS
    assert fit.fallback is None


@pytest.mark.parametrize("segment", sorted(PUBLISHED_ESTIMATES))
def test_fit_projects_published_survival(segment, fader_hardie_counts):
    counts = fader_hardie_counts[segment]
    fit = fit_sbg(counts[:FIT_YEARS])
    published = hand_survival(*PUBLISHED_ESTIMATES[segment], 12)
    # The published estimates are rounded to three decimals, which moves S(t) by
    # less than 1e-4 in years 8..12.
    np.testing.assert_allclose(survival(fit.alpha, fit.beta, 12)[8:], published[8:], atol=1e-4)

    # The cohort projection starts from the survivors at year 7 and applies the
    # conditional survival S(t) / S(7).
    projection = project_cohort(FADER_HARDIE_CUSTOMERS, counts[:FIT_YEARS], 12, fit=fit)
    expected = [
        counts[7] * published[t] / published[7] / FADER_HARDIE_CUSTOMERS for t in range(8, 13)
    ]
    assert list(projection.months_since_first_purchase) == [8, 9, 10, 11, 12]
    np.testing.assert_allclose(projection.unbounded_retention_rate, expected, atol=1e-4)


@pytest.mark.parametrize("segment", sorted(PUBLISHED_ESTIMATES))
def test_projection_close_to_held_out_years(segment, fader_hardie_counts):
    counts = fader_hardie_counts[segment]
    observed = counts[FIT_YEARS:] / FADER_HARDIE_CUSTOMERS
    fit = fit_sbg(counts[:FIT_YEARS])
    unconditional = survival(fit.alpha, fit.beta, 12)[FIT_YEARS:]
    projection = project_cohort(FADER_HARDIE_CUSTOMERS, counts[:FIT_YEARS], 12)

    np.testing.assert_allclose(unconditional, observed, atol=HOLDOUT_TOLERANCE)
    np.testing.assert_allclose(
        projection.unbounded_retention_rate, observed, atol=HOLDOUT_TOLERANCE
    )
    assert np.all(projection.lower_95 <= observed)
    assert np.all(observed <= projection.upper_95)


# --- intervals ----------------------------------------------------------------------


@pytest.mark.parametrize("segment", sorted(PUBLISHED_ESTIMATES))
def test_intervals_contain_point_and_nest(segment, fader_hardie_counts):
    projection = project_cohort(
        FADER_HARDIE_CUSTOMERS, fader_hardie_counts[segment][:FIT_YEARS], 24
    )
    assert np.all(projection.lower_95 <= projection.lower_80)
    assert np.all(projection.lower_80 <= projection.unbounded_retention_rate)
    assert np.all(projection.unbounded_retention_rate <= projection.upper_80)
    assert np.all(projection.upper_80 <= projection.upper_95)
    assert np.all(projection.lower_95 > 0)


@pytest.mark.parametrize("segment", sorted(PUBLISHED_ESTIMATES))
def test_intervals_widen_with_horizon(segment, fader_hardie_counts):
    projection = project_cohort(
        FADER_HARDIE_CUSTOMERS, fader_hardie_counts[segment][:FIT_YEARS], 12
    )
    for lower, upper in (
        (projection.lower_80, projection.upper_80),
        (projection.lower_95, projection.upper_95),
    ):
        width = upper - lower
        assert np.all(np.diff(width) > 0), width


@pytest.mark.parametrize("segment", sorted(PUBLISHED_ESTIMATES))
def test_intervals_shrink_with_cohort_size(segment, fader_hardie_counts):
    counts = fader_hardie_counts[segment][:FIT_YEARS]
    small = project_cohort(FADER_HARDIE_CUSTOMERS, counts, 12)
    large = project_cohort(10 * FADER_HARDIE_CUSTOMERS, 10 * counts, 12)
    # Ten times the counts give the same estimate, so the point projection stays.
    np.testing.assert_allclose(
        large.unbounded_retention_rate, small.unbounded_retention_rate, rtol=1e-6
    )
    assert np.all(large.upper_95 - large.lower_95 < small.upper_95 - small.lower_95)
    assert np.all(large.upper_80 - large.lower_80 < small.upper_80 - small.lower_80)


def test_intervals_without_parameter_uncertainty_are_binomial(fader_hardie_counts):
    counts = fader_hardie_counts["regular"][:FIT_YEARS]
    fit = dataclasses.replace(fit_sbg(counts), covariance=None)
    projection = project_survivors(fit, int(counts[-1]), 7, 12, FADER_HARDIE_CUSTOMERS)
    alive = survival(fit.alpha, fit.beta, 12)
    for index, year in enumerate(range(8, 13)):
        binomial = stats.binom(counts[-1], alive[year] / alive[7])
        # Quantiles of 10,000 draws land on the exact quantile or a neighbouring count.
        tick = 1.5 / FADER_HARDIE_CUSTOMERS
        assert projection.lower_95[index] == pytest.approx(binomial.ppf(0.025) / 1000, abs=tick)
        assert projection.upper_95[index] == pytest.approx(binomial.ppf(0.975) / 1000, abs=tick)
        assert projection.lower_80[index] == pytest.approx(binomial.ppf(0.10) / 1000, abs=tick)
        assert projection.upper_80[index] == pytest.approx(binomial.ppf(0.90) / 1000, abs=tick)


def test_intervals_include_parameter_uncertainty(fader_hardie_counts):
    counts = fader_hardie_counts["regular"][:FIT_YEARS]
    fit = fit_sbg(counts)
    certain = dataclasses.replace(fit, covariance=None)
    full = project_survivors(fit, int(counts[-1]), 7, 12, FADER_HARDIE_CUSTOMERS)
    chance_only = project_survivors(certain, int(counts[-1]), 7, 12, FADER_HARDIE_CUSTOMERS)
    full_width = full.upper_95[-1] - full.lower_95[-1]
    chance_width = chance_only.upper_95[-1] - chance_only.lower_95[-1]
    # By year 12 the uncertainty of alpha and beta widens the interval by about a
    # fifth (0.032 against 0.027 with seed 0).
    assert full_width > 1.1 * chance_width


def test_intervals_repeat_with_same_seed(fader_hardie_counts):
    counts = fader_hardie_counts["regular"][:FIT_YEARS]
    first = project_cohort(FADER_HARDIE_CUSTOMERS, counts, 12, seed=3)
    second = project_cohort(FADER_HARDIE_CUSTOMERS, counts, 12, seed=3)
    np.testing.assert_array_equal(first.lower_95, second.lower_95)
    np.testing.assert_array_equal(first.upper_95, second.upper_95)


def test_covariance_gives_standard_errors(fader_hardie_counts):
    fit = fit_sbg(fader_hardie_counts["regular"][:FIT_YEARS])
    assert fit.covariance is not None
    assert np.all(np.linalg.eigvalsh(fit.covariance) > 0)
    alpha_error, beta_error = fit.standard_errors
    assert alpha_error == pytest.approx(fit.alpha * math.sqrt(fit.covariance[0, 0]), rel=1e-12)
    assert beta_error == pytest.approx(fit.beta * math.sqrt(fit.covariance[1, 1]), rel=1e-12)


def test_projection_empty_when_horizon_lived(fader_hardie_counts):
    projection = project_cohort(FADER_HARDIE_CUSTOMERS, fader_hardie_counts["regular"], 12)
    assert projection.months_since_first_purchase.size == 0
    assert projection.to_frame().empty


# --- pooled fit -----------------------------------------------------------------------


def test_pooled_fit_of_one_curve_equals_single_fit(fader_hardie_counts):
    counts = fader_hardie_counts["high_end"][:FIT_YEARS]
    single = fit_sbg(counts)
    pooled = fit_sbg_pooled([counts])
    assert pooled.alpha == single.alpha
    assert pooled.beta == single.beta


def test_pooled_fit_recovers_simulated_parameters():
    # A cohort triangle like a warehouse's: 36 monthly cohorts of 3,000 customers,
    # the oldest observed for 35 months and the youngest only in its first month.
    true_alpha, true_beta = 1.3, 4.0
    ages = list(range(35, -1, -1))
    curves = simulate_cohort_triangle(
        true_alpha, true_beta, [3000] * len(ages), ages, seed=20070101
    )
    fit = fit_sbg_pooled(curves)
    alpha_error, beta_error = fit.standard_errors

    assert fit.converged, fit.message
    assert fit.cohorts == 36
    # The pool is large enough to pin both parameters to a few percent ...
    assert alpha_error / true_alpha < 0.05
    assert beta_error / true_beta < 0.05
    # ... and a consistent estimator lands within 3 standard errors of the truth,
    # which a correct fit misses with probability about 0.3 % per parameter.
    assert abs(fit.alpha - true_alpha) < 3 * alpha_error
    assert abs(fit.beta - true_beta) < 3 * beta_error


def test_pooled_fit_projects_young_cohort():
    curves = simulate_cohort_triangle(1.3, 4.0, [3000] * 12, list(range(11, -1, -1)), seed=5)
    fit = fit_sbg_pooled(curves)
    # A cohort seen only in its first month cannot be fitted alone but can be projected.
    projection = project_cohort(500, [500], 6, fit=fit)
    assert list(projection.months_since_first_purchase) == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(
        projection.unbounded_retention_rate, survival(fit.alpha, fit.beta, 6)[1:], rtol=1e-12
    )


def test_pooled_fit_uses_each_censoring_point():
    # The same customers split into an old and a young cohort: pooling must not read
    # the young cohort's end as churn.
    old = [1000, 600, 450, 380]
    young = [1000, 600]
    fit = fit_sbg_pooled([old, young])
    wrongly_padded = fit_sbg_pooled([old, [1000, 600, 0, 0]])
    # The old cohort kept 38 % through period 3; padding the young one with zeros
    # pulls the estimated S(3) far below that.
    assert survival(fit.alpha, fit.beta, 3)[3] == pytest.approx(0.38, abs=0.01)
    assert survival(wrongly_padded.alpha, wrongly_padded.beta, 3)[3] < 0.25
    assert log_likelihood(fit.alpha, fit.beta, [old, young]) == pytest.approx(fit.log_likelihood)


# --- awkward input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cohort_size", "curve", "message"),
    [
        # An increasing curve names both months and values.
        (100, [100, 60, 70], "increases from 60 at period 1 to 70 at period 2"),
        # An empty cohort.
        (0, [0, 0], "cohort_size must be a positive whole number, got 0"),
        # A rate where a count belongs.
        (100, [100, 0.6, 0.5], "non-integer count 0.6 at period 1"),
        # A gap in the curve.
        (100, [100, float("nan"), 50], "non-finite value nan at period 1"),
        # Period 0 must hold the whole cohort.
        (120, [100, 80], "starts with 100 customers but cohort_size is 120"),
        (100, [100, -1], "negative count -1 at period 1"),
        (100, [], "non-empty sequence"),
    ],
)
def test_project_cohort_rejects_invalid_curve(cohort_size, curve, message):
    with pytest.raises(ValueError, match=message):
        project_cohort(cohort_size, curve, 12)


def test_project_cohort_needs_two_months_without_fit():
    with pytest.raises(ValueError, match="needs at least 2 .* Pass the pooled fit"):
        project_cohort(100, [100], 12)


def test_project_cohort_rejects_negative_horizon():
    with pytest.raises(ValueError, match="through_month must be 0 or more, got -1"):
        project_cohort(100, [100, 80], -1)


def test_project_survivors_rejects_zero_draws():
    fit = fit_sbg([100, 70, 50, 40])
    with pytest.raises(ValueError, match="draws must be 1 or more, got 0"):
        project_survivors(fit, 40, 3, 6, 100, draws=0)


def test_pooled_fit_rejects_empty_and_unfittable():
    with pytest.raises(ValueError, match="curves is empty"):
        fit_sbg_pooled([])
    with pytest.raises(ValueError, match="only period 0"):
        fit_sbg_pooled([[100], [50]])
    with pytest.raises(ValueError, match="curve 1 increases"):
        fit_sbg_pooled([[100, 80], [50, 40, 45]])


def test_no_churn_falls_back_with_warning():
    with pytest.warns(RetentionModelWarning, match="no-churn rule"):
        projection = project_cohort(200, [200, 200, 200], 5)
    fit = projection.fit
    assert fit.fallback == "no_churn"
    assert math.isnan(fit.alpha)
    assert fit.customer_periods == 400

    np.testing.assert_array_equal(projection.unbounded_retention_rate, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(projection.upper_95, [1.0, 1.0, 1.0])
    # Clopper-Pearson: no churn in 400 customer-periods bounds the churn probability
    # by 1 - 0.025 ** (1 / 400) at 95 % and 1 - 0.1 ** (1 / 400) at 80 %.
    steps = np.array([1, 2, 3])
    np.testing.assert_allclose(projection.lower_95, (0.025 ** (1 / 400)) ** steps, rtol=1e-12)
    np.testing.assert_allclose(projection.lower_80, (0.1 ** (1 / 400)) ** steps, rtol=1e-12)


def test_everyone_churning_ends_on_bound():
    with pytest.warns(RetentionModelWarning, match="no interior optimum"):
        projection = project_cohort(100, [100, 0, 0], 4)
    assert not projection.fit.converged
    np.testing.assert_array_equal(projection.unbounded_retention_rate, [0.0, 0.0])
    np.testing.assert_array_equal(projection.upper_95, [0.0, 0.0])


def test_regular_fit_warns_nothing(fader_hardie_counts):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        projection = project_cohort(
            FADER_HARDIE_CUSTOMERS, fader_hardie_counts["regular"][:FIT_YEARS], 12
        )
    assert projection.fit.converged


def test_project_survivors_from_given_fit():
    # With no parameter uncertainty and 0 survivors, every draw is 0.
    fit = fit_sbg([100, 70, 50, 40])
    projection = project_survivors(
        fit, survivors=0, last_observed=3, through_period=5, cohort_size=100
    )
    np.testing.assert_array_equal(projection.unbounded_retention_rate, [0.0, 0.0])
    np.testing.assert_array_equal(projection.upper_95, [0.0, 0.0])


# --- segment projection ------------------------------------------------------------------


def segment_cells() -> pd.DataFrame:
    """Three cohorts of one segment, observed for 4, 3 and 2 months."""
    rows = [
        # cohort_month, month, cohort_size, active, unbounded
        ("2011-01-01", 0, 100, 100, 100),
        ("2011-01-01", 1, 100, 30, 60),
        ("2011-01-01", 2, 100, 20, 50),
        ("2011-01-01", 3, 100, 40, 40),
        ("2011-02-01", 0, 50, 50, 50),
        ("2011-02-01", 1, 50, 15, 30),
        ("2011-02-01", 2, 50, 20, 20),
        ("2011-03-01", 0, 80, 80, 80),
        ("2011-03-01", 1, 80, 40, 40),
    ]
    cells = pd.DataFrame(rows, columns=list(retention_model.CELL_COLUMNS))
    cells["cohort_month"] = pd.to_datetime(cells["cohort_month"]).dt.date
    return cells


def test_active_share_by_hand():
    share = active_share_by_month(segment_cells(), through_month=5)
    # Month 1 pools January and February: (30 + 15) / (60 + 30). March's last month
    # is 1, where every unbounded survivor is active, so it is left out.
    # Month 2 has only January: 20 / 50. Months 3..5 repeat that share.
    expected = [1.0, 0.5, 0.4, 0.4, 0.4, 0.4]
    assert list(share.index) == list(range(6))
    np.testing.assert_allclose(share.to_numpy(), expected, rtol=1e-12)


def test_active_share_with_longer_follow_up():
    share = active_share_by_month(segment_cells(), through_month=3, min_months_after=2)
    # Month 1 now needs a cohort observed through month 3: only January, 30 / 60.
    # Month 2 has no cohort observed through month 4, so it repeats month 1.
    np.testing.assert_allclose(share.to_numpy(), [1.0, 0.5, 0.5, 0.5], rtol=1e-12)


def test_active_share_rejects_zero_follow_up():
    with pytest.raises(ValueError, match="min_months_after must be 1 or more, got 0"):
        active_share_by_month(segment_cells(), through_month=3, min_months_after=0)


def test_project_segment_matches_pooled_fit():
    cells = segment_cells()
    result = project_segment(cells, through_month=5)
    pooled = fit_sbg_pooled([[100, 60, 50, 40], [50, 30, 20], [80, 40]])
    assert result.fit.alpha == pooled.alpha
    assert result.fit.beta == pooled.beta

    projected = result.cells
    months_by_cohort = projected.groupby("cohort_month")["months_since_first_purchase"].apply(list)
    assert months_by_cohort.tolist() == [[4, 5], [3, 4, 5], [2, 3, 4, 5]]

    # March: 40 survivors at month 1, so month t is 40 * S(t) / S(1) of 80 customers.
    alive = hand_survival(pooled.alpha, pooled.beta, 5)
    march = projected[projected["cohort_month"] == pd.Timestamp("2011-03-01").date()]
    expected = [40 * alive[t] / alive[1] / 80 for t in range(2, 6)]
    np.testing.assert_allclose(march["unbounded_retention_rate"], expected, rtol=1e-9)
    assert (march["cohort_size"] == 80).all()

    # The active rate is the unbounded rate times the share of its month.
    np.testing.assert_allclose(march["retention_rate"], np.array(expected) * 0.4, rtol=1e-9)


def test_project_segment_intervals_nest():
    projected = project_segment(segment_cells(), through_month=12).cells
    assert (projected["unbounded_lower_95"] <= projected["unbounded_lower_80"]).all()
    assert (projected["unbounded_lower_80"] <= projected["unbounded_retention_rate"]).all()
    assert (projected["unbounded_retention_rate"] <= projected["unbounded_upper_80"]).all()
    assert (projected["unbounded_upper_80"] <= projected["unbounded_upper_95"]).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # A column of marts.cohort_cell is missing.
        (
            lambda cells: cells.drop(columns="active_customers"),
            "missing the column.*active_customers",
        ),
        # January's month 2 is missing.
        (lambda cells: cells.drop(index=2), r"months since first purchase \[0, 1, 3\]"),
        # Two sizes for one cohort.
        (
            lambda cells: cells.assign(
                cohort_size=cells["cohort_size"].where(cells.index != 1, 99)
            ),
            "several cohort sizes",
        ),
        # Two segments in one call.
        (
            lambda cells: cells.assign(segment=["UK"] * 5 + ["France"] * 4),
            "mixes 2 values of segment",
        ),
        # An increasing curve names the cohort.
        (
            lambda cells: cells.assign(
                unbounded_active_customers=cells["unbounded_active_customers"].where(
                    cells.index != 2, 70
                )
            ),
            "cohort 2011-01-01 increases",
        ),
        (lambda cells: cells.iloc[0:0], "cells is empty"),
    ],
)
def test_project_segment_rejects_invalid_cells(change, message):
    with pytest.raises(ValueError, match=message):
        project_segment(change(segment_cells()), through_month=6)


def test_single_churn_step_projects_finite_bands():
    # One period of churn fixes only alpha / (alpha + beta): the covariance is
    # nearly singular, so the bands leave out parameter uncertainty instead of
    # drawing parameters that overflow.
    with pytest.warns(RetentionModelWarning, match="single churn step"):
        fit = fit_sbg([885, 324])
    assert fit.covariance is None
    assert fit.converged is False
    assert fit.alpha / (fit.alpha + fit.beta) == pytest.approx(1 - 324 / 885, abs=1e-4)
    projection = project_cohort(885, [885, 324], through_month=6, fit=fit)
    for values in (projection.lower_95, projection.upper_95):
        assert np.all(np.isfinite(values))
    assert np.all(projection.lower_95 <= projection.unbounded_retention_rate)
    assert np.all(projection.unbounded_retention_rate <= projection.upper_95)
