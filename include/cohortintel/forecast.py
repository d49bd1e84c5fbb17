"""Forecast daily net revenue on a calendar of trading days.

The shop does not trade on some weekdays (Saturday by default), so a series lives on
the remaining trading days and a week has 6 of them. Within that calendar a day
without sales is 0, not missing. Net revenue can be negative because of returns, so
the models work on the raw values without a log transform.

``fit_sales_forecast`` picks a seasonal ARIMA by AIC from a small fixed grid and
falls back to a non-seasonal ARIMA, a seasonal naive or a naive forecast when the
series is too short, constant, or no candidate can be fitted. The result records
which model ran and why.
"""

from __future__ import annotations

import datetime
import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.tsa.statespace.sarimax import SARIMAX

logger = logging.getLogger(__name__)

DEFAULT_NON_TRADING_WEEKDAYS: tuple[int, ...] = (5,)
_WEEKDAY_ABBREVIATIONS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# A seasonal model needs this many full seasons to estimate its seasonal terms,
# plus the season_length + 1 observations that one seasonal and one regular
# difference consume. Two seasons are the bare minimum, but on the Online Retail
# data a fit on one month of daily sales (27 trading days) extrapolated the
# December decline into negative sales for every day, so the bar is six seasons:
# with season_length 6 the minimum is 6 * 6 + 6 + 1 = 43 observations.
MIN_SEASONS_FOR_SEASONAL_MODEL = 6

# A candidate in ARIMA_ORDERS estimates up to 4 parameters (AR, MA, constant and
# error variance), so 10 observations is a rough minimum for the non-seasonal
# grid. Shorter series fall back to a naive method.
MIN_ARIMA_OBSERVATIONS = 10

# Candidate grid for the seasonal model. Every non-seasonal (p, d, q) below is
# combined with every seasonal (P, D, Q), which gives 4 * 3 = 12 fits per series.
SEASONAL_ARIMA_ORDERS: tuple[tuple[int, int, int], ...] = (
    (1, 0, 0),
    (1, 0, 1),
    (0, 1, 1),
    (1, 1, 1),
)
SEASONAL_ORDERS: tuple[tuple[int, int, int], ...] = (
    (1, 0, 0),
    (0, 1, 1),
    (1, 0, 1),
)

# Candidate grid for the non-seasonal fallback, 6 fits per series.
ARIMA_ORDERS: tuple[tuple[int, int, int], ...] = (
    (1, 0, 0),
    (0, 0, 1),
    (1, 0, 1),
    (0, 1, 0),
    (0, 1, 1),
    (1, 1, 1),
)

# A candidate is a SARIMAX (p, d, q) order and a (P, D, Q, s) seasonal order.
_Candidate = tuple[tuple[int, int, int], tuple[int, int, int, int]]

# L-BFGS iterations per candidate. With the statsmodels default of 50, one of the
# 12 candidates on the Online Retail daily revenue and 3 to 6 on the synthetic
# weekly series of the unit tests stopped before converging. With 200, all 12 and
# 11 or 12 of them converged.
FIT_MAX_ITERATIONS = 200

_Z_80 = float(stats.norm.ppf(0.90))
_Z_95 = float(stats.norm.ppf(0.975))

FORECAST_COLUMNS = ("period_start", "forecast", "lower_80", "upper_80", "lower_95", "upper_95")


def trading_days(
    start: datetime.date,
    end: datetime.date,
    non_trading_weekdays: Sequence[int] = DEFAULT_NON_TRADING_WEEKDAYS,
) -> pd.DatetimeIndex:
    """Return the trading days in the closed range [start, end].

    Weekdays use Python numbering (Monday is 0, Saturday is 5). The index is empty
    when start is after end.
    """
    weekmask = _weekmask(non_trading_weekdays)
    return pd.bdate_range(start, end, freq="C", weekmask=weekmask)


def next_trading_days(
    after: datetime.date,
    count: int,
    non_trading_weekdays: Sequence[int] = DEFAULT_NON_TRADING_WEEKDAYS,
) -> pd.DatetimeIndex:
    """Return the next `count` trading days strictly after `after`."""
    if count < 0:
        raise ValueError(f"count must be 0 or more, got {count}")
    weekmask = _weekmask(non_trading_weekdays)
    first_candidate = pd.Timestamp(after).normalize() + pd.Timedelta(days=1)
    return pd.bdate_range(first_candidate, periods=count, freq="C", weekmask=weekmask)


