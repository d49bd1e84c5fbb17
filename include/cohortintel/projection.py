"""Project every cohort's monthly retention past the last closed month, with intervals.

The method (``MODEL_NAME``, described in docs/retention.md) has three parts:

1. **Unbounded curve.** The shifted-beta-geometric model (``retention_model``) is
   fitted per segment, pooled over cohorts, to the unbounded counts (customers with
   a purchase in month k or later). A customer counts as a survivor in month k only
   once a later purchase is in the data, so the last months of every cohort are far
   too low. The fit therefore uses only the months that have at least
   ``settle_months`` closed months after them, and each cohort's projection starts
   from its own last settled count.
2. **Active share.** The share of the unbounded survivors active in month k, pooled
   over the same settled cells. The projected active rate is the unbounded rate
   times that share.
3. **Cohort effect.** Cohorts of the same age differ in how often their customers
   buy. Each cohort's projection is scaled by the ratio of its observed active
   customers to the ones the pooled curve expects in its closed months, shrunk
   towards 1 by ``cohort_prior`` expected customer-months.

The intervals of the active rate add the binomial chance of the cohort's customers
to a calendar effect that all cohorts share (a busy or quiet month): its spread is
the root mean square of the log ratio of observed to expected active customers
over the closed months.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from cohortintel.months import add_months, months_between
from cohortintel.retention_model import (
    DEFAULT_DRAWS,
    RetentionModelWarning,
    SBGFit,
    _cohort_curves,
    fit_sbg_pooled,
    project_survivors,
)

log = logging.getLogger(__name__)

MODEL_NAME = "sbg_settled_share_cohort_v1"

Z_80 = float(stats.norm.ppf(0.90))
Z_95 = float(stats.norm.ppf(0.975))


class ProjectionSettingError(ValueError):
    """A retention projection setting has a value the projection cannot use."""


def _env_int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(f"COHORTINTEL_{name}", str(default)).strip()
    try:
        value = int(raw)
    except ValueError:
        raise ProjectionSettingError(
            f"COHORTINTEL_{name}={raw!r} is not an integer; set it to a whole number "
            f"such as {default}."
        ) from None
    if value < minimum:
        raise ProjectionSettingError(
            f"COHORTINTEL_{name}={value} is below the minimum of {minimum}."
        )
    return value


@dataclass(frozen=True)
class ProjectionSettings:
    """Settings of the retention projection, read from ``COHORTINTEL_RETENTION_*``.

    ``horizon_months``: months projected past the as-of month.
    ``min_customers``: segments with fewer customers in closed cohorts are skipped.
    ``settle_months``: closed months that must follow an unbounded count before the fit uses it.
    ``cohort_prior``: expected active customer-months that pull a cohort effect towards 1.
    ``min_reference_cohorts``: older cohorts needed before the older-cohorts at-risk rule applies.
    """

    horizon_months: int = 12
    min_customers: int = 200
    settle_months: int = 3
    cohort_prior: int = 50
    min_reference_cohorts: int = 3
    draws: int = DEFAULT_DRAWS

    @classmethod
    def from_env(cls) -> ProjectionSettings:
        return cls(
            horizon_months=_env_int("RETENTION_HORIZON_MONTHS", 12, minimum=1),
            min_customers=_env_int("RETENTION_MIN_CUSTOMERS", 200, minimum=1),
            settle_months=_env_int("RETENTION_SETTLE_MONTHS", 3, minimum=0),
            cohort_prior=_env_int("RETENTION_COHORT_PRIOR", 50, minimum=0),
            min_reference_cohorts=_env_int("RETENTION_MIN_REFERENCE_COHORTS", 3, minimum=1),
        )


class InsufficientHistoryError(ValueError):
    """A segment has no cohort old enough to fit the model on settled months."""


@dataclass(frozen=True)
class SegmentRetention:
    """Observed and projected cells of one segment, and the values fitted on it."""

    cells: pd.DataFrame
    fit: SBGFit
    active_share: pd.Series
    cohort_effect: pd.Series
    calendar_sd: float


def _check_horizon(horizon_months: int, settle_months: int) -> None:
    if horizon_months < 1:
        raise ValueError(
            f"horizon_months must be 1 or more, got {horizon_months}; the default is 12."
        )
    if settle_months < 0:
        raise ValueError(f"settle_months must be 0 or more, got {settle_months}; the default is 3.")


def _last_offsets(curves: dict, as_of_month: dt.date) -> dict:
    """Return each cohort's last observed month since first purchase, checked against the as-of month."""
    offsets = {}
    for cohort_month, curve in curves.items():
        expected = months_between(cohort_month, as_of_month)
        if curve.size - 1 != expected:
            raise ValueError(
                f"cohort {cohort_month} has cells through month {curve.size - 1} since first "
                f"purchase, but the as-of month {as_of_month:%Y-%m} is month {expected}. Pass "
                "every closed cell up to the as-of month and none after it."
            )
        offsets[cohort_month] = expected
    return offsets


