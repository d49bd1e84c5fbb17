"""Project customer retention with the shifted-beta-geometric (sBG) model.

Each customer churns at the end of any period with a probability theta that stays
fixed for that customer, and theta varies across customers as Beta(alpha, beta).
Period t = 0 is the period of the first purchase, and every customer is alive at
its start. The lifetime T is the first period a customer is no longer alive:

    P(T = 1) = alpha / (alpha + beta)
    P(T = t) = (beta + t - 2) / (alpha + beta + t - 1) * P(T = t - 1)    for t >= 2
    S(0) = 1
    S(t) = (beta + t - 1) / (alpha + beta + t - 1) * S(t - 1)            for t >= 1

which in closed form are P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta) and
S(t) = B(alpha, beta + t) / B(alpha, beta). The module computes them with
``scipy.special.betaln`` so that large parameters stay accurate.

For cohorts, the survivors at the start of month k are the customers with a
purchase in month k or later (``unbounded_active_customers`` in
``marts.cohort_cell``), so month 0 contains the whole cohort.

Reference: Fader, P. S. and Hardie, B. G. S. (2007), "How to Project Customer
Retention", Journal of Interactive Marketing 21(1), 76-90. With the counts of its
"Regular" and "High End" segments for years 0..7, ``fit_sbg`` returns the published
estimates (alpha 0.704, beta 1.182 and alpha 0.668, beta 3.806).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special

logger = logging.getLogger(__name__)

# Bounds of log(alpha) and log(beta) for the optimiser. Beyond them the sBG curve
# is indistinguishable from its limits. Alpha and beta near e^12 (about 160,000)
# describe one churn probability shared by every customer, a geometric lifetime.
# Near e^-12, each customer churns in the first period or never.
LOG_PARAMETER_BOUNDS = (-12.0, 12.0)
# A variance of log alpha or log beta above this (a standard error of 5, a factor
# of about 150) means the data fix only a combination of the two, as with a
# single churn step. Such a covariance is not used.
MAX_LOG_VARIANCE = 25.0

# Starting points (log alpha, log beta) tried besides the moment estimate.
_GRID_STARTS: tuple[tuple[float, float], ...] = ((0.0, 0.0), (-1.0, 1.0), (1.0, 2.0))

DEFAULT_DRAWS = 10_000
INTERVAL_LEVELS = (0.80, 0.95)

FALLBACK_NO_CHURN = "no_churn"

CELL_COLUMNS = (
    "cohort_month",
    "months_since_first_purchase",
    "cohort_size",
    "active_customers",
    "unbounded_active_customers",
)


class RetentionModelWarning(UserWarning):
    """A retention fit that did not converge, hit a bound or fell back to a simpler rule."""


@dataclass(frozen=True)
class SBGFit:
    """Maximum-likelihood estimate of the sBG model on one or more survivor curves.

    ``covariance`` is the asymptotic covariance of (log alpha, log beta), the inverse of
    the observed information at the estimate. It is None when the information matrix
    is not positive definite, such as at a parameter bound. ``converged`` is True only
    for an interior optimum with a covariance. ``fallback`` names the
    rule used instead of the model (``"no_churn"`` when no customer churned), and
    alpha and beta are then NaN.
    """

    alpha: float
    beta: float
    log_likelihood: float
    converged: bool
    message: str
    starts: int
    covariance: np.ndarray | None
    cohorts: int
    customers: int
    customer_periods: int
    fallback: str | None = None

    @property
    def standard_errors(self) -> tuple[float, float]:
        """Return the delta-method standard errors of alpha and beta (NaN without a covariance)."""
        if self.covariance is None:
            return (math.nan, math.nan)
        log_errors = np.sqrt(np.diag(self.covariance))
        return (self.alpha * float(log_errors[0]), self.beta * float(log_errors[1]))


@dataclass(frozen=True)
class CohortProjection:
    """Projected unbounded retention rate of one cohort for the months it has not lived.

    Rates are shares of the cohort size. The intervals are prediction intervals for
    the rate the cohort will show, so they include the chance variation of a cohort of
    this size as well as the uncertainty of alpha and beta.
    """

    months_since_first_purchase: np.ndarray
    unbounded_retention_rate: np.ndarray
    lower_80: np.ndarray
    upper_80: np.ndarray
    lower_95: np.ndarray
    upper_95: np.ndarray
    fit: SBGFit

    def to_frame(self) -> pd.DataFrame:
        """Return the projection as a DataFrame with one row per month."""
        return pd.DataFrame(
            {
                "months_since_first_purchase": self.months_since_first_purchase,
                "unbounded_retention_rate": self.unbounded_retention_rate,
                "lower_80": self.lower_80,
                "upper_80": self.upper_80,
                "lower_95": self.lower_95,
                "upper_95": self.upper_95,
            }
        )


def churn_probabilities(alpha: float, beta: float, last_period: int) -> np.ndarray:
    """Return P(T = t) for t = 1..last_period."""
    periods = np.arange(1, last_period + 1)
    return np.exp(special.betaln(alpha + 1.0, beta + periods - 1.0) - special.betaln(alpha, beta))


def survival(alpha: float, beta: float, last_period: int) -> np.ndarray:
    """Return S(t), the share alive at the start of period t, for t = 0..last_period."""
    periods = np.arange(0, last_period + 1)
    return np.exp(special.betaln(alpha, beta + periods) - special.betaln(alpha, beta))


def retention_rates(alpha: float, beta: float, last_period: int) -> np.ndarray:
    """Return r(t) = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1) for t = 1..last_period."""
    periods = np.arange(1, last_period + 1)
    return (beta + periods - 1.0) / (alpha + beta + periods - 1.0)


def validate_survivors(
    survivors: Sequence[float] | np.ndarray,
    cohort_size: int | None = None,
    name: str = "survivors",
) -> np.ndarray:
    """Check a survivor curve and return it as an integer array.

    The curve contains the customers alive at the start of periods 0, 1, ... It must
    be finite, whole, non-negative and non-increasing, and start at ``cohort_size``
    (at its own first value when that is None). Raise ValueError naming the bad value.
    """
    values = np.asarray(survivors, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"{name} must be a non-empty sequence of counts by period, got shape {values.shape}."
        )
    if cohort_size is not None:
        if not (isinstance(cohort_size, int | np.integer) and cohort_size > 0):
            raise ValueError(
                f"cohort_size must be a positive whole number, got {cohort_size!r}. "
                "An empty cohort has no retention to project, so leave it out."
            )
    missing = np.flatnonzero(~np.isfinite(values))
    if missing.size:
        period = int(missing[0])
        raise ValueError(
            f"{name} has the non-finite value {values[period]} at period {period}. "
            "Pass a count for every period from 0 to the last one observed."
        )
    fractional = np.flatnonzero(values != np.round(values))
    if fractional.size:
        period = int(fractional[0])
        raise ValueError(
            f"{name} has the non-integer count {values[period]} at period {period}. "
            "Pass customer counts, not rates."
        )
    negative = np.flatnonzero(values < 0)
    if negative.size:
        period = int(negative[0])
        raise ValueError(f"{name} has the negative count {values[period]:g} at period {period}.")
    expected_start = values[0] if cohort_size is None else cohort_size
    if expected_start <= 0:
        raise ValueError(
            f"{name} starts with {values[0]:g} customers, but a cohort needs at least one. "
            "Leave empty cohorts out."
        )
    if values[0] != expected_start:
        raise ValueError(
            f"{name} starts with {values[0]:g} customers but cohort_size is {cohort_size}. "
            "Every customer is active in the month of the first purchase, so period 0 "
            "must equal the cohort size."
        )
    increases = np.flatnonzero(np.diff(values) > 0)
    if increases.size:
        period = int(increases[0])
        raise ValueError(
            f"{name} increases from {values[period]:g} at period {period} to "
            f"{values[period + 1]:g} at period {period + 1}. A survivor count (customers "
            "active in that period or later) cannot grow; check that the periods are in "
            "order and that the counts are unbounded, not monthly, active customers."
        )
    return values.astype(np.int64)


@dataclass(frozen=True)
class _SufficientStatistics:
    """Churned and censored customers by period, summed over cohorts."""

    churned: np.ndarray  # churned[t]: customers with T = t (index 0 is always 0)
    censored: np.ndarray  # censored[t]: customers still alive at the cohort's last period t
    customers: int
    customer_periods: int


def _sufficient_statistics(curves: Sequence[np.ndarray]) -> _SufficientStatistics:
    last_period = max(len(curve) for curve in curves) - 1
    churned = np.zeros(last_period + 1, dtype=np.int64)
    censored = np.zeros(last_period + 1, dtype=np.int64)
    customer_periods = 0
    for curve in curves:
        churned[1 : len(curve)] += curve[:-1] - curve[1:]
        censored[len(curve) - 1] += curve[-1]
        customer_periods += int(curve[:-1].sum())
    customers = int(sum(int(curve[0]) for curve in curves))
    return _SufficientStatistics(churned, censored, customers, customer_periods)


def _betaln_terms(stats: _SufficientStatistics, alpha: float, beta: float):
    """Return weights and arguments (x, y) of the B(x, y) terms of the log-likelihood.

    log L = sum_t churned[t] * log B(alpha + 1, beta + t - 1)
          + sum_t censored[t] * log B(alpha, beta + t)
          - customers * log B(alpha, beta)
    """
    periods = np.arange(stats.churned.size)
    churn_at = np.flatnonzero(stats.churned)
    censor_at = np.flatnonzero(stats.censored)
    weights = np.concatenate([stats.churned[churn_at], stats.censored[censor_at]]).astype(float)
    x = np.concatenate([np.full(churn_at.size, alpha + 1.0), np.full(censor_at.size, alpha)])
    y = np.concatenate([beta + periods[churn_at] - 1.0, beta + periods[censor_at]])
    return weights, x, y


def _log_likelihood(stats: _SufficientStatistics, alpha: float, beta: float) -> float:
    weights, x, y = _betaln_terms(stats, alpha, beta)
    return float(weights @ special.betaln(x, y) - stats.customers * special.betaln(alpha, beta))


def _log_likelihood_derivatives(
    stats: _SufficientStatistics, log_alpha: float, log_beta: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return the gradient and Hessian of the log-likelihood in (log alpha, log beta).

    d/dx log B(x, y) = digamma(x) - digamma(x + y), and the second derivatives use
    the trigamma function the same way.
    """
    alpha, beta = math.exp(log_alpha), math.exp(log_beta)
    weights, x, y = _betaln_terms(stats, alpha, beta)
    n = stats.customers
    psi_xy, psi1_xy = special.digamma(x + y), special.polygamma(1, x + y)
    psi_ab, psi1_ab = special.digamma(alpha + beta), special.polygamma(1, alpha + beta)

    grad_alpha = weights @ (special.digamma(x) - psi_xy) - n * (special.digamma(alpha) - psi_ab)
    grad_beta = weights @ (special.digamma(y) - psi_xy) - n * (special.digamma(beta) - psi_ab)
    hess_aa = weights @ (special.polygamma(1, x) - psi1_xy) - n * (
        special.polygamma(1, alpha) - psi1_ab
    )
    hess_bb = weights @ (special.polygamma(1, y) - psi1_xy) - n * (
        special.polygamma(1, beta) - psi1_ab
    )
    hess_ab = -(weights @ psi1_xy) + n * psi1_ab

    # Chain rule from (alpha, beta) to their logarithms.
    gradient = np.array([alpha * grad_alpha, beta * grad_beta])
    hessian = np.array(
        [
            [alpha**2 * hess_aa + alpha * grad_alpha, alpha * beta * hess_ab],
            [alpha * beta * hess_ab, beta**2 * hess_bb + beta * grad_beta],
        ]
    )
    return gradient, hessian