def _weekmask(non_trading_weekdays: Sequence[int]) -> str:
    """Build a pandas weekmask such as "Mon Tue Wed Thu Fri Sun" from non-trading weekdays."""
    invalid = [day for day in non_trading_weekdays if day not in range(7)]
    if invalid:
        raise ValueError(
            f"invalid non-trading weekday {invalid[0]!r}. Use Python weekday numbers "
            "from 0 (Monday) to 6 (Sunday)."
        )
    trading = [
        name for day, name in enumerate(_WEEKDAY_ABBREVIATIONS) if day not in non_trading_weekdays
    ]
    if not trading:
        raise ValueError("non_trading_weekdays covers all 7 weekdays, so no day is a trading day")
    return " ".join(trading)


@dataclass(frozen=True)
class ForecastResult:
    """Chosen model, its fit diagnostics and the forecast for one series.

    ``forecast`` has one row per horizon day with columns period_start (midnight of
    the trading day), forecast, lower_80, upper_80, lower_95 and upper_95. The
    intervals are central prediction intervals under normally distributed errors.
    """

    series_id: str
    model_kind: str  # "sarima", "arima", "seasonal_naive" or "naive"
    order: tuple[int, int, int] | None
    seasonal_order: tuple[int, int, int, int] | None
    aic: float | None
    n_obs: int
    training_start: datetime.date
    training_end: datetime.date
    reason: str  # one sentence on why this model was chosen
    converged: bool | None  # None for the naive models
    # Distinct warning messages from fitting and forecasting the chosen model.
    warnings: tuple[str, ...]
    # SARIMAX fits attempted across all grids, including failed ones. 0 if none ran.
    candidates_tried: int
    forecast: pd.DataFrame


@dataclass(frozen=True)
class _CandidateFit:
    """One fitted SARIMAX candidate."""

    order: tuple[int, int, int]
    seasonal_order: tuple[int, int, int, int]
    results: object  # statsmodels SARIMAXResults
    aic: float
    converged: bool
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class _GridOutcome:
    """Best fit of a candidate grid, or None, with counts for the reason text."""

    best: _CandidateFit | None
    n_candidates: int
    n_fitted: int
    n_converged: int


@dataclass(frozen=True)
class _Intervals:
    """Point forecasts and interval bounds, one value per horizon step."""

    forecast: np.ndarray
    lower_80: np.ndarray
    upper_80: np.ndarray
    lower_95: np.ndarray
    upper_95: np.ndarray


def fit_sales_forecast(
    series: pd.Series,
    horizon: pd.DatetimeIndex,
    *,
    series_id: str = "total",
    season_length: int = 6,
) -> ForecastResult:
    """Fit a forecasting model to a daily trading-day series and forecast `horizon`.

    `series` must be indexed by consecutive trading days, and `horizon` must list the
    trading days that directly follow the last one, as returned by next_trading_days.
    The function can only check that `horizon` starts after the series and increases,
    so the step count of the forecast is len(horizon).

    Raises:
        TypeError: `series` is not a numeric pandas Series with a DatetimeIndex, or
            `horizon` is not a DatetimeIndex.
        ValueError: the series is empty, its index is not strictly increasing, a
            value is NaN or infinite, `horizon` is empty or does not start after the
            series, or season_length is below 2.
    """
    if season_length < 2:
        raise ValueError(f"season_length must be 2 or more, got {season_length}")
    values = _validated_values(series, series_id)
    _validate_horizon(horizon, series.index[-1], series_id)

    base = {
        "series_id": series_id,
        "n_obs": len(values),
        "training_start": series.index[0].date(),
        "training_end": series.index[-1].date(),
    }
    result = _choose_and_forecast(values, horizon, season_length, base)
    if result.model_kind == "sarima":
        logger.info(
            "Sales forecast for series %s uses SARIMA%s%s with AIC %.1f: %s",
            series_id,
            result.order,
            result.seasonal_order,
            result.aic,
            result.reason,
        )
    else:
        logger.warning(
            "Sales forecast for series %s fell back to %s: %s",
            series_id,
            result.model_kind,
            result.reason,
        )
    return result


