-- Rebuilds the cohort retention table from the fact table and customer cohorts.
-- A customer is active in a month with at least one purchase in it. Revenue is
-- the net of purchases and returns in the month. Every month a cohort has lived,
-- up to the latest loaded month, gets a row (0 active customers is a real 0);
-- months it has not lived get none, so they read as NULL.
-- grain: one row per (cohort_month, months_since_first_purchase)
delete from marts.cohort_retention;

with
latest as (
    select max(occurred_month) as last_month
    from core.transactions
),

cohort_sizes as (
    select cohort_month, count(*) as cohort_size
    from marts.customer_cohort
    group by cohort_month
),

cells as (
    select
        cohort_sizes.cohort_month,
        cohort_sizes.cohort_size,
        offsets.months_since_first_purchase,
        (cohort_sizes.cohort_month + make_interval(months => offsets.months_since_first_purchase))::date
            as activity_month
    from cohort_sizes
    cross join latest
    cross join lateral generate_series(
        0,
        (extract(year from age(latest.last_month, cohort_sizes.cohort_month)) * 12
            + extract(month from age(latest.last_month, cohort_sizes.cohort_month)))::integer
    ) as offsets (months_since_first_purchase)
),

customer_months as (
    select
        tx.customer_id,
        tx.occurred_month as activity_month,
        bool_or(tx.line_kind = 'purchase') as is_active,
        sum(tx.amount) as net_revenue
    from core.transactions as tx
    where tx.customer_id is not null and tx.line_kind in ('purchase', 'return')
    group by tx.customer_id, tx.occurred_month
),

cohort_activity as (
    select
        cohort.cohort_month,
        customer_months.activity_month,
        count(*) filter (where customer_months.is_active) as active_customers,
        sum(customer_months.net_revenue) as revenue
    from customer_months
    inner join marts.customer_cohort as cohort on customer_months.customer_id = cohort.customer_id
    where customer_months.activity_month >= cohort.cohort_month
    group by cohort.cohort_month, customer_months.activity_month
),

final as (
    select
        cells.cohort_month,
        cells.months_since_first_purchase,
        cells.activity_month,
        cells.cohort_size,
        coalesce(cohort_activity.active_customers, 0) as active_customers,
        coalesce(cohort_activity.active_customers, 0)::numeric / cells.cohort_size as retention_rate,
        coalesce(cohort_activity.revenue, 0) as revenue,
        coalesce(month_status.is_complete, false) as is_complete
    from cells
    left join cohort_activity
        on cells.cohort_month = cohort_activity.cohort_month
        and cells.activity_month = cohort_activity.activity_month
    left join ops.month_status as month_status on cells.activity_month = month_status.month
)

insert into marts.cohort_retention (
    cohort_month, months_since_first_purchase, activity_month, cohort_size,
    active_customers, retention_rate, revenue, is_complete
)
select
    cohort_month, months_since_first_purchase, activity_month, cohort_size,
    active_customers, retention_rate, revenue, is_complete
from final;