def _fit_settled(curves: dict, anchors: dict, settle_months: int) -> SBGFit:
    settled = [
        curve[: anchors[cohort] + 1] for cohort, curve in curves.items() if anchors[cohort] >= 1
    ]
    if not settled:
        raise InsufficientHistoryError(
            f"No cohort has a month since first purchase followed by {settle_months} closed "
            f"months, so the model has nothing to fit. It needs a cohort that has lived at "
            f"least {settle_months + 1} closed months after its first."
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RetentionModelWarning)
        fit = fit_sbg_pooled(settled)
    for warning in caught:
        log.warning("sBG fit: %s", warning.message)
    return fit


def _active_share(cells: pd.DataFrame, anchors: dict, through_month: int) -> pd.Series:
    """Pool active over unbounded customers by month over settled cells; later months repeat the last."""
    anchor = cells["cohort_month"].map(anchors)
    settled = cells[cells["months_since_first_purchase"] <= anchor]
    totals = settled.groupby("months_since_first_purchase")[
        ["active_customers", "unbounded_active_customers"]
    ].sum()
    totals = totals[totals["unbounded_active_customers"] > 0]
    share = totals["active_customers"] / totals["unbounded_active_customers"]
    share = share.reindex(pd.RangeIndex(0, through_month + 1))
    # Every customer is active in the month of the first purchase.
    share.iloc[0] = 1.0
    return share.ffill().rename("active_share")


def _unbounded_paths(
    fit: SBGFit,
    curves: dict,
    anchors: dict,
    through: dict,
    draws: int,
    seed: int | None,
) -> dict:
    """Return per cohort a frame of unbounded counts and bounds from its anchor month onwards.

    Months up to the anchor hold the observed counts. Later months hold the sBG
    projection from the anchor's count, and its interval bounds as rates.
    """
    seeds = np.random.SeedSequence(seed).spawn(len(curves))
    paths = {}
    for (cohort_month, curve), cohort_seed in zip(curves.items(), seeds, strict=True):
        anchor = anchors[cohort_month]
        size = int(curve[0])
        projection = project_survivors(
            fit,
            survivors=int(curve[anchor]),
            last_observed=anchor,
            through_period=through[cohort_month],
            cohort_size=size,
            draws=draws,
            seed=cohort_seed,
        ).to_frame()
        observed = pd.DataFrame(
            {
                "months_since_first_purchase": np.arange(anchor + 1),
                "unbounded_retention_rate": curve[: anchor + 1] / size,
            }
        )
        paths[cohort_month] = (
            pd.concat([observed, projection], ignore_index=True)
            .set_index("months_since_first_purchase")
            .rename(
                columns={
                    name: f"unbounded_{name}"
                    for name in ("lower_80", "upper_80", "lower_95", "upper_95")
                }
            )
        )
    return paths


