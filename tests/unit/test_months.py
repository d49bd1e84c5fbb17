"""Month arithmetic and the run's month from its data interval."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from cohortintel.months import (
    add_months,
    month_of_interval,
    month_range,
    months_between,
    parse_month,
)

LONDON = zoneinfo.ZoneInfo("Europe/London")
UTC = dt.UTC


def test_add_months_across_year_end():
    assert add_months(dt.date(2010, 12, 1), 1) == dt.date(2011, 1, 1)
    assert add_months(dt.date(2011, 1, 1), -1) == dt.date(2010, 12, 1)
    assert add_months(dt.date(2011, 3, 1), -14) == dt.date(2010, 1, 1)


def test_months_between_counts_calendar_months():
    # 31 January to 1 February is one calendar month although it is one day.
    assert months_between(dt.date(2011, 1, 31), dt.date(2011, 2, 1)) == 1
    assert months_between(dt.date(2010, 12, 1), dt.date(2011, 12, 1)) == 12


def test_month_range_includes_both_ends():
    assert month_range(dt.date(2010, 11, 1), dt.date(2011, 1, 1)) == [
        dt.date(2010, 11, 1),
        dt.date(2010, 12, 1),
        dt.date(2011, 1, 1),
    ]


def test_parse_month_accepts_year_month():
    assert parse_month("2011-02") == dt.date(2011, 2, 1)
    assert parse_month("2011-02-01") == dt.date(2011, 2, 1)


@pytest.mark.parametrize("text", ["2011-13", "2011-2", "February", "2011-02-15"])
def test_parse_month_rejects_invalid(text):
    with pytest.raises(ValueError) as caught:
        parse_month(text)
    assert repr(text) in str(caught.value)


def test_interval_of_winter_month():
    start = dt.datetime(2011, 1, 1, tzinfo=UTC)
    end = dt.datetime(2011, 2, 1, tzinfo=UTC)
    assert month_of_interval(start, end, "Europe/London") == dt.date(2011, 1, 1)


def test_interval_of_summer_month_in_bst():
    # July in London starts at 23:00 UTC on 30 June (BST is UTC+1).
    start = dt.datetime(2011, 6, 30, 23, tzinfo=UTC)
    end = dt.datetime(2011, 7, 31, 23, tzinfo=UTC)
    assert month_of_interval(start, end, "Europe/London") == dt.date(2011, 7, 1)


def test_zero_width_interval_rejected():
    moment = dt.datetime(2011, 7, 1, tzinfo=LONDON)
    with pytest.raises(ValueError) as caught:
        month_of_interval(moment, moment, "Europe/London")
    assert "CronDataIntervalTimetable" in str(caught.value)


def test_utc_midnight_interval_rejected_in_summer():
    # Midnight UTC edges are an hour off in BST, so they do not cover a London month.
    start = dt.datetime(2011, 7, 1, tzinfo=UTC)
    end = dt.datetime(2011, 8, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        month_of_interval(start, end, "Europe/London")


def test_naive_interval_rejected():
    with pytest.raises(ValueError) as caught:
        month_of_interval(dt.datetime(2011, 7, 1), dt.datetime(2011, 8, 1), "Europe/London")
    assert "time zone" in str(caught.value)