def log_likelihood(alpha: float, beta: float, curves: Sequence[Sequence[float]]) -> float:
    """Return the sBG log-likelihood of survivor curves, each censored at its last period.

    A curve's customers who churn in period t contribute log P(T = t), and those
    still alive at its last period n contribute log S(n).
    """
    validated = [validate_survivors(curve, name=f"curve {i}") for i, curve in enumerate(curves)]
    return _log_likelihood(_sufficient_statistics(validated), alpha, beta)


def _moment_start(stats: _SufficientStatistics) -> tuple[float, float] | None:
    """Solve the first two pooled retention rates for (log alpha, log beta), if possible.

    r(1) = beta / (alpha + beta) and r(2) = (beta + 1) / (alpha + beta + 1) give
    alpha + beta = (1 - r(2)) / (r(2) - r(1)), which needs r(1) < r(2) < 1.
    """
    if stats.churned.size < 3:
        return None
    # Customers at risk of churning in period t: alive at the start of t - 1 in a
    # cohort observed through period t or later.
    at_risk = stats.churned[::-1].cumsum()[::-1] + stats.censored[::-1].cumsum()[::-1]
    if at_risk[1] == 0 or at_risk[2] == 0:
        return None
    r1 = 1.0 - stats.churned[1] / at_risk[1]
    r2 = 1.0 - stats.churned[2] / at_risk[2]
    if not 0.0 < r1 < r2 < 1.0:
        return None
    total = (1.0 - r2) / (r2 - r1)
    low, high = LOG_PARAMETER_BOUNDS
    return (
        float(np.clip(math.log(total * (1.0 - r1)), low, high)),
        float(np.clip(math.log(total * r1), low, high)),
    )


