"""Customer scores against a real PostgreSQL: monthly summaries, stored rows, reruns."""

from __future__ import annotations

import datetime as dt
import warnings

import pytest

from cohortintel import db
from cohortintel.customer_model import BGNBDFit, CustomerModelWarning, expected_purchases
from cohortintel.customer_risk import read_customer_summary, score_customers
from tests.integration.helpers import fetch, set_month_status

pytestmark = pytest.mark.postgres

RUN_MONTH = dt.date(2011, 7, 1)
AS_OF_MONTH = dt.date(2011, 6, 1)

# Active months by customer. July 2011 is open and must be ignored.
ACTIVE_MONTHS = {
    "c1": ["2011-01", "2011-03", "2011-05", "2011-07"],
    "c2": ["2011-01"],
    "c3": ["2011-02", "2011-06"],
    "c4": ["2011-06"],
    "c5": ["2011-01", "2011-02", "2011-03", "2011-04"],
    "c6": ["2011-02", "2011-04", "2011-05"],
    "c7": ["2011-07"],
}
# Months with only returns: in core.customer_month but not active.
RETURN_ONLY_MONTHS = {"c2": ["2011-03"], "c6": ["2011-06"]}

# (frequency, recency_months, age_months) by customer as of June 2011, by hand:
# x counts active months after the first, t_x and T count months from the first.
EXPECTED_SUMMARY = {
    "c1": (2, 4, 5),
    "c2": (0, 0, 5),
    "c3": (1, 4, 4),
    "c4": (0, 0, 0),
    "c5": (3, 3, 5),
    "c6": (2, 3, 4),
}


def month(text: str) -> dt.date:
    return dt.date.fromisoformat(text + "-01")


def insert_customer_months(dsn: str) -> None:
    with db.transaction(dsn) as cur:
        for is_active, months_by_customer in ((True, ACTIVE_MONTHS), (False, RETURN_ONLY_MONTHS)):
            for customer_id, months in months_by_customer.items():
                for text in months:
                    cur.execute(
                        "insert into core.customer_month"
                        " (customer_id, activity_month, is_active, net_revenue)"
                        " values (%s, %s, %s, %s)",
                        (customer_id, month(text), is_active, 10 if is_active else -5),
                    )
    statuses = {f"2011-{number:02d}": True for number in range(1, 7)}
    statuses["2011-07"] = False
    set_month_status(dsn, statuses)


def score(dsn: str, run_id: str) -> dict:
    # Six customers pin down four parameters loosely, so the fit may end on a bound.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CustomerModelWarning)
        return score_customers(dsn, RUN_MONTH, run_id)


def stored_rows(dsn: str) -> dict[str, tuple]:
    rows = fetch(
        dsn,
        "select customer_id, p_alive, expected_purchases_3_months, model_name,"
        " model_parameters, run_id from marts.customer_risk where as_of_month = %s",
        (AS_OF_MONTH,),
    )
    return {row[0]: row[1:] for row in rows}


def test_customer_summary_matches_hand_counts(warehouse_dsn):
    insert_customer_months(warehouse_dsn)
    with db.transaction(warehouse_dsn) as cur:
        summary = read_customer_summary(cur, AS_OF_MONTH)
    by_customer = {
        row.customer_id: (row.frequency, row.recency_months, row.age_months)
        for row in summary.itertuples(index=False)
    }
    assert by_customer == EXPECTED_SUMMARY


def test_score_customers_writes_one_row_each(warehouse_dsn):
    insert_customer_months(warehouse_dsn)
    counts = score(warehouse_dsn, "run-1")
    assert counts["as_of_month"] == "2011-06-01"
    assert counts["customers_read"] == len(EXPECTED_SUMMARY)
    assert counts["rows_written"] == len(EXPECTED_SUMMARY)

    rows = stored_rows(warehouse_dsn)
    assert sorted(rows) == sorted(EXPECTED_SUMMARY)
    for customer_id, (p_alive, expected, model_name, parameters, run_id) in rows.items():
        assert 0.0 <= p_alive <= 1.0, customer_id
        assert expected >= 0.0, customer_id
        assert model_name == "bgnbd"
        assert run_id == "run-1"
        assert parameters["time_unit"] == "month"


def test_score_customers_p_alive_by_hand(warehouse_dsn):
    insert_customer_months(warehouse_dsn)
    score(warehouse_dsn, "run-1")
    rows = stored_rows(warehouse_dsn)
    parameters = rows["c1"][3]
    a, b = parameters["a"], parameters["b"]

    # No active month after the first: dropout happens only after a repeat purchase.
    assert rows["c2"][0] == 1.0
    # First purchase in the as-of month.
    assert rows["c4"][0] == 1.0
    # After a repeat purchase in the as-of month (x = 1), only the dropout right
    # after it is possible: p_alive = (b + x - 1) / (a + b + x - 1) = b / (a + b).
    assert rows["c3"][0] == pytest.approx(b / (a + b), rel=1e-9)
    # Silent since April (x = 3, t_x = 3, T = 5).
    r, alpha = parameters["r"], parameters["alpha"]
    odds = a / (b + 2) * ((alpha + 5) / (alpha + 3)) ** (r + 3)
    assert rows["c5"][0] == pytest.approx(1 / (1 + odds), rel=1e-9)


def test_score_customers_expectation_matches_model(warehouse_dsn):
    insert_customer_months(warehouse_dsn)
    score(warehouse_dsn, "run-1")
    rows = stored_rows(warehouse_dsn)
    parameters = rows["c1"][3]
    fit = BGNBDFit(
        parameters["r"], parameters["alpha"], parameters["a"], parameters["b"], 0.0, True, "", 0, 6
    )
    for customer_id, (x, t_x, T) in EXPECTED_SUMMARY.items():
        expected = expected_purchases(fit, 3.0, [x], [t_x], [T])[0]
        assert rows[customer_id][1] == pytest.approx(expected, rel=1e-9), customer_id


def test_score_customers_rerun_replaces_rows(warehouse_dsn):
    insert_customer_months(warehouse_dsn)
    score(warehouse_dsn, "run-1")
    first = stored_rows(warehouse_dsn)
    score(warehouse_dsn, "run-2")
    second = stored_rows(warehouse_dsn)

    assert sorted(second) == sorted(first)
    for customer_id, row in second.items():
        assert row[4] == "run-2"
        assert row[0] == pytest.approx(first[customer_id][0], rel=1e-9)
        assert row[1] == pytest.approx(first[customer_id][1], rel=1e-9)
    (total,) = fetch(warehouse_dsn, "select count(*) from marts.customer_risk")[0]
    assert total == len(EXPECTED_SUMMARY)


def test_score_customers_without_closed_month(warehouse_dsn):
    set_month_status(warehouse_dsn, {"2011-01": False})
    counts = score(warehouse_dsn, "run-1")
    assert counts["as_of_month"] is None
    assert counts["rows_written"] == 0


def test_reader_can_select_customer_risk(warehouse_dsn):
    rows = fetch(
        warehouse_dsn,
        "select has_table_privilege('cohortintel_reader', 'marts.customer_risk', 'select')",
    )
    assert rows == [(True,)]