def _cohort_effects(
    cells: pd.DataFrame, expected_rate: Callable[[dt.date, int], float], prior: float
) -> pd.Series:
    """Return each cohort's ratio of observed to expected active customers, shrunk towards 1.

    (observed + prior) / (expected + prior), summed over the closed months after the
    first, is the posterior mean of a gamma-Poisson rate with a prior worth ``prior``
    customer-months at 1.
    """
    cohorts = pd.Index(sorted(cells["cohort_month"].unique()), name="cohort_month")
    later = cells[cells["months_since_first_purchase"] >= 1]
    if later.empty:
        return pd.Series(1.0, index=cohorts, name="cohort_effect")
    expected = [
        size * expected_rate(cohort, int(month))
        for cohort, month, size in zip(
            later["cohort_month"],
            later["months_since_first_purchase"],
            later["cohort_size"],
            strict=True,
        )
    ]
    frame = pd.DataFrame(
        {
            "cohort_month": later["cohort_month"],
            "observed": later["active_customers"],
            "expected": expected,
        }
    )
    totals = frame.groupby("cohort_month")[["observed", "expected"]].sum()
    effects = (totals["observed"] + prior) / (totals["expected"] + prior)
    return effects.reindex(cohorts).fillna(1.0).rename("cohort_effect")


def _calendar_sd(
    cells: pd.DataFrame, expected_rate: Callable[[dt.date, int], float], effects: pd.Series
) -> float:
    """Return the root mean square over activity months of log(observed / expected active customers).

    Half a customer is added to both counts so that an empty month stays finite.
    """
    later = cells[cells["months_since_first_purchase"] >= 1]
    if later.empty:
        return 0.0
    expected = [
        size * effects[cohort] * expected_rate(cohort, int(month))
        for cohort, month, size in zip(
            later["cohort_month"],
            later["months_since_first_purchase"],
            later["cohort_size"],
            strict=True,
        )
    ]
    totals = (
        pd.DataFrame(
            {
                "activity_month": later["activity_month"],
                "observed": later["active_customers"],
                "expected": expected,
            }
        )
        .groupby("activity_month")[["observed", "expected"]]
        .sum()
    )
    log_ratio = np.log((totals["observed"] + 0.5) / (totals["expected"] + 0.5))
    return float(np.sqrt(np.mean(log_ratio**2)))


def active_rate_bounds(
    rate: np.ndarray, cohort_size: int, calendar_sd: float, z: float
) -> tuple[np.ndarray, np.ndarray]:
    """Return the lower and upper ends of a normal prediction interval of an active rate.

    The variance is rate * (1 - rate) / cohort_size, the binomial chance of the
    cohort's customers, plus (rate * calendar_sd) ** 2, a shared calendar effect
    that scales the rate. The ends are clipped to [0, 1].
    """
    rate = np.asarray(rate, dtype=float)
    spread = np.sqrt(rate * (1.0 - rate) / cohort_size + (rate * calendar_sd) ** 2)
    return np.clip(rate - z * spread, 0.0, 1.0), np.clip(rate + z * spread, 0.0, 1.0)


def project_segment_retention(
    cells: pd.DataFrame,
    as_of_month: dt.date,
    horizon_months: int = 12,
    settle_months: int = 3,
    cohort_prior: float = 50.0,
    draws: int = DEFAULT_DRAWS,
    seed: int | None = 0,
) -> SegmentRetention:
    """Return the observed and projected cells of one segment through the horizon.

    ``cells`` has the columns of ``marts.cohort_cell`` (``retention_model.CELL_COLUMNS``)
    for one segment, one row per cohort and closed month up to ``as_of_month``.
    Every cohort is extended to ``horizon_months`` past ``as_of_month``. Raise
    InsufficientHistoryError when no cohort has a settled month to fit on.
    """
    _check_horizon(horizon_months, settle_months)
    cells = cells.copy()
    cells["cohort_month"] = pd.to_datetime(cells["cohort_month"]).dt.date
    curves = _cohort_curves(cells)
    last = _last_offsets(curves, as_of_month)
    anchors = {cohort: max(offset - settle_months, 0) for cohort, offset in last.items()}
    through = {cohort: offset + horizon_months for cohort, offset in last.items()}

    fit = _fit_settled(curves, anchors, settle_months)
    share = _active_share(cells, anchors, max(through.values()))
    paths = _unbounded_paths(fit, curves, anchors, through, draws, seed)

    def expected_rate(cohort_month: dt.date, month: int) -> float:
        return float(paths[cohort_month].at[month, "unbounded_retention_rate"] * share[month])

    cells["activity_month"] = [
        add_months(cohort, int(month))
        for cohort, month in zip(
            cells["cohort_month"], cells["months_since_first_purchase"], strict=True
        )
    ]
    effects = _cohort_effects(cells, expected_rate, cohort_prior)
    calendar_sd = _calendar_sd(cells, expected_rate, effects)

    frames = [
        _observed_rows(cells, share, effects),
        *(
            _projected_rows(
                cohort_month,
                int(curve[0]),
                last[cohort_month],
                paths[cohort_month],
                share,
                effects[cohort_month],
                calendar_sd,
            )
            for cohort_month, curve in curves.items()
        ),
    ]
    rows = pd.concat(frames, ignore_index=True).sort_values(
        ["cohort_month", "months_since_first_purchase"], ignore_index=True
    )
    return SegmentRetention(rows, fit, share, effects, calendar_sd)