def _minimise(stats: _SufficientStatistics, start: tuple[float, float]):
    # The objective is per customer so that the optimiser's tolerances mean the
    # same for a cohort of 100 and a pool of a million customers.
    scale = 1.0 / stats.customers

    def objective(params: np.ndarray) -> tuple[float, np.ndarray]:
        value = _log_likelihood(stats, math.exp(params[0]), math.exp(params[1]))
        gradient, _ = _log_likelihood_derivatives(stats, params[0], params[1])
        return -value * scale, -gradient * scale

    return optimize.minimize(
        objective,
        np.array(start),
        jac=True,
        method="L-BFGS-B",
        bounds=[LOG_PARAMETER_BOUNDS, LOG_PARAMETER_BOUNDS],
        options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-9},
    )


def _covariance(hessian: np.ndarray) -> np.ndarray | None:
    """Return the covariance of (log alpha, log beta), or None when it is not usable.

    The information matrix must be positive definite, and the variances finite and
    at most MAX_LOG_VARIANCE: a nearly singular matrix passes the first test but
    gives variances so large that sampled parameters overflow.
    """
    information = -hessian
    try:
        np.linalg.cholesky(information)
    except np.linalg.LinAlgError:
        return None
    covariance = np.linalg.inv(information)
    variances = np.diag(covariance)
    if not np.all(np.isfinite(covariance)) or variances.max() > MAX_LOG_VARIANCE:
        return None
    return covariance


