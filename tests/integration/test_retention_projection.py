"""The retention projection against a real PostgreSQL: rows, bounds, reruns, at-risk flags."""

from __future__ import annotations

import datetime as dt

import pytest

from cohortintel import db, report
from cohortintel.at_risk import at_risk_cohorts
from cohortintel.months import add_months, months_between
from cohortintel.projection import ProjectionSettings
from cohortintel.retention import project_retention
from tests.integration.helpers import fetch, set_month_status

pytestmark = pytest.mark.postgres

FIRST = dt.date(2010, 10, 1)
SETTINGS = ProjectionSettings(horizon_months=4, min_customers=100, draws=500)
# Unbounded customers of a 200-customer cohort by month since first purchase, and
# the active ones: about half of the survivors buy in a given month.
UNBOUNDED = [200, 120, 100, 90, 84, 80, 77, 75, 73, 72]
ACTIVE = [200, 60, 50, 45, 42, 40, 38, 37, 36, 35]


def insert_cells(dsn: str, as_of: dt.date, overrides: dict | None = None) -> None:
    """Write every cell of the cohorts from FIRST to ``as_of``, through ``as_of``."""
    with db.transaction(dsn) as cur:
        cohort = FIRST
        while cohort <= as_of:
            for month in range(months_between(cohort, as_of) + 1):
                active = (overrides or {}).get((cohort, month), ACTIVE[month])
                cur.execute(
                    "insert into marts.cohort_cell values"
                    " ('all', 'All customers', %s, %s, %s, 200, %s, %s, 0)"
                    " on conflict do nothing",
                    (cohort, month, add_months(cohort, month), active, UNBOUNDED[month]),
                )
            cohort = add_months(cohort, 1)
        # A segment too small to project.
        cur.execute(
            "insert into marts.cohort_cell values"
            " ('country', 'Iceland', %s, 0, %s, 5, 5, 5, 0) on conflict do nothing",
            (FIRST, FIRST),
        )


def close_months(dsn: str, last: dt.date) -> None:
    month = FIRST
    statuses = {}
    while month <= last:
        statuses[f"{month:%Y-%m}"] = True
        month = add_months(month, 1)
    set_month_status(dsn, statuses)


def projection_rows(dsn: str, as_of: dt.date) -> list[tuple]:
    return fetch(
        dsn,
        "select segment_type, segment, cohort_month, months_since_first_purchase, activity_month,"
        " is_projected, cohort_size, retention_rate, retention_rate_lower_95,"
        " retention_rate_lower_80, retention_rate_upper_80, retention_rate_upper_95,"
        " unbounded_retention_rate, model_name, model_parameters"
        " from marts.retention_projection where as_of_month = %s order by 1, 2, 3, 4",
        (as_of,),
    )


def test_observed_rows_equal_marts(warehouse_dsn):
    as_of = dt.date(2011, 3, 1)
    insert_cells(warehouse_dsn, as_of)
    close_months(warehouse_dsn, as_of)
    project_retention(warehouse_dsn, as_of, "run-1", SETTINGS)
    observed = fetch(
        warehouse_dsn,
        "select cohort_month, months_since_first_purchase, retention_rate,"
        " unbounded_retention_rate from marts.retention_projection"
        " where as_of_month = %s and not is_projected order by 1, 2",
        (as_of,),
    )
    marts = fetch(
        warehouse_dsn,
        "select cohort_month, months_since_first_purchase, retention_rate::float8,"
        " unbounded_retention_rate::float8 from marts.cohort_retention"
        " where segment_type = 'all' order by 1, 2",
    )
    assert observed == marts
    assert len(observed) == 6 + 5 + 4 + 3 + 2 + 1


def test_projected_rows_bounded_and_ordered(warehouse_dsn):
    as_of = dt.date(2011, 3, 1)
    insert_cells(warehouse_dsn, as_of)
    close_months(warehouse_dsn, as_of)
    counts = project_retention(warehouse_dsn, as_of, "run-1", SETTINGS)
    assert counts["segments_projected"] == 1
    assert counts["segments_too_small"] == 1
    assert counts["rows_observed"] == 21
    assert counts["rows_projected"] == 6 * 4
    rows = [row for row in projection_rows(warehouse_dsn, as_of) if row[5]]
    assert len(rows) == 24
    for row in rows:
        lower_95, lower_80, rate, upper_80, upper_95 = row[8], row[9], row[7], row[10], row[11]
        assert 0 <= lower_95 <= lower_80 <= rate <= upper_80 <= upper_95 <= 1
        assert 0 <= row[12] <= 1
        assert row[4] > as_of
        assert row[13] == "sbg_settled_share_cohort_v1"
        assert row[14]["settle_months"] == 3
    assert max(row[4] for row in rows) == add_months(as_of, 4)


