"""Cross-check the SQL cohort marts against an independent pandas version on the real data.

The whole Online Retail file goes through extract, validate, load and the
incremental cohort refresh month by month, as the DAG runs it. pandas then
applies the same documented rules to the raw CSV: exact duplicates count
once, a purchase has quantity > 0 and unit price > 0 on an order that starts
with neither C nor A, returns (C orders) count in revenue but not as
activity, the segment is the country of the first purchase. Every cell of
both segment types must agree.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest

from cohortintel.config import Settings
from cohortintel.months import month_range
from cohortintel.pipeline import run_month
from cohortintel.source import load_online_retail
from tests.integration.helpers import fetch

pytestmark = pytest.mark.postgres

FIRST = dt.date(2010, 12, 1)
LAST = dt.date(2011, 12, 1)


def pandas_cells(csv_path) -> pd.DataFrame:
    frame = pd.read_csv(
        csv_path, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": "Int64"}
    ).drop_duplicates()
    frame = frame[frame["CustomerID"].notna()].copy()
    frame["customer_id"] = frame["CustomerID"].astype(str)
    frame["month"] = pd.PeriodIndex(frame["InvoiceDate"].str[:7], freq="M")
    frame["amount"] = frame["Quantity"] * frame["UnitPrice"]
    is_return = frame["InvoiceNo"].str.startswith("C")
    is_adjustment = frame["InvoiceNo"].str.startswith("A")
    frame["is_purchase"] = (
        (frame["Quantity"] > 0) & (frame["UnitPrice"] > 0) & ~is_return & ~is_adjustment
    )
    frame["counts_in_revenue"] = frame["is_purchase"] | is_return

    purchases = frame[frame["is_purchase"]].sort_values("InvoiceDate", kind="stable")
    first = purchases.groupby("customer_id").first()
    customers = pd.DataFrame(
        {
            "cohort": first["month"],
            "country": first["Country"],
            "last_active": purchases.groupby("customer_id")["month"].max(),
        }
    )
    active = purchases[["customer_id", "month"]].drop_duplicates()
    revenue = frame[frame["counts_in_revenue"]].groupby(["customer_id", "month"])["amount"].sum()
    last_month = pd.Period(f"{LAST:%Y-%m}", freq="M")

    rows = []
    for segment_type in ("all", "country"):
        segment = (
            pd.Series("All customers", index=customers.index)
            if segment_type == "all"
            else customers["country"]
        )
        for (cohort, value), members in customers.groupby([customers["cohort"], segment]):
            ids = set(members.index)
            member_active = active[active["customer_id"].isin(ids)]
            member_revenue = revenue[revenue.index.get_level_values(0).isin(ids)]
            for offset in range((last_month - cohort).n + 1):
                month = cohort + offset
                rows.append(
                    {
                        "segment_type": segment_type,
                        "segment": value,
                        "cohort_month": cohort.to_timestamp().date(),
                        "months_since_first_purchase": offset,
                        "cohort_size": len(ids),
                        "active_customers": int((member_active["month"] == month).sum()),
                        "unbounded_active_customers": int((members["last_active"] >= month).sum()),
                        "revenue": float(
                            member_revenue[member_revenue.index.get_level_values(1) == month].sum()
                        ),
                    }
                )
    return pd.DataFrame(rows)


def test_sql_marts_match_pandas(make_database, warehouse_dsn, online_retail_csv):
    source = make_database("source")
    load_online_retail(source, online_retail_csv)
    settings = dataclasses.replace(Settings(), lookback_months=0)
    for month in month_range(FIRST, LAST):
        run_month(source, warehouse_dsn, month, settings, "check")

    columns = [
        "segment_type",
        "segment",
        "cohort_month",
        "months_since_first_purchase",
        "cohort_size",
        "active_customers",
        "unbounded_active_customers",
        "revenue",
    ]
    sql = pd.DataFrame(
        fetch(warehouse_dsn, f"select {', '.join(columns)} from marts.cohort_cell"),
        columns=columns,
    )
    sql["revenue"] = sql["revenue"].astype(float)
    key = columns[:4]
    expected = pandas_cells(online_retail_csv).sort_values(key).reset_index(drop=True)
    actual = sql.sort_values(key).reset_index(drop=True)

    assert len(actual) == len(expected)
    assert actual[key].equals(expected[key])
    for column in ("cohort_size", "active_customers", "unbounded_active_customers"):
        mismatched = (actual[column] != expected[column]).sum()
        assert mismatched == 0, f"{mismatched} cells differ in {column}"
    revenue_error = (actual["revenue"] - expected["revenue"]).abs().max()
    assert revenue_error < 1e-6
    december = expected[(expected["segment_type"] == "all") & (expected["cohort_month"] == FIRST)][
        "cohort_size"
    ].iloc[0]
    assert december == 885