def _no_churn_fit(stats: _SufficientStatistics, cohorts: int) -> SBGFit:
    warnings.warn(
        f"No customer churned in {stats.customer_periods} customer-periods, so alpha and "
        "beta have no finite estimate. Falling back to the no-churn rule: the projection "
        "keeps the last observed survivors, and its lower bounds assume a constant churn "
        "probability at the Clopper-Pearson upper bound.",
        RetentionModelWarning,
        stacklevel=3,
    )
    return SBGFit(
        alpha=math.nan,
        beta=math.nan,
        log_likelihood=0.0,
        converged=False,
        message="no churn observed; the no-churn rule replaces the model",
        starts=0,
        covariance=None,
        cohorts=cohorts,
        customers=stats.customers,
        customer_periods=stats.customer_periods,
        fallback=FALLBACK_NO_CHURN,
    )


def fit_sbg_pooled(curves: Sequence[Sequence[float]]) -> SBGFit:
    """Fit one (alpha, beta) to several survivor curves by maximum likelihood.

    Each curve contains the customers alive at the start of periods 0..n of one cohort
    and is right-censored at its own last period n, so young cohorts add what they
    have lived and old cohorts carry the tail. The log-likelihood is the sum over the
    cohorts. The optimiser (L-BFGS-B on log alpha and log beta with the analytic
    gradient) starts from the moment estimate of the first two retention rates and
    from a small grid, and the best optimum wins. A fit that did not converge, ended
    on a bound of ``LOG_PARAMETER_BOUNDS`` or has a singular information matrix warns
    with RetentionModelWarning.
    """
    if len(curves) == 0:
        raise ValueError("curves is empty. Pass at least one survivor curve to fit.")
    validated = [validate_survivors(curve, name=f"curve {i}") for i, curve in enumerate(curves)]
    if max(len(curve) for curve in validated) < 2:
        raise ValueError(
            "Every curve has only period 0, so no churn can be observed. Pass at least "
            "one curve with two or more periods."
        )
    stats = _sufficient_statistics(validated)
    if stats.churned.sum() == 0:
        return _no_churn_fit(stats, len(validated))

    moment_start = _moment_start(stats)
    starts = ([moment_start] if moment_start else []) + list(_GRID_STARTS)
    results = [_minimise(stats, start) for start in starts]
    best = min(results, key=lambda result: result.fun)
    log_alpha, log_beta = (float(value) for value in best.x)
    _, hessian = _log_likelihood_derivatives(stats, log_alpha, log_beta)
    covariance = _covariance(hessian)
    at_bound = any(value in LOG_PARAMETER_BOUNDS for value in (log_alpha, log_beta))

    fit = SBGFit(
        alpha=math.exp(log_alpha),
        beta=math.exp(log_beta),
        log_likelihood=_log_likelihood(stats, math.exp(log_alpha), math.exp(log_beta)),
        converged=bool(best.success) and not at_bound and covariance is not None,
        message=str(best.message),
        starts=len(starts),
        covariance=covariance,
        cohorts=len(validated),
        customers=stats.customers,
        customer_periods=stats.customer_periods,
    )
    if not best.success:
        warnings.warn(
            f"The sBG fit did not converge ({best.message}); alpha={fit.alpha:.4g}, "
            f"beta={fit.beta:.4g} are the best of {len(starts)} starts.",
            RetentionModelWarning,
            stacklevel=2,
        )
    elif at_bound or covariance is None:
        warnings.warn(
            f"The sBG fit has no interior optimum (alpha={fit.alpha:.4g}, "
            f"beta={fit.beta:.4g}): it ended on a parameter bound or where the "
            "log-likelihood is flat, as when every customer churns in the first period "
            "or a single churn step pins down only the average churn. "
            "Projections use these values, and their intervals leave out parameter "
            "uncertainty when the covariance is unavailable.",
            RetentionModelWarning,
            stacklevel=2,
        )
    logger.debug(
        "sBG fit on %s cohorts, %s customers: alpha %.4f, beta %.4f, log-likelihood %.2f, converged %s",
        fit.cohorts,
        fit.customers,
        fit.alpha,
        fit.beta,
        fit.log_likelihood,
        fit.converged,
    )
    return fit