def test_rerun_replaces_rows(warehouse_dsn):
    as_of = dt.date(2011, 3, 1)
    insert_cells(warehouse_dsn, as_of)
    close_months(warehouse_dsn, as_of)
    project_retention(warehouse_dsn, as_of, "run-1", SETTINGS)
    before = projection_rows(warehouse_dsn, as_of)
    project_retention(warehouse_dsn, as_of, "run-2", SETTINGS)
    assert projection_rows(warehouse_dsn, as_of) == before
    run_ids = fetch(warehouse_dsn, "select distinct run_id from marts.retention_projection")
    assert run_ids == [("run-2",)]


def test_open_month_not_observed(warehouse_dsn):
    insert_cells(warehouse_dsn, dt.date(2011, 4, 1))
    close_months(warehouse_dsn, dt.date(2011, 3, 1))
    set_month_status(warehouse_dsn, {"2011-04": False})
    counts = project_retention(warehouse_dsn, dt.date(2011, 4, 1), "run-1", SETTINGS)
    assert counts["as_of_month"] == "2011-03-01"
    observed_months = fetch(
        warehouse_dsn,
        "select max(activity_month) from marts.retention_projection where not is_projected",
    )
    assert observed_months == [(dt.date(2011, 3, 1),)]


def test_no_closed_month_writes_nothing(warehouse_dsn):
    counts = project_retention(warehouse_dsn, dt.date(2011, 3, 1), "run-1", SETTINGS)
    assert counts["as_of_month"] is None
    assert fetch(warehouse_dsn, "select count(*) from marts.retention_projection") == [(0,)]


def test_young_segment_skipped(warehouse_dsn):
    # Cohorts from October through December: none has a month followed by 3 closed ones.
    as_of = dt.date(2010, 12, 1)
    insert_cells(warehouse_dsn, as_of)
    close_months(warehouse_dsn, as_of)
    counts = project_retention(warehouse_dsn, as_of, "run-1", SETTINGS)
    assert counts["segments_too_little_history"] == 1
    assert counts["segments_projected"] == 0
    assert fetch(warehouse_dsn, "select count(*) from marts.retention_projection") == [(0,)]


def test_cohort_below_band_flagged(warehouse_dsn):
    march, april = dt.date(2011, 3, 1), dt.date(2011, 4, 1)
    insert_cells(warehouse_dsn, march)
    close_months(warehouse_dsn, march)
    project_retention(warehouse_dsn, march, "run-march", SETTINGS)
    (band,) = fetch(
        warehouse_dsn,
        "select retention_rate, retention_rate_lower_80 from marts.retention_projection"
        " where as_of_month = %s and segment_type = 'all' and cohort_month = '2011-01-01'"
        " and activity_month = %s",
        (march, april),
    )
    # January's April cell (month 3) collapses to 2 of 200 customers.
    insert_cells(warehouse_dsn, april, {(dt.date(2011, 1, 1), 3): 2})
    close_months(warehouse_dsn, april)
    counts = project_retention(warehouse_dsn, april, "run-april", SETTINGS)
    flags = at_risk_cohorts(warehouse_dsn, april)
    band_flags = [flag for flag in flags if flag["rule"] == "below_projected_band"]
    assert counts["at_risk_cohorts"] == len(flags)
    assert [flag["cohort_month"] for flag in band_flags] == [dt.date(2011, 1, 1)]
    flag = band_flags[0]
    assert flag["observed_rate"] == 0.01
    assert flag["expected_rate"] == pytest.approx(band[0])
    assert flag["band_lower"] == pytest.approx(band[1])
    assert flag["shortfall"] == pytest.approx(band[1] - 0.01)
    assert flag["reference_as_of_month"] == march
    assert at_risk_cohorts(warehouse_dsn) == flags
    assert report.at_risk_section(warehouse_dsn)[0].startswith("As of 2011-04:")
    # A summary of the runs up to March shows March's projection, which flagged nothing.
    assert report.at_risk_section(warehouse_dsn, march) == [
        "(no cohort flagged in the newest retention projection)"
    ]


def test_cohort_below_older_cohorts_flagged(warehouse_dsn):
    # March's month 1 (April) is under October to February's 60 of 200.
    april = dt.date(2011, 4, 1)
    insert_cells(warehouse_dsn, april, {(dt.date(2011, 3, 1), 1): 40})
    close_months(warehouse_dsn, april)
    project_retention(warehouse_dsn, april, "run-april", SETTINGS)
    flags = [
        flag for flag in at_risk_cohorts(warehouse_dsn) if flag["rule"] == "below_older_cohorts"
    ]
    assert len(flags) == 1
    assert flags[0]["cohort_month"] == dt.date(2011, 3, 1)
    assert flags[0]["observed_rate"] == 0.2
    assert flags[0]["band_lower"] == 0.3
    assert flags[0]["reference_cohorts"] == 5
    assert flags[0]["shortfall"] == pytest.approx(0.1)