def _validated_values(series: pd.Series, series_id: str) -> np.ndarray:
    """Check the series and return its values as a float array."""
    if not isinstance(series, pd.Series):
        raise TypeError(
            f"series {series_id!r} must be a pandas Series, got {type(series).__name__}"
        )
    if not isinstance(series.index, pd.DatetimeIndex):
        raise TypeError(
            f"series {series_id!r} must have a DatetimeIndex, got "
            f"{type(series.index).__name__}. Index it by trading day."
        )
    if series.empty:
        raise ValueError(f"series {series_id!r} is empty. Pass at least one trading day.")
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        raise TypeError(f"series {series_id!r} must be numeric, got dtype {series.dtype}")

    _validate_index_order(series.index, f"series {series_id!r}")

    values = series.to_numpy(dtype=float, na_value=np.nan)
    not_finite = ~np.isfinite(values)
    if not_finite.any():
        position = int(np.argmax(not_finite))
        raise ValueError(
            f"series {series_id!r} has the non-finite value {values[position]} on "
            f"{series.index[position].date()}. A trading day without sales must be 0, "
            "so fill or correct the value before forecasting."
        )
    return values


def _validate_index_order(index: pd.DatetimeIndex, label: str) -> None:
    """Raise ValueError naming the first date that repeats or goes back in time."""
    if index.hasnans:
        raise ValueError(f"{label} has a missing date (NaT) in its index. Drop or fix that row.")
    steps = np.diff(index.asi8)
    if (steps > 0).all():
        return
    position = int(np.argmax(steps <= 0)) + 1
    if steps[position - 1] == 0:
        raise ValueError(
            f"{label} has the duplicate date {index[position].date()}. "
            "Aggregate it to one value per trading day."
        )
    raise ValueError(
        f"{label} is not sorted because {index[position].date()} follows "
        f"{index[position - 1].date()}. Sort it by date."
    )


def _validate_horizon(horizon: pd.DatetimeIndex, last_date: pd.Timestamp, series_id: str) -> None:
    """Check that the horizon is non-empty, increasing and starts after the series."""
    if not isinstance(horizon, pd.DatetimeIndex):
        raise TypeError(
            f"horizon must be a DatetimeIndex, got {type(horizon).__name__}. "
            "Build it with next_trading_days."
        )
    if horizon.empty:
        raise ValueError("horizon is empty. Pass at least one trading day to forecast.")
    _validate_index_order(horizon, "horizon")
    if horizon[0] <= last_date:
        raise ValueError(
            f"horizon starts on {horizon[0].date()}, which is not after the last date "
            f"{last_date.date()} of series {series_id!r}. Build it with next_trading_days."
        )


def _choose_and_forecast(
    values: np.ndarray,
    horizon: pd.DatetimeIndex,
    season_length: int,
    base: dict[str, object],
) -> ForecastResult:
    """Run the model cascade from SARIMA down to naive and return the first that works."""
    n_obs = len(values)
    if n_obs > 1 and np.ptp(values) == 0:
        # SARIMAX on constant data has a zero variance and a degenerate likelihood,
        # so a constant series skips the model fits and repeats its value.
        return _naive_result(values, horizon, "series is constant", base, candidates_tried=0)

    # Clauses that explain why each richer model was not used, joined into the reason.
    skipped: list[str] = []
    candidates_tried = 0
    min_seasonal = _min_seasonal_observations(season_length)

    if n_obs >= min_seasonal:
        outcome = _fit_grid(values, _seasonal_candidates(season_length))
        candidates_tried += outcome.n_candidates
        if outcome.best is not None:
            reason = _selection_phrase(outcome)
            return _model_result("sarima", outcome.best, horizon, reason, candidates_tried, base)
        skipped.append(f"all {outcome.n_candidates} seasonal candidate orders failed to fit")

    if n_obs >= MIN_ARIMA_OBSERVATIONS:
        if n_obs < min_seasonal:
            skipped.append(
                f"series has {_observations(n_obs)}, fewer than the {min_seasonal} that a "
                f"seasonal model with period {season_length} needs"
            )
        outcome = _fit_grid(values, _arima_candidates())
        candidates_tried += outcome.n_candidates
        if outcome.best is not None:
            reason = (
                f"{_join_clauses(skipped)}, so fell back to the non-seasonal ARIMA with the "
                f"{_selection_phrase(outcome)}"
            )
            return _model_result("arima", outcome.best, horizon, reason, candidates_tried, base)
        skipped.append(f"all {outcome.n_candidates} non-seasonal candidate orders failed to fit")
        if n_obs < season_length:
            skipped.append(f"the series is shorter than one season of {season_length}")
    elif n_obs >= season_length:
        skipped.append(
            f"series has {_observations(n_obs)}, fewer than the {MIN_ARIMA_OBSERVATIONS} "
            "that a non-seasonal ARIMA needs"
        )
    else:
        skipped.append(
            f"series has {_observations(n_obs)}, fewer than one season of {season_length}"
        )

    if n_obs >= season_length:
        reason = (
            f"{_join_clauses(skipped)}, so fell back to seasonal naive (repeat the last season)"
        )
        return _seasonal_naive_result(
            values, horizon, season_length, reason, base, candidates_tried
        )
    reason = f"{_join_clauses(skipped)}, so fell back to naive (repeat the last value)"
    return _naive_result(values, horizon, reason, base, candidates_tried)