def fit_sbg(survivors: Sequence[float]) -> SBGFit:
    """Fit the sBG model to one survivor curve (alive at the start of periods 0..n)."""
    return fit_sbg_pooled([survivors])


def _interval_quantiles() -> np.ndarray:
    tails = [(1.0 - level) / 2.0 for level in INTERVAL_LEVELS]
    # Ordered as lower_80, upper_80, lower_95, upper_95.
    return np.array([tails[0], 1.0 - tails[0], tails[1], 1.0 - tails[1]])


def project_survivors(
    fit: SBGFit,
    survivors: int,
    last_observed: int,
    through_period: int,
    cohort_size: int,
    draws: int = DEFAULT_DRAWS,
    seed: int | np.random.SeedSequence | None = 0,
) -> CohortProjection:
    """Project a cohort's unbounded retention rate for periods last_observed+1..through_period.

    The point projection is survivors * S(t) / S(n) / cohort_size at the estimate,
    with n = last_observed. The intervals come from simulation. (log alpha, log beta)
    is drawn ``draws`` times from its asymptotic normal distribution. Given a draw,
    the survivors at period t are Binomial(survivors, S(t) / S(n)), because each
    customer alive at n survives to t with that probability independently of the
    others. The quantiles of the simulated counts give the 80 % and 95 % intervals.
    ``seed`` makes the intervals repeatable; pass None for fresh randomness.
    """
    if draws < 1:
        raise ValueError(f"draws must be 1 or more, got {draws}; the default is {DEFAULT_DRAWS}.")
    periods = np.arange(last_observed + 1, through_period + 1)
    rng = np.random.default_rng(seed)
    quantiles = _interval_quantiles()
    if periods.size == 0:
        empty = np.empty(0)
        return CohortProjection(periods, empty, empty, empty, empty, empty, fit)

    if fit.fallback == FALLBACK_NO_CHURN:
        return _project_without_churn(fit, survivors, periods - last_observed, cohort_size, periods)

    alpha, beta = fit.alpha, fit.beta
    log_ratio = special.betaln(alpha, beta + periods) - special.betaln(alpha, beta + last_observed)
    point = survivors * np.exp(log_ratio) / cohort_size

    if fit.covariance is None:
        parameter_draws = np.tile([math.log(alpha), math.log(beta)], (draws, 1))
    else:
        parameter_draws = np.clip(
            rng.multivariate_normal([math.log(alpha), math.log(beta)], fit.covariance, size=draws),
            *LOG_PARAMETER_BOUNDS,
        )
    alpha_draws = np.exp(parameter_draws[:, :1])
    beta_draws = np.exp(parameter_draws[:, 1:])
    survive_probability = np.exp(
        special.betaln(alpha_draws, beta_draws + periods)
        - special.betaln(alpha_draws, beta_draws + last_observed)
    )
    counts = rng.binomial(survivors, survive_probability)
    bounds = np.quantile(counts, quantiles, axis=0) / cohort_size
    return CohortProjection(periods, point, *bounds, fit)


