"""Score every customer with the BG/NBD model and write ``marts.customer_risk``.

The model runs on months, and a customer's purchase events are the months with
``core.customer_month.is_active``. So x is the number of active months after the
first one, and t_x the months from the first to the last active month. T is the
months from the first active month to the as-of month. The as-of month is the
newest closed month up to the run's month with no open month before it, as for
the retention projection. A rerun for the same as-of month replaces its rows.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
from psycopg2.extras import Json, execute_values

from cohortintel import db
from cohortintel.customer_model import (
    MODEL_NAME,
    expected_purchases,
    fit_bgnbd,
    probability_alive,
)

log = logging.getLogger(__name__)

TABLE = "marts.customer_risk"
HORIZON_MONTHS = 3

# Grain: one row per customer with an active month up to the as-of month.
# Months are counted as (year * 12 + month) differences of first-of-month dates.
CUSTOMER_SUMMARY_QUERY = """
with
active_months as (
    select
        customer_id,
        extract(year from activity_month)::integer * 12
        + extract(month from activity_month)::integer as month_index
    from core.customer_month
    where is_active and activity_month <= %(as_of_month)s
),

customer_summary as (
    select
        customer_id,
        min(month_index) as first_month_index,
        max(month_index) as last_month_index,
        count(*) - 1 as repeat_months
    from active_months
    group by customer_id
)

select
    customer_id,
    repeat_months as frequency,
    last_month_index - first_month_index as recency_months,
    %(as_of_month_index)s - first_month_index as age_months
from customer_summary
order by customer_id
"""

INSERT_QUERY = """
insert into marts.customer_risk (
    customer_id, as_of_month, p_alive, expected_purchases_3_months,
    model_name, model_parameters, run_id
) values %s
"""


def read_customer_summary(cur, as_of_month: dt.date) -> pd.DataFrame:
    """Read (frequency, recency_months, age_months) per customer up to ``as_of_month``."""
    cur.execute(
        CUSTOMER_SUMMARY_QUERY,
        {
            "as_of_month": as_of_month,
            "as_of_month_index": as_of_month.year * 12 + as_of_month.month,
        },
    )
    return pd.DataFrame(
        cur.fetchall(), columns=["customer_id", "frequency", "recency_months", "age_months"]
    )


def score_customers(warehouse_dsn: str, run_month: dt.date, run_id: str) -> dict:
    """Fit the BG/NBD model as of the newest closed month and store every customer's score.

    Returns the counts for the task log. Nothing is written when no month is closed
    or no customer has a second active month, because the model cannot be fitted.
    """
    with db.transaction(warehouse_dsn) as cur:
        db.execute_file(cur, "retention/as_of_month.sql", {"run_month": run_month})
        (as_of_month,) = cur.fetchone()
        summary = read_customer_summary(cur, as_of_month) if as_of_month else pd.DataFrame()
    counts = {
        "table": TABLE,
        "as_of_month": as_of_month.isoformat() if as_of_month else None,
        "customers_read": len(summary),
        "rows_written": 0,
    }
    if as_of_month is None:
        log.warning(
            "No month up to %s is closed, so no customer is scored and %s is not changed.",
            f"{run_month:%Y-%m}",
            TABLE,
        )
        return counts
    if summary.empty or not (summary["frequency"] > 0).any():
        log.warning(
            "None of the %s customers up to %s has a second active month, so the BG/NBD "
            "model cannot be fitted and %s is not changed for that month.",
            len(summary),
            f"{as_of_month:%Y-%m}",
            TABLE,
        )
        return counts

    frequency = summary["frequency"].to_numpy(dtype=float)
    recency = summary["recency_months"].to_numpy(dtype=float)
    age = summary["age_months"].to_numpy(dtype=float)
    # NOTE: BG/NBD is a continuous-time model, but its input here is whole months,
    # with at most one purchase per month. For the most frequent customers the
    # expectation can exceed HORIZON_MONTHS, which no customer can reach.
    fit = fit_bgnbd(frequency, recency, age)
    p_alive = probability_alive(fit, frequency, recency, age)
    expected = expected_purchases(fit, float(HORIZON_MONTHS), frequency, recency, age)

    parameters = Json(
        {
            **fit.parameters,
            "time_unit": "month",
            "log_likelihood": fit.log_likelihood,
            "customers": fit.customers,
            "converged": fit.converged,
        }
    )
    rows = [
        (customer_id, as_of_month, float(alive), float(purchases), MODEL_NAME, parameters, run_id)
        for customer_id, alive, purchases in zip(
            summary["customer_id"], np.clip(p_alive, 0.0, 1.0), expected, strict=True
        )
    ]
    with db.transaction(warehouse_dsn) as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (TABLE,))
        cur.execute("delete from marts.customer_risk where as_of_month = %s", (as_of_month,))
        execute_values(cur, INSERT_QUERY, rows, page_size=1000)
    counts["rows_written"] = len(rows)
    log.info(
        "Scored customers as of %s: %s customers read, %s rows written to %s "
        "(r=%.4f alpha=%.4f a=%.4f b=%.4f, months)",
        f"{as_of_month:%Y-%m}",
        counts["customers_read"],
        counts["rows_written"],
        TABLE,
        fit.r,
        fit.alpha,
        fit.a,
        fit.b,
    )
    return counts
