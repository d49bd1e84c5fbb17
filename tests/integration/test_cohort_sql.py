"""Cohort rules of include/sql/cohorts on tiny tables with results worked out by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from cohortintel.cohorts import build_cohorts
from tests.integration.helpers import fetch, insert_transactions, set_month_status

pytestmark = pytest.mark.postgres

# Five customers and a guest between December 2010 and March 2011 (London time).
# Worked out by hand:
#   cohort 2010-12: customer 5                 -> size 1
#   cohort 2011-01: customers 1 and 2          -> size 2 (2's December row is a return)
#   cohort 2011-02: customer 3                 -> size 1
#   cohort 2011-03: customer 4                 -> size 1 (its January line is a free item)
#   the guest (no customer id) is in no cohort
ROWS = [
    (1, "540001", "1", "2011-01-05 10:00", 2, Decimal("5.00"), "purchase"),
    (2, "540002", "1", "2011-01-20 11:00", 1, Decimal("3.00"), "purchase"),
    (3, "540002", "1", "2011-01-20 11:00", 1, Decimal("4.00"), "purchase"),
    (4, "C541000", "1", "2011-02-10 09:00", -1, Decimal("5.00"), "return"),
    (5, "542000", "1", "2011-03-02 12:00", 1, Decimal("7.00"), "purchase"),
    (6, "C539000", "2", "2010-12-15 15:00", -2, Decimal("1.50"), "return"),
    (7, "540100", "2", "2011-01-10 08:30", 3, Decimal("2.00"), "purchase"),
    (8, "541100", "2", "2011-02-03 14:00", 4, Decimal("5.00"), "purchase"),
    (9, "541200", "3", "2011-02-14 16:00", 1, Decimal("9.99"), "purchase"),
    (10, "540200", None, "2011-01-07 13:00", 10, Decimal("1.00"), "purchase"),
    (11, "540300", "4", "2011-01-12 10:00", 1, Decimal("0.00"), "other"),
    (12, "542100", "4", "2011-03-08 10:00", 2, Decimal("3.00"), "purchase"),
    (13, "539100", "5", "2010-12-20 10:00", 1, Decimal("8.00"), "purchase"),
    (14, "540400", "5", "2011-01-15 10:00", 1, Decimal("6.00"), "purchase"),
]
MONTHS_CLOSED = {"2010-12": True, "2011-01": True, "2011-02": True, "2011-03": False}


@pytest.fixture
def built(warehouse_dsn: str) -> str:
    insert_transactions(warehouse_dsn, ROWS)
    set_month_status(warehouse_dsn, MONTHS_CLOSED)
    build_cohorts(warehouse_dsn)
    return warehouse_dsn


def cells(dsn: str) -> dict[tuple[str, int], tuple]:
    rows = fetch(
        dsn,
        "select cohort_month, months_since_first_purchase, cohort_size, active_customers,"
        " retention_rate, revenue, is_complete from marts.cohort_retention"
        " where segment_type = 'all'",
    )
    return {(f"{row[0]:%Y-%m}", row[1]): row[2:] for row in rows}


def test_cohort_sizes_by_first_purchase_month(built):
    sizes = dict(
        fetch(
            built,
            "select to_char(cohort_month, 'YYYY-MM'), count(*) from marts.customer_cohort group by 1",
        )
    )
    assert sizes == {"2010-12": 1, "2011-01": 2, "2011-02": 1, "2011-03": 1}


def test_return_never_starts_a_cohort(built):
    (cohort_month,) = fetch(
        built, "select cohort_month from marts.customer_cohort where customer_id = '2'"
    )[0]
    assert cohort_month == dt.date(2011, 1, 1)


def test_free_item_never_starts_a_cohort(built):
    (cohort_month,) = fetch(
        built, "select cohort_month from marts.customer_cohort where customer_id = '4'"
    )[0]
    assert cohort_month == dt.date(2011, 3, 1)


def test_guest_rows_stay_out_of_cohorts(built):
    assert fetch(built, "select count(*) from marts.customer_cohort where customer_id is null") == [
        (0,)
    ]


def test_customer_id_keeps_its_text_form(built):
    ids = sorted(row[0] for row in fetch(built, "select customer_id from marts.customer_cohort"))
    assert ids == ["1", "2", "3", "4", "5"]


def test_retention_cells_by_hand(built):
    table = cells(built)
    # (cohort_size, active_customers, retention_rate, revenue, is_complete)
    assert table[("2011-01", 0)][:3] == (2, 2, Decimal(1))
    # Customer 1 only returned goods in February, so only customer 2 is active.
    assert table[("2011-01", 1)][:3] == (2, 1, Decimal("0.5"))
    assert table[("2011-01", 2)][:3] == (2, 1, Decimal("0.5"))
    assert table[("2011-02", 1)][:3] == (1, 0, Decimal(0))
    assert table[("2010-12", 1)][:3] == (1, 1, Decimal(1))


def test_offset_counts_calendar_months_across_year_end(built):
    rows = fetch(
        built,
        "select months_since_first_purchase, activity_month from marts.cohort_retention"
        " where segment_type = 'all' and cohort_month = '2010-12-01' order by 1",
    )
    assert rows == [
        (0, dt.date(2010, 12, 1)),
        (1, dt.date(2011, 1, 1)),
        (2, dt.date(2011, 2, 1)),
        (3, dt.date(2011, 3, 1)),
    ]


def test_revenue_nets_returns_in_their_month(built):
    table = cells(built)
    # January cohort in February: customer 1 returned 5.00, customer 2 bought 20.00.
    assert table[("2011-01", 1)][3] == Decimal("15.00")
    # Customer 2's December return happened before the cohort began and is left out.
    assert table[("2011-01", 0)][3] == Decimal("23.00")


def test_unlived_cells_have_no_row(built):
    table = cells(built)
    assert ("2011-02", 2) not in table
    assert ("2011-03", 1) not in table
    assert len(table) == 4 + 3 + 2 + 1


def test_no_cohort_row_for_month_without_new_customers(warehouse_dsn):
    insert_transactions(
        warehouse_dsn,
        [
            (1, "1", "a", "2011-01-05 10:00", 1, Decimal("1"), "purchase"),
            (2, "2", "a", "2011-03-05 10:00", 1, Decimal("1"), "purchase"),
            (3, "3", "b", "2011-03-06 10:00", 1, Decimal("1"), "purchase"),
        ],
    )
    set_month_status(warehouse_dsn, {"2011-01": True, "2011-02": True, "2011-03": True})
    build_cohorts(warehouse_dsn)
    cohorts = [
        row[0]
        for row in fetch(
            warehouse_dsn,
            "select distinct cohort_month from marts.cohort_retention where segment_type = 'all' order by 1",
        )
    ]
    assert cohorts == [dt.date(2011, 1, 1), dt.date(2011, 3, 1)]


def test_open_month_cells_flagged_incomplete(built):
    table = cells(built)
    assert table[("2011-01", 2)][4] is False
    assert table[("2011-03", 0)][4] is False
    assert table[("2011-01", 1)][4] is True


def test_matrix_view_nulls_unlived_cells(built):
    rows = fetch(
        built,
        "select to_char(cohort_month, 'YYYY-MM'), cohort_size, m00, m01, m02, m03"
        " from marts.cohort_retention_matrix where segment_type = 'all' order by cohort_month",
    )
    assert rows[2] == ("2011-02", 1, Decimal(1), Decimal(0), None, None)
    assert rows[3] == ("2011-03", 1, Decimal(1), None, None, None)


def test_offset_zero_is_full_retention(built):
    rates = fetch(
        built,
        "select distinct retention_rate from marts.cohort_retention where months_since_first_purchase = 0",
    )
    assert rates == [(Decimal(1),)]


def test_rebuild_gives_identical_tables(built):
    before = fetch(built, "select * from marts.cohort_retention order by 1, 2, 3, 4")
    build_cohorts(built)
    after = fetch(built, "select * from marts.cohort_retention order by 1, 2, 3, 4")
    assert after == before


def measures(dsn: str, cohort: str) -> list[tuple]:
    return fetch(
        dsn,
        "select months_since_first_purchase, unbounded_active_customers, revenue_per_customer,"
        " cumulative_revenue_per_customer, net_revenue_retention from marts.cohort_retention"
        " where segment_type = 'all' and cohort_month = %s order by 1",
        (cohort,),
    )


def test_revenue_measures_by_hand(built):
    # January cohort: revenue 23.00, 15.00 and 7.00 over two customers.
    rows = measures(built, "2011-01-01")
    assert [row[2] for row in rows] == [Decimal("11.5"), Decimal("7.5"), Decimal("3.5")]
    assert [row[3] for row in rows] == [Decimal("11.5"), Decimal("19.0"), Decimal("22.5")]
    assert rows[0][4] == Decimal(1)
    assert abs(rows[1][4] - Decimal(15) / Decimal(23)) < Decimal("1e-12")
    assert abs(rows[2][4] - Decimal(7) / Decimal(23)) < Decimal("1e-12")


def test_unbounded_retention_by_hand(built):
    # Customer 1 last bought in March, customer 2 in February.
    assert [row[1] for row in measures(built, "2011-01-01")] == [2, 2, 1]
    # Customer 5 last bought in January.
    assert [row[1] for row in measures(built, "2010-12-01")] == [1, 1, 0, 0]


def test_average_curve_counts_only_lived_cohorts(built):
    rows = fetch(
        built,
        "select months_since_first_purchase, cohorts, customers, retention_rate"
        " from marts.retention_curve where segment_type = 'all' order by 1",
    )
    # March is open, so March cells are left out: the February cohort's month 1
    # and the March cohort's month 0 do not count.
    assert rows[0] == (0, 3, 4, Decimal(1))
    assert rows[1][:3] == (1, 2, 3)
    assert abs(rows[1][3] - Decimal(2) / Decimal(3)) < Decimal("1e-12")
    assert rows[2] == (2, 1, 1, Decimal(0))
    assert len(rows) == 3


def test_segment_fixed_at_first_purchase(warehouse_dsn):
    insert_transactions(
        warehouse_dsn,
        [
            (1, "1", "9", "2011-01-10 10:00", 1, Decimal("2.00"), "purchase", "France"),
            (2, "2", "9", "2011-02-10 10:00", 1, Decimal("2.00"), "purchase", "Germany"),
            (3, "3", "8", "2011-01-11 10:00", 1, Decimal("2.00"), "purchase", "Germany"),
        ],
    )
    set_month_status(warehouse_dsn, {"2011-01": True, "2011-02": True})
    build_cohorts(warehouse_dsn)
    rows = fetch(
        warehouse_dsn,
        "select segment, months_since_first_purchase, cohort_size, retention_rate"
        " from marts.cohort_retention where segment_type = 'country' order by 1, 2",
    )
    assert rows == [
        ("France", 0, 1, Decimal(1)),
        ("France", 1, 1, Decimal(1)),
        ("Germany", 0, 1, Decimal(1)),
        ("Germany", 1, 1, Decimal(0)),
    ]


def test_no_rate_above_one(built):
    rows = fetch(
        built,
        "select count(*) from marts.cohort_retention"
        " where retention_rate > 1 or unbounded_retention_rate > 1"
        " or retention_rate > unbounded_retention_rate",
    )
    assert rows == [(0,)]


def test_leap_day_midnight_in_business_month(warehouse_dsn):
    # 23:30 on leap day is February in London and in UTC (GMT applies). 00:30 on
    # 1 April 2012 is BST, so it is 23:30 on 31 March in UTC, yet April here.
    insert_transactions(
        warehouse_dsn,
        [
            (1, "1", "a", "2012-02-29 23:30", 1, Decimal("1"), "purchase"),
            (2, "2", "b", "2012-04-01 00:30", 1, Decimal("1"), "purchase"),
        ],
    )
    set_month_status(warehouse_dsn, {"2012-02": True, "2012-03": True, "2012-04": True})
    build_cohorts(warehouse_dsn)
    cohorts = dict(
        fetch(warehouse_dsn, "select customer_id, cohort_month from marts.customer_cohort")
    )
    assert cohorts == {"a": dt.date(2012, 2, 1), "b": dt.date(2012, 4, 1)}


def test_order_line_items_count_once(warehouse_dsn):
    # Three lines of one order make one active customer and one order's revenue.
    insert_transactions(
        warehouse_dsn,
        [
            (1, "700", "a", "2011-05-02 10:00", 1, Decimal("1.00"), "purchase"),
            (2, "700", "a", "2011-05-02 10:00", 2, Decimal("1.00"), "purchase"),
            (3, "700", "a", "2011-05-02 10:00", 3, Decimal("1.00"), "purchase"),
        ],
    )
    set_month_status(warehouse_dsn, {"2011-05": True})
    build_cohorts(warehouse_dsn)
    rows = fetch(
        warehouse_dsn,
        "select cohort_size, active_customers, revenue from marts.cohort_retention"
        " where segment_type = 'all'",
    )
    assert rows == [(1, 1, Decimal("6.00"))]