def _project_without_churn(
    fit: SBGFit,
    survivors: int,
    steps: np.ndarray,
    cohort_size: int,
    periods: np.ndarray,
) -> CohortProjection:
    """Keep the survivors flat and bound the decline by the Clopper-Pearson churn bound.

    With no churn in m customer-periods, the two-sided level-L Clopper-Pearson
    interval for a constant churn probability is [0, 1 - ((1 - L) / 2) ** (1 / m)].
    The lower bound of the rate assumes that upper churn probability for every
    remaining period. It ignores chance variation and differences between
    customers, so it is a rough band, not an sBG interval.
    """
    rate = survivors / cohort_size
    point = np.full(periods.size, rate)
    lower = []
    for level in INTERVAL_LEVELS:
        churn_bound = 1.0 - ((1.0 - level) / 2.0) ** (1.0 / fit.customer_periods)
        lower.append(rate * (1.0 - churn_bound) ** steps)
    return CohortProjection(periods, point, lower[0], point.copy(), lower[1], point.copy(), fit)


def project_cohort(
    cohort_size: int,
    unbounded_active_customers: Sequence[float],
    through_month: int,
    fit: SBGFit | None = None,
    draws: int = DEFAULT_DRAWS,
    seed: int | np.random.SeedSequence | None = 0,
) -> CohortProjection:
    """Project a cohort's unbounded retention rate for the months it has not lived yet.

    ``unbounded_active_customers[k]`` is the number of the cohort's customers with a
    purchase in month k or later, for k = 0 up to the last month observed, so it
    starts at ``cohort_size`` and never increases. The result covers the months after
    the last one observed through ``through_month`` (months since first purchase) and
    is empty when the cohort has already lived them all.

    Without ``fit`` the cohort is fitted alone, which needs at least months 0 and 1.
    Young cohorts should pass the pooled fit of their segment (``fit_sbg_pooled``),
    which also projects a cohort that has lived only month 0.

    NOTE: a customer counts as active in month k or later only once a later purchase
    is in the data, so the last observed months of every cohort are low until its
    customers buy again. Leave out an incomplete current month before calling this.
    """
    curve = validate_survivors(
        unbounded_active_customers, cohort_size, name="unbounded_active_customers"
    )
    if through_month < 0:
        raise ValueError(f"through_month must be 0 or more, got {through_month}.")
    if fit is None:
        if curve.size < 2:
            raise ValueError(
                f"unbounded_active_customers has {curve.size} observed month(s). Fitting a "
                "cohort alone needs at least 2 (months 0 and 1). Pass the pooled fit of the "
                "cohort's segment as fit= to project a younger cohort."
            )
        fit = fit_sbg(curve)
    return project_survivors(
        fit,
        survivors=int(curve[-1]),
        last_observed=curve.size - 1,
        through_period=through_month,
        cohort_size=cohort_size,
        draws=draws,
        seed=seed,
    )


