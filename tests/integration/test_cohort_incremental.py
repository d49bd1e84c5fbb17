"""Incremental cohort refreshes give the same tables as a full rebuild, whatever the order.

Hypothesis draws random transaction sets over six months and a random
sequence of monthly runs (any order, repeats, a look-back window). Rows arrive
late, and some disappear again, as when an order system deletes lines. Each
run replaces its months in core.transactions with the rows in the source by
then and refreshes the cohorts of those months, as the DAG does. After every run the marts must equal a full rebuild from the
same fact table. The rebuild leaves that same state, so the next run goes on
from it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cohortintel import db
from cohortintel.cohorts import build_cohorts, refresh_cohorts
from cohortintel.config import Settings
from cohortintel.months import add_months, month_range
from tests.integration.helpers import fetch, insert_transactions, set_month_status

pytestmark = pytest.mark.postgres

FIRST_MONTH = dt.date(2011, 1, 1)
MONTHS = 6

rows_strategy = st.lists(
    st.tuples(
        st.integers(0, MONTHS - 1),  # month offset
        st.integers(1, 28),  # day
        st.sampled_from(["a", "b", "c", "d", "e", None]),  # customer, None is a guest
        st.sampled_from(["purchase", "purchase", "purchase", "return", "other"]),
        st.integers(1, 50),  # amount in whole pounds
        st.sampled_from(["United Kingdom", "France"]),
        st.integers(0, 3),  # run from which the row is in the source
        st.one_of(st.none(), st.integers(1, 5)),  # run from which it is gone again, if ever
    ),
    max_size=40,
)
runs_strategy = st.lists(
    st.tuples(st.integers(0, MONTHS - 1), st.integers(0, 2)),  # (batch month, look-back)
    min_size=1,
    max_size=6,
)

MART_QUERIES = {
    "customer_month": "select * from core.customer_month order by 1, 2",
    "customer_cohort": "select * from marts.customer_cohort order by 1",
    "cohort_cell": "select * from marts.cohort_cell order by 1, 2, 3, 4",
}


def as_transaction(index: int, row: tuple) -> tuple:
    month_offset, day, customer, kind, amount, country, _, _ = row
    month = add_months(FIRST_MONTH, month_offset)
    sign = -1 if kind == "return" else 1
    price = Decimal(amount) if kind != "other" else Decimal(0)
    order = f"C{index}" if kind == "return" else str(index)
    return (index, order, customer, f"{month:%Y-%m}-{day:02d} 12:00", sign, price, kind, country)


def in_source(row: tuple, run_number: int) -> bool:
    arrives, leaves = row[6], row[7]
    return arrives <= run_number and (leaves is None or run_number < leaves)


def replace_months(dsn: str, rows: list[tuple], months: list[dt.date], run_number: int) -> None:
    """Replace ``months`` in core.transactions with the rows in the source at a run, like the load step."""
    with db.transaction(dsn) as cur:
        cur.execute(
            "delete from core.transactions where occurred_month = any(%s::date[])", (months,)
        )
    month_keys = {f"{month:%Y-%m}" for month in months}
    insert_transactions(
        dsn,
        [
            as_transaction(index, row)
            for index, row in enumerate(rows)
            if f"{add_months(FIRST_MONTH, row[0]):%Y-%m}" in month_keys
            and in_source(row, run_number)
        ],
    )


def snapshot(dsn: str) -> dict[str, list]:
    return {name: fetch(dsn, query) for name, query in MART_QUERIES.items()}


@pytest.fixture
def clean_warehouse(warehouse_dsn):
    set_month_status(
        warehouse_dsn, {f"{add_months(FIRST_MONTH, k):%Y-%m}": True for k in range(MONTHS)}
    )

    def reset() -> str:
        with db.transaction(warehouse_dsn) as cur:
            cur.execute(
                "truncate core.transactions, core.customer_month, core.aggregated_month,"
                " marts.customer_cohort, marts.cohort_cell"
            )
        return warehouse_dsn

    return reset


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=rows_strategy, runs=runs_strategy)
# A customer's last purchase disappears from March while the customer stays in
# the January cohort: the unbounded counts of that cohort must shrink.
@example(
    rows=[
        (0, 1, "a", "purchase", 10, "France", 0, None),
        (2, 1, "a", "purchase", 10, "France", 0, 1),
        (0, 2, "b", "purchase", 10, "France", 0, None),
        (2, 3, "c", "purchase", 10, "France", 0, None),
    ],
    runs=[(2, 2), (2, 0)],
)
def test_any_run_order_matches_full_rebuild(clean_warehouse, rows, runs):
    dsn = clean_warehouse()
    config = Settings()
    for run_number, (month_offset, lookback) in enumerate(runs):
        batch_month = add_months(FIRST_MONTH, month_offset)
        window = month_range(add_months(batch_month, -lookback), batch_month)
        window = [month for month in window if month >= FIRST_MONTH]
        replace_months(dsn, rows, window, run_number)
        refresh_cohorts(dsn, window, config)
        incremental = snapshot(dsn)
        build_cohorts(dsn, config)
        assert incremental == snapshot(dsn), f"after run {run_number} of {runs}"


def test_rerun_of_month_changes_nothing(clean_warehouse):
    dsn = clean_warehouse()
    rows = [
        (0, 5, "a", "purchase", 10, "France", 0, None),
        (1, 7, "a", "purchase", 5, "France", 0, None),
        (2, 9, "b", "purchase", 8, "United Kingdom", 0, None),
    ]
    months = month_range(FIRST_MONTH, add_months(FIRST_MONTH, 2))
    replace_months(dsn, rows, months, run_number=0)
    refresh_cohorts(dsn, months, Settings())
    before = snapshot(dsn)
    refresh_cohorts(dsn, [add_months(FIRST_MONTH, 1)], Settings())
    assert snapshot(dsn) == before


def test_late_row_moves_customer_to_earlier_cohort(clean_warehouse):
    dsn = clean_warehouse()
    rows = [
        (1, 7, "a", "purchase", 5, "France", 0, None),
        (0, 5, "a", "purchase", 10, "United Kingdom", 1, None),
    ]
    months = month_range(FIRST_MONTH, add_months(FIRST_MONTH, 1))
    replace_months(dsn, rows, months, run_number=0)
    refresh_cohorts(dsn, months, Settings())
    assert fetch(dsn, "select cohort_month, first_country from marts.customer_cohort") == [
        (add_months(FIRST_MONTH, 1), "France")
    ]
    # The January row arrives late and is picked up by February's look-back.
    replace_months(dsn, rows, months, run_number=1)
    refresh_cohorts(dsn, months, Settings())
    assert fetch(dsn, "select cohort_month, first_country from marts.customer_cohort") == [
        (FIRST_MONTH, "United Kingdom")
    ]
    cohorts = fetch(dsn, "select distinct cohort_month from marts.cohort_cell")
    assert cohorts == [(FIRST_MONTH,)]
