"""Unit tests for the BG/NBD customer model.

The published figures come from Fader, P. S., Hardie, B. G. S. and Lee, K. L.
(2005), "'Counting Your Customers' the Easy Way: An Alternative to the Pareto/NBD
Model", Marketing Science 24(2), 275-284: the maximum-likelihood estimates
r = 0.243, alpha = 4.414, a = 0.793, b = 2.426 and the log-likelihood -9582.4 on
the CDNOW sample of 2,357 customers, with time in weeks.
"""

import csv
import importlib.metadata
import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from cohortintel.customer_model import (
    BGNBDFit,
    expected_purchases,
    fit_bgnbd,
    log_likelihood,
    probability_alive,
    validate_customers,
)

# The Lifetimes wheel (a development requirement) contains the CDNOW summary:
# frequency (x), recency (t_x) and T in weeks, one row per customer.
CDNOW_DISTRIBUTION = "Lifetimes"
CDNOW_FILE = "lifetimes/datasets/cdnow_customers_summary.csv"
CDNOW_CUSTOMERS = 2357

PUBLISHED_ESTIMATES = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LOG_LIKELIHOOD = -9582.4


def read_cdnow() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (x, t_x, T) of the CDNOW customers from the Lifetimes distribution."""
    try:
        distribution = importlib.metadata.distribution(CDNOW_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(
            f"The {CDNOW_DISTRIBUTION} distribution, which contains the CDNOW data, is not "
            "installed. Install it with: pip install -r requirements-dev.txt"
        )
    path = distribution.locate_file(CDNOW_FILE)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    x = np.array([float(row["frequency"]) for row in rows])
    t_x = np.array([float(row["recency"]) for row in rows])
    T = np.array([float(row["T"]) for row in rows])
    return x, t_x, T


@pytest.fixture(scope="module")
def cdnow() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return read_cdnow()


@pytest.fixture(scope="module")
def cdnow_fit(cdnow) -> BGNBDFit:
    return fit_bgnbd(*cdnow)


def published_fit() -> BGNBDFit:
    return BGNBDFit(
        **PUBLISHED_ESTIMATES,
        log_likelihood=math.nan,
        converged=True,
        message="published",
        starts=0,
        customers=CDNOW_CUSTOMERS,
    )


def test_cdnow_has_published_sample_size(cdnow):
    x, t_x, T = cdnow
    assert x.size == CDNOW_CUSTOMERS
    # The customers joined over 12 weeks and are observed to the same end date.
    assert T.min() == 27.0
    assert T.max() == 38.86
    assert np.all(t_x <= T)


@pytest.mark.parametrize("name", sorted(PUBLISHED_ESTIMATES))
def test_fit_cdnow_matches_published_estimate(cdnow_fit, name):
    fitted = cdnow_fit.parameters[name]
    assert round(fitted, 3) == pytest.approx(PUBLISHED_ESTIMATES[name], abs=0.001)


def test_fit_cdnow_matches_published_log_likelihood(cdnow_fit):
    assert cdnow_fit.converged
    assert round(cdnow_fit.log_likelihood, 1) == pytest.approx(PUBLISHED_LOG_LIKELIHOOD, abs=0.05)


def test_fit_cdnow_is_maximum(cdnow, cdnow_fit):
    # A step of 1 % in any parameter lowers the log-likelihood.
    for name in PUBLISHED_ESTIMATES:
        for factor in (0.99, 1.01):
            params = dict(cdnow_fit.parameters)
            params[name] *= factor
            assert log_likelihood(**params, frequency=cdnow[0], recency=cdnow[1], age=cdnow[2]) < (
                cdnow_fit.log_likelihood
            )


def test_log_likelihood_matches_hand_formula():
    r, alpha, a, b = 0.5, 3.0, 0.8, 2.5
    # Customer 1: x = 0, T = 10. Only the "still alive" term.
    alive_only = (alpha / (alpha + 10.0)) ** r
    # Customer 2: x = 3, t_x = 6, T = 10.
    gamma_ratio = math.gamma(r + 3) / math.gamma(r)
    beta_alive = special.beta(a, b + 3) / special.beta(a, b)
    beta_dropped = special.beta(a + 1, b + 2) / special.beta(a, b)
    with_repeats = (
        gamma_ratio
        * alpha**r
        * (beta_alive / (alpha + 10.0) ** (r + 3) + beta_dropped / (alpha + 6.0) ** (r + 3))
    )
    expected = math.log(alive_only) + math.log(with_repeats)
    value = log_likelihood(r, alpha, a, b, [0, 3], [0.0, 6.0], [10.0, 10.0])
    assert value == pytest.approx(expected, rel=1e-12)


def test_probability_alive_without_repeat_is_one():
    fit = published_fit()
    assert probability_alive(fit, [0, 0], [0.0, 0.0], [0.0, 38.86]).tolist() == [1.0, 1.0]


def test_probability_alive_matches_hand_formula():
    fit = published_fit()
    x, t_x, T = 2, 30.43, 38.86
    odds = fit.a / (fit.b + x - 1) * ((fit.alpha + T) / (fit.alpha + t_x)) ** (fit.r + x)
    value = probability_alive(fit, [x], [t_x], [T])[0]
    assert value == pytest.approx(1.0 / (1.0 + odds), rel=1e-12)


def test_probability_alive_purchase_at_age():
    # A purchase at T leaves only the dropout right after it.
    fit = published_fit()
    value = probability_alive(fit, [4], [20.0], [20.0])[0]
    assert value == pytest.approx((fit.b + 3) / (fit.a + fit.b + 3), rel=1e-12)


def test_probability_alive_falls_with_time_since_purchase():
    fit = published_fit()
    values = probability_alive(fit, [3, 3, 3], [30.0, 20.0, 10.0], [38.0, 38.0, 38.0])
    assert values[0] > values[1] > values[2]


def expected_purchases_by_integration(fit: BGNBDFit, horizon, x, t_x, T) -> float:
    """Integrate E[Y(t)] over the posterior of p for a customer alive at T.

    Given alive, lambda is Gamma(r + x, alpha + T) and p is Beta(a, b + x). A customer
    with (lambda, p) buys (1 - exp(-lambda p t)) / p times in expectation before
    dropping out, and E_lambda[exp(-lambda p t)] = ((alpha + T) / (alpha + T + p t))^(r + x).
    """
    posterior = stats.beta(fit.a, fit.b + x)

    def integrand(p: float) -> float:
        shrink = ((fit.alpha + T) / (fit.alpha + T + p * horizon)) ** (fit.r + x)
        return (1.0 - shrink) / p * posterior.pdf(p)

    purchases_if_alive, _ = integrate.quad(integrand, 0.0, 1.0, limit=200, epsabs=1e-12)
    alive = probability_alive(fit, [x], [t_x], [T])[0]
    return alive * purchases_if_alive


@pytest.mark.parametrize(
    ("horizon", "x", "t_x", "T"),
    [
        (39.0, 2, 30.43, 38.86),  # a CDNOW customer, 39 weeks ahead
        (39.0, 0, 0.0, 38.86),  # no repeat purchase
        (10.0, 7, 29.43, 38.86),  # frequent buyer, shorter horizon
        (52.0, 1, 1.71, 38.86),  # one early repeat purchase
        (3.0, 5, 12.0, 12.0),  # purchase at T, months as in the warehouse
    ],
)
def test_expected_purchases_matches_integral(horizon, x, t_x, T):
    fit = published_fit()
    value = expected_purchases(fit, horizon, [x], [t_x], [T])[0]
    assert value == pytest.approx(
        expected_purchases_by_integration(fit, horizon, x, t_x, T), rel=1e-6
    )


def test_expected_purchases_with_a_above_one_matches_integral():
    fit = BGNBDFit(1.2, 2.0, 3.5, 5.0, math.nan, True, "hand-picked", 0, 1)
    value = expected_purchases(fit, 6.0, [4], [8.0], [11.0])[0]
    assert value == pytest.approx(
        expected_purchases_by_integration(fit, 6.0, 4, 8.0, 11.0), rel=1e-6
    )


def test_expected_purchases_near_a_equal_one_is_continuous():
    at_one = BGNBDFit(0.5, 4.0, 1.0, 2.0, math.nan, True, "hand-picked", 0, 1)
    near_one = BGNBDFit(0.5, 4.0, 1.001, 2.0, math.nan, True, "hand-picked", 0, 1)
    value = expected_purchases(at_one, 12.0, [3], [9.0], [12.0])[0]
    assert value == pytest.approx(
        expected_purchases(near_one, 12.0, [3], [9.0], [12.0])[0], rel=1e-3
    )
    assert value == pytest.approx(
        expected_purchases_by_integration(at_one, 12.0, 3, 9.0, 12.0), rel=1e-5
    )


def test_expected_purchases_zero_horizon_is_zero():
    assert expected_purchases(published_fit(), 0.0, [3], [2.0], [5.0])[0] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("frequency", "recency", "age", "message"),
    [
        ([-1], [0.0], [5.0], "frequency has the negative value -1"),
        ([1.5], [1.0], [5.0], "non-integer value 1.5"),
        ([2], [6.0], [5.0], "recency 6 is greater than age 5"),
        ([1], [float("nan")], [5.0], "recency has the non-finite value nan"),
        ([1], [1.0], [float("inf")], "age has the non-finite value inf"),
        ([0], [2.0], [5.0], "recency is 2 for customer 0, who has no repeat purchase"),
        ([1, 2], [1.0], [5.0, 5.0], "same length"),
    ],
)
def test_validate_customers_rejects_bad_input(frequency, recency, age, message):
    with pytest.raises(ValueError, match=message):
        validate_customers(frequency, recency, age)


def test_validate_customers_names_customer():
    with pytest.raises(ValueError, match="for customer 2"):
        validate_customers([0, 1, -3], [0.0, 1.0, 0.0], [4.0, 4.0, 4.0])


def test_fit_without_repeat_purchase_raises():
    with pytest.raises(ValueError, match="No customer has a repeat purchase"):
        fit_bgnbd([0, 0], [0.0, 0.0], [3.0, 4.0])


def test_expected_purchases_rejects_negative_horizon():
    with pytest.raises(ValueError, match="horizon must be a finite number >= 0, got -1"):
        expected_purchases(published_fit(), -1.0, [1], [1.0], [2.0])


def test_log_likelihood_rejects_non_positive_parameter():
    with pytest.raises(ValueError, match="parameter b must be positive, got 0.0"):
        log_likelihood(0.2, 4.0, 0.8, 0.0, [1], [1.0], [2.0])