@dataclass(frozen=True)
class SegmentProjection:
    """Projected cells of every cohort of one segment, with the pooled fit behind them."""

    cells: pd.DataFrame
    fit: SBGFit
    active_share: pd.Series


def _cohort_curves(cells: pd.DataFrame) -> dict:
    """Split a segment's cells into validated survivor curves keyed by cohort_month."""
    missing = [column for column in CELL_COLUMNS if column not in cells.columns]
    if missing:
        raise ValueError(
            f"cells is missing the column(s) {', '.join(missing)}. Expected the columns of "
            f"marts.cohort_cell: {', '.join(CELL_COLUMNS)}."
        )
    if cells.empty:
        raise ValueError("cells is empty. Pass the observed cells of at least one cohort.")
    for column in ("segment_type", "segment"):
        if column in cells.columns and cells[column].nunique(dropna=False) > 1:
            raise ValueError(
                f"cells mixes {cells[column].nunique(dropna=False)} values of {column}. "
                "Cohorts of different segments do not share alpha and beta. Group the "
                "cells by segment_type and segment and project each group."
            )

    curves = {}
    for cohort_month, cohort in cells.groupby("cohort_month", sort=True):
        cohort = cohort.sort_values("months_since_first_purchase")
        months = cohort["months_since_first_purchase"].to_numpy()
        if not np.array_equal(months, np.arange(months.size)):
            raise ValueError(
                f"cohort {cohort_month} has the months since first purchase "
                f"{months.tolist()}. Expected every month from 0 to its last one once. "
                "Pass every cell the cohort has lived."
            )
        sizes = cohort["cohort_size"].unique()
        if sizes.size != 1:
            raise ValueError(
                f"cohort {cohort_month} has several cohort sizes {sorted(sizes.tolist())}. "
                "A cohort's size is fixed at its first month."
            )
        curves[cohort_month] = validate_survivors(
            cohort["unbounded_active_customers"].to_numpy(),
            int(sizes[0]),
            name=f"unbounded_active_customers of cohort {cohort_month}",
        )
    return curves