def _observations(count: int) -> str:
    return f"{count} observation" if count == 1 else f"{count} observations"


def _min_seasonal_observations(season_length: int) -> int:
    """Return the fewest observations for which the seasonal grid is tried."""
    return MIN_SEASONS_FOR_SEASONAL_MODEL * season_length + season_length + 1


def _join_clauses(clauses: list[str]) -> str:
    return ", and ".join(clauses)


def _seasonal_candidates(season_length: int) -> list[_Candidate]:
    return [
        (order, (*seasonal, season_length))
        for order in SEASONAL_ARIMA_ORDERS
        for seasonal in SEASONAL_ORDERS
    ]


def _arima_candidates() -> list[_Candidate]:
    return [(order, (0, 0, 0, 0)) for order in ARIMA_ORDERS]


def _fit_grid(
    values: np.ndarray,
    candidates: list[_Candidate],
) -> _GridOutcome:
    """Fit every candidate and pick the lowest AIC, preferring converged fits."""
    # NOTE: statsmodels leaves the first d + D * s observations out of the
    # likelihood of a differenced model, so AICs of candidates with different
    # differencing orders rest on slightly different samples and compare only
    # approximately.
    fits = [_fit_candidate(values, order, seasonal) for order, seasonal in candidates]
    fitted = [fit for fit in fits if fit is not None]
    converged = [fit for fit in fitted if fit.converged]
    pool = converged or fitted
    best = min(pool, key=lambda fit: fit.aic) if pool else None
    return _GridOutcome(best, len(candidates), len(fitted), len(converged))


def _fit_candidate(
    values: np.ndarray,
    order: tuple[int, int, int],
    seasonal_order: tuple[int, int, int, int],
) -> _CandidateFit | None:
    """Fit one SARIMAX candidate, or return None if the fit raises or has no finite AIC."""
    # As in the default of statsmodels ARIMA, only undifferenced candidates get a
    # constant. SARIMAX adds the trend to the differenced series, where a constant
    # would become a drift in the level.
    trend = "c" if order[1] == 0 and seasonal_order[1] == 0 else "n"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # The statsmodels defaults enforce_stationarity=True and
            # enforce_invertibility=True stay on. They keep the AR part stationary
            # and the MA part invertible, so forecasts and intervals stay bounded,
            # and the differenced candidates cover unit roots. With
            # enforce_stationarity=False, statsmodels 0.15 would treat every state
            # as diffuse and drop d + D * s + max(p + s * P, q + s * Q + 1) first
            # observations from the likelihood, so AICs of different ARMA orders
            # would rest on different samples.
            model = SARIMAX(values, order=order, seasonal_order=seasonal_order, trend=trend)
            results = model.fit(disp=False, maxiter=FIT_MAX_ITERATIONS)
        except (np.linalg.LinAlgError, ValueError) as error:
            logger.debug("SARIMAX%s%s failed to fit: %s", order, seasonal_order, error)
            return None

    aic = float(results.aic)
    if not math.isfinite(aic):
        logger.debug("SARIMAX%s%s has the non-finite AIC %s, skipped", order, seasonal_order, aic)
        return None
    retvals = results.mle_retvals or {}
    converged = bool(retvals.get("converged", False))
    logger.debug("SARIMAX%s%s: AIC %.1f, converged %s", order, seasonal_order, aic, converged)
    return _CandidateFit(
        order=order,
        seasonal_order=seasonal_order,
        results=results,
        aic=aic,
        converged=converged,
        warnings=_distinct_messages(caught),
    )


def _distinct_messages(caught: list[warnings.WarningMessage]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(item.message) for item in caught))


def _selection_phrase(outcome: _GridOutcome) -> str:
    """Describe how the best candidate was picked, e.g. "lowest AIC of 12 candidate orders"."""
    if outcome.n_converged == outcome.n_candidates:
        return f"lowest AIC of {outcome.n_candidates} candidate orders"
    if outcome.n_converged > 0:
        return (
            f"lowest AIC among the {outcome.n_converged} of {outcome.n_candidates} "
            "candidate orders that converged"
        )
    return (
        f"lowest AIC among the {outcome.n_fitted} of {outcome.n_candidates} candidate orders "
        "that could be fitted, none of which converged"
    )


