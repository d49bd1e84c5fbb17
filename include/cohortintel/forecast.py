"""The calendar of trading days, and the checks of a daily series on it.

The shop does not trade on some weekdays (Saturday by default), so a daily
series lives on the remaining trading days and a week has 6 of them. Within
that calendar a day without sales is 0, not missing. The day-grain forecast
itself is ``cohortintel.monthly_forecast.fit_trading_day_forecast``.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cohortintel.config import holiday_dates

DEFAULT_NON_TRADING_WEEKDAYS: tuple[int, ...] = (5,)
_WEEKDAY_ABBREVIATIONS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


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


def validated_values(series: pd.Series, series_id: str) -> np.ndarray:
    """Check a trading-day series and return its values as a float array.

    Raises:
        TypeError: not a numeric pandas Series with a DatetimeIndex.
        ValueError: empty, an index that repeats or goes back, or a NaN or infinite value.
    """
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


def validate_horizon(horizon: pd.DatetimeIndex, last_date: pd.Timestamp, series_id: str) -> None:
    """Check that the horizon is non-empty, increasing and starts after the series.

    Raises:
        TypeError: not a DatetimeIndex.
        ValueError: empty, not increasing, or not after ``last_date``.
    """
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


# A yearly closure as the (month, day) of its first and last day. It may run over the year end.
AnnualClosure = tuple[tuple[int, int], tuple[int, int]]


def closure_days(
    start: datetime.date,
    end: datetime.date,
    holiday_calendar: str = "",
    annual_closures: Sequence[AnnualClosure] = (),
) -> pd.DatetimeIndex:
    """Return the days in [start, end] on which the shop is known in advance to be closed.

    Those are the public holidays of ``holiday_calendar`` and the days inside
    any of ``annual_closures``. The calendar is a country code of the
    ``holidays`` package with an optional subdivision after a hyphen, as in
    "GB-ENG". An empty calendar adds no holidays.
    """
    if start > end:
        return pd.DatetimeIndex([])
    days = pd.date_range(start, end, freq="D")
    closed = np.zeros(len(days), dtype=bool)
    if holiday_calendar:
        public_holidays = holiday_dates(holiday_calendar, range(start.year, end.year + 1))
        closed |= days.isin(pd.DatetimeIndex(sorted(public_holidays)))
    month_day = days.month * 100 + days.day
    for (first_month, first_day), (last_month, last_day) in annual_closures:
        first, last = first_month * 100 + first_day, last_month * 100 + last_day
        if first <= last:
            closed |= (month_day >= first) & (month_day <= last)
        else:
            closed |= (month_day >= first) | (month_day <= last)
    return days[closed]


def fill_closed_days(
    series: pd.Series, closed: pd.DatetimeIndex, season_length: int
) -> tuple[pd.Series, pd.DatetimeIndex]:
    """Replace the 0 of each closed trading day by what an open day would have sold.

    A closure is not a day without demand, and its 0 would teach a weekly model a
    dip that never recurs at that place in the week. A closed day takes the mean
    of the same trading weekday in the nearest open week before it and the nearest
    open week after it, or of the one that exists. Returns the filled series and
    the days that were filled; a day with no open day of its weekday keeps its value.
    """
    is_closed = series.index.isin(closed)
    if not is_closed.any():
        return series, pd.DatetimeIndex([])
    values = series.to_numpy(dtype=float)
    filled = values.copy()
    filled_positions = []
    for position in np.flatnonzero(is_closed):
        neighbours = []
        for step in (-season_length, season_length):
            other = position + step
            while 0 <= other < len(values) and is_closed[other]:
                other += step
            if 0 <= other < len(values):
                neighbours.append(values[other])
        if neighbours:
            filled[position] = float(np.mean(neighbours))
            filled_positions.append(position)
    return (
        pd.Series(filled, index=series.index, name=series.name),
        series.index[filled_positions],
    )