def active_share_by_month(
    cells: pd.DataFrame, through_month: int, min_months_after: int = 1
) -> pd.Series:
    """Estimate the active share of the unbounded survivors at each month since first purchase.

    The share at month k is the sum of ``active_customers`` over the sum of
    ``unbounded_active_customers`` at k, pooled over the cohorts that have lived at
    least ``min_months_after`` months after k. A cohort's last month is left out
    because there every unbounded survivor is active by definition. Months without
    such a cohort, up to ``through_month``, repeat the last estimated share.

    NOTE: a cohort observed only a few months past k undercounts its unbounded
    survivors at k, because purchases after its last month are not in the data yet.
    That inflates the share. A larger ``min_months_after`` reduces the bias at the
    cost of pooling fewer cohorts.
    """
    if min_months_after < 1:
        raise ValueError(
            f"min_months_after must be 1 or more, got {min_months_after}. In a cohort's "
            "last month every unbounded survivor is active, so that month says nothing."
        )
    last_month = cells.groupby("cohort_month")["months_since_first_purchase"].transform("max")
    usable = cells[cells["months_since_first_purchase"] + min_months_after <= last_month]
    totals = usable.groupby("months_since_first_purchase")[
        ["active_customers", "unbounded_active_customers"]
    ].sum()
    totals = totals[totals["unbounded_active_customers"] > 0]
    share = totals["active_customers"] / totals["unbounded_active_customers"]

    months = pd.RangeIndex(
        0, max(through_month, int(cells["months_since_first_purchase"].max())) + 1
    )
    share = share.reindex(months)
    # Every customer is active in the month of the first purchase.
    share.iloc[0] = 1.0
    share = share.ffill()
    share.index.name = "months_since_first_purchase"
    share.name = "active_share"
    return share


def project_segment(
    cells: pd.DataFrame,
    through_month: int,
    draws: int = DEFAULT_DRAWS,
    seed: int | None = 0,
    min_months_after: int = 1,
) -> SegmentProjection:
    """Project every cohort of one segment through ``through_month`` with a pooled sBG fit.

    ``cells`` has the columns of ``marts.cohort_cell`` listed in ``CELL_COLUMNS``, one
    row per cohort and month it has lived, for a single segment. Only closed months
    belong in it. All cohorts share one (alpha, beta) fitted by ``fit_sbg_pooled``.
    Each cohort's projection starts from its own last unbounded count.

    The result has one row per cohort and projected month with the unbounded
    retention rate and its 80 % and 95 % intervals, and ``retention_rate``, the
    share of the cohort active in that month. That rate is the projected unbounded
    rate times ``active_share_by_month`` at the same month.

    NOTE: the active rate carries no interval, because the uncertainty of the
    active share is not modelled.
    """
    curves = _cohort_curves(cells)
    fit = fit_sbg_pooled(list(curves.values()))
    share = active_share_by_month(cells, through_month, min_months_after)
    seeds = np.random.SeedSequence(seed).spawn(len(curves))

    frames = []
    for (cohort_month, curve), cohort_seed in zip(curves.items(), seeds, strict=True):
        projection = project_survivors(
            fit,
            survivors=int(curve[-1]),
            last_observed=curve.size - 1,
            through_period=through_month,
            cohort_size=int(curve[0]),
            draws=draws,
            seed=cohort_seed,
        )
        frame = projection.to_frame().rename(
            columns={
                name: f"unbounded_{name}"
                for name in ("lower_80", "upper_80", "lower_95", "upper_95")
            }
        )
        frame.insert(0, "cohort_month", cohort_month)
        frame.insert(2, "cohort_size", int(curve[0]))
        frames.append(frame)

    projected = pd.concat(frames, ignore_index=True)
    projected["active_share"] = share.reindex(projected["months_since_first_purchase"]).to_numpy()
    projected["retention_rate"] = projected["unbounded_retention_rate"] * projected["active_share"]
    logger.info(
        "Projected %s cells of %s cohorts through month %s: alpha %.4f, beta %.4f, converged %s",
        len(projected),
        len(curves),
        through_month,
        fit.alpha,
        fit.beta,
        fit.converged,
    )
    return SegmentProjection(cells=projected, fit=fit, active_share=share)