def _model_result(
    kind: str,
    best: _CandidateFit,
    horizon: pd.DatetimeIndex,
    reason: str,
    candidates_tried: int,
    base: dict[str, object],
) -> ForecastResult:
    """Forecast with a fitted candidate and wrap it in a ForecastResult."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prediction = best.results.get_forecast(steps=len(horizon))
        mean = np.asarray(prediction.predicted_mean, dtype=float)
        interval_80 = np.asarray(prediction.conf_int(alpha=0.2), dtype=float)
        interval_95 = np.asarray(prediction.conf_int(alpha=0.05), dtype=float)
    intervals = _Intervals(
        forecast=mean,
        lower_80=interval_80[:, 0],
        upper_80=interval_80[:, 1],
        lower_95=interval_95[:, 0],
        upper_95=interval_95[:, 1],
    )
    all_warnings = tuple(dict.fromkeys(best.warnings + _distinct_messages(caught)))
    return ForecastResult(
        model_kind=kind,
        order=best.order,
        seasonal_order=best.seasonal_order if kind == "sarima" else None,
        aic=best.aic,
        reason=reason,
        converged=best.converged,
        warnings=all_warnings,
        candidates_tried=candidates_tried,
        forecast=_forecast_frame(horizon, intervals),
        **base,
    )


def _naive_result(
    values: np.ndarray,
    horizon: pd.DatetimeIndex,
    reason: str,
    base: dict[str, object],
    candidates_tried: int,
) -> ForecastResult:
    """Forecast the last value for every step, with intervals growing with sqrt(steps)."""
    steps = len(horizon)
    point = np.full(steps, values[-1], dtype=float)
    errors = values[1:] - values[:-1]
    spread = _error_scale(errors) * np.sqrt(np.arange(1, steps + 1))
    return _naive_family_result(
        "naive", point, spread, errors.size, horizon, reason, base, candidates_tried
    )


def _seasonal_naive_result(
    values: np.ndarray,
    horizon: pd.DatetimeIndex,
    season_length: int,
    reason: str,
    base: dict[str, object],
    candidates_tried: int,
) -> ForecastResult:
    """Forecast each step with the value of the same position in the last season.

    The intervals grow with the square root of the number of whole seasons ahead.
    """
    steps = len(horizon)
    point = np.resize(values[-season_length:], steps).astype(float)
    errors = values[season_length:] - values[:-season_length]
    seasons_ahead = np.arange(steps) // season_length + 1
    spread = _error_scale(errors) * np.sqrt(seasons_ahead)
    return _naive_family_result(
        "seasonal_naive", point, spread, errors.size, horizon, reason, base, candidates_tried
    )


def _error_scale(errors: np.ndarray) -> float:
    """Estimate the one-step error standard deviation of a naive method.

    The naive methods have no drift term, so the spread is the root mean square of
    the in-sample errors around 0, not around their mean. Without errors it is 0.
    """
    if errors.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(errors**2)))


def _naive_family_result(
    kind: str,
    point: np.ndarray,
    spread: np.ndarray,
    n_errors: int,
    horizon: pd.DatetimeIndex,
    reason: str,
    base: dict[str, object],
    candidates_tried: int,
) -> ForecastResult:
    """Build a ForecastResult for a naive method from point forecasts and error spreads."""
    if n_errors == 0:
        # NOTE: with one observation (naive) or exactly one season (seasonal naive)
        # there is no in-sample error, so the intervals have zero width and
        # understate the uncertainty. The reason text states this.
        reason = f"{reason}, with zero-width intervals because there is no in-sample error"
    intervals = _Intervals(
        forecast=point,
        lower_80=point - _Z_80 * spread,
        upper_80=point + _Z_80 * spread,
        lower_95=point - _Z_95 * spread,
        upper_95=point + _Z_95 * spread,
    )
    return ForecastResult(
        model_kind=kind,
        order=None,
        seasonal_order=None,
        aic=None,
        reason=reason,
        converged=None,
        warnings=(),
        candidates_tried=candidates_tried,
        forecast=_forecast_frame(horizon, intervals),
        **base,
    )


def _forecast_frame(horizon: pd.DatetimeIndex, intervals: _Intervals) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "period_start": horizon.normalize().to_numpy(),
            "forecast": intervals.forecast,
            "lower_80": intervals.lower_80,
            "upper_80": intervals.upper_80,
            "lower_95": intervals.lower_95,
            "upper_95": intervals.upper_95,
        },
        columns=list(FORECAST_COLUMNS),
    )