def _observed_rows(cells: pd.DataFrame, share: pd.Series, effects: pd.Series) -> pd.DataFrame:
    size = cells["cohort_size"]
    return pd.DataFrame(
        {
            "cohort_month": cells["cohort_month"],
            "months_since_first_purchase": cells["months_since_first_purchase"].astype(int),
            "activity_month": cells["activity_month"],
            "is_projected": False,
            "cohort_size": size.astype(int),
            "retention_rate": cells["active_customers"] / size,
            "unbounded_retention_rate": cells["unbounded_active_customers"] / size,
            "active_share": share.reindex(cells["months_since_first_purchase"]).to_numpy(),
            "cohort_effect": cells["cohort_month"].map(effects).to_numpy(),
        }
    )


def _projected_rows(
    cohort_month: dt.date,
    cohort_size: int,
    last_observed: int,
    path: pd.DataFrame,
    share: pd.Series,
    cohort_effect: float,
    calendar_sd: float,
) -> pd.DataFrame:
    projected = path.loc[last_observed + 1 :].reset_index()
    months = projected["months_since_first_purchase"].to_numpy()
    unbounded = projected["unbounded_retention_rate"].to_numpy()
    month_share = share.reindex(months).to_numpy()
    # Customers active in month k are also active in month k or later.
    rate = np.minimum(cohort_effect * unbounded * month_share, unbounded)
    lower_80, upper_80 = active_rate_bounds(rate, cohort_size, calendar_sd, Z_80)
    lower_95, upper_95 = active_rate_bounds(rate, cohort_size, calendar_sd, Z_95)
    return pd.DataFrame(
        {
            "cohort_month": cohort_month,
            "months_since_first_purchase": months.astype(int),
            "activity_month": [add_months(cohort_month, int(month)) for month in months],
            "is_projected": True,
            "cohort_size": cohort_size,
            "retention_rate": rate,
            "retention_rate_lower_80": lower_80,
            "retention_rate_upper_80": upper_80,
            "retention_rate_lower_95": lower_95,
            "retention_rate_upper_95": upper_95,
            "unbounded_retention_rate": unbounded,
            **{
                column: projected[column].to_numpy()
                for column in (
                    "unbounded_lower_80",
                    "unbounded_upper_80",
                    "unbounded_lower_95",
                    "unbounded_upper_95",
                )
            },
            "active_share": month_share,
            "cohort_effect": cohort_effect,
        }
    )


def model_parameters(
    result: SegmentRetention, row: pd.Series, settings: ProjectionSettings
) -> dict:
    """Return the JSON-ready parameters stored with one row of ``marts.retention_projection``."""

    def number(value: float) -> float | None:
        return None if value is None or math.isnan(value) else round(float(value), 6)

    return {
        "alpha": number(result.fit.alpha),
        "beta": number(result.fit.beta),
        "sbg_converged": result.fit.converged,
        "sbg_fallback": result.fit.fallback,
        "cohort_effect": number(row["cohort_effect"]),
        "active_share": number(row["active_share"]),
        "calendar_sd": number(result.calendar_sd),
        "settle_months": settings.settle_months,
        "cohort_prior": settings.cohort_prior,
    }
