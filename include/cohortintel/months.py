"""Calendar months in the business time zone, and the run's month from its data interval."""

from __future__ import annotations

import datetime as dt
import zoneinfo


def add_months(month: dt.date, count: int) -> dt.date:
    """Return the first day of the month ``count`` months after ``month`` (negative goes back)."""
    index = month.year * 12 + (month.month - 1) + count
    return dt.date(index // 12, index % 12 + 1, 1)


def months_between(start: dt.date, end: dt.date) -> int:
    """Return the number of calendar months from ``start``'s month to ``end``'s month."""
    return (end.year - start.year) * 12 + (end.month - start.month)


def month_range(first: dt.date, last: dt.date) -> list[dt.date]:
    """Return the first days of every month from ``first`` to ``last``, both included."""
    return [add_months(first, k) for k in range(months_between(first, last) + 1)]


def parse_month(text: str) -> dt.date:
    """Parse ``YYYY-MM`` (or a full ``YYYY-MM-DD`` on the first) into the month's first day."""
    try:
        if len(text) == 7:
            return dt.datetime.strptime(text, "%Y-%m").date()
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"Invalid month {text!r}; expected YYYY-MM with a month from 01 to 12, as in 2011-01."
        ) from None
    if day.day != 1:
        raise ValueError(
            f"Invalid month {text!r}; a month is given by its first day, as in 2011-01-01."
        )
    return day


def month_start(month: dt.date, timezone: str) -> dt.datetime:
    """Return midnight at the start of ``month`` in ``timezone`` as an aware datetime."""
    return dt.datetime(month.year, month.month, 1, tzinfo=zoneinfo.ZoneInfo(timezone))


def month_of_interval(start: dt.datetime, end: dt.datetime, timezone: str) -> dt.date:
    """Return the calendar month that the data interval ``[start, end)`` covers.

    The monthly DAG owns exactly one calendar month of the business time zone,
    from midnight on the first to midnight on the first of the next month. Any
    other interval means the DAG was scheduled with the wrong timetable (a plain
    cron string gives a zero-width interval in Airflow 3), and processing it
    would silently read the wrong rows, so it raises instead.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError(
            f"Data interval {start} to {end} has no time zone; expected aware datetimes."
        )
    local_start = start.astimezone(zoneinfo.ZoneInfo(timezone))
    local_end = end.astimezone(zoneinfo.ZoneInfo(timezone))
    month = local_start.date().replace(day=1)
    expected_end = month_start(add_months(month, 1), timezone)
    if local_start != month_start(month, timezone) or local_end != expected_end:
        raise ValueError(
            f"Data interval {start.isoformat()} to {end.isoformat()} is not one calendar month "
            f"in {timezone} (expected {month_start(month, timezone).isoformat()} to "
            f"{expected_end.isoformat()}). Schedule the DAG with "
            f"CronDataIntervalTimetable('0 0 1 * *', timezone={timezone!r}); a plain cron "
            f"string gives a zero-width interval."
        )
    return month
