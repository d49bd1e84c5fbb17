-- Rebuilds every cell of the touched cohorts from core.customer_month. Then
-- it adds zero cells to untouched cohorts for months they have newly lived,
-- because none of their customers bought in the refreshed months, and drops
-- cells past the latest loaded month.
-- grain: marts.cohort_cell, one row per (segment_type, segment, cohort_month,
-- months_since_first_purchase)
delete from marts.cohort_cell as cell
using touched_cohort
where cell.cohort_month = touched_cohort.cohort_month;

delete from marts.cohort_cell
where activity_month > %(last_month)s;

with
members as (
    select
        cohort.customer_id,
        cohort.cohort_month,
        cohort.last_active_month,
        segments.segment_type,
        segments.segment
    from marts.customer_cohort as cohort
    inner join touched_cohort using (cohort_month)
    cross join lateral (
        values
            ('all', 'All customers'),
            ('country', coalesce(cohort.first_country, 'Unknown'))
    ) as segments (segment_type, segment)
    where segments.segment_type = 'all' or %(segment_by_country)s
),

sizes as (
    select segment_type, segment, cohort_month, count(*) as cohort_size
    from members
    group by segment_type, segment, cohort_month
),

cells as (
    select
        sizes.segment_type,
        sizes.segment,
        sizes.cohort_month,
        sizes.cohort_size,
        offsets.months_since_first_purchase,
        (sizes.cohort_month + make_interval(months => offsets.months_since_first_purchase))::date
            as activity_month
    from sizes
    cross join lateral generate_series(
        0,
        ((extract(year from %(last_month)s::date) - extract(year from sizes.cohort_month)) * 12
            + extract(month from %(last_month)s::date) - extract(month from sizes.cohort_month))::integer
    ) as offsets (months_since_first_purchase)
),

activity as (
    select
        members.segment_type,
        members.segment,
        members.cohort_month,
        customer_month.activity_month,
        count(*) filter (where customer_month.is_active) as active_customers,
        sum(customer_month.net_revenue) as revenue
    from members
    inner join core.customer_month using (customer_id)
    where customer_month.activity_month >= members.cohort_month
    group by members.segment_type, members.segment, members.cohort_month, customer_month.activity_month
),

last_active as (
    select segment_type, segment, cohort_month, last_active_month, count(*) as customers
    from members
    group by segment_type, segment, cohort_month, last_active_month
),

unbounded as (
    select
        cells.segment_type,
        cells.segment,
        cells.cohort_month,
        cells.activity_month,
        sum(last_active.customers) as unbounded_active_customers
    from cells
    inner join last_active
        on cells.segment_type = last_active.segment_type
        and cells.segment = last_active.segment
        and cells.cohort_month = last_active.cohort_month
        and last_active.last_active_month >= cells.activity_month
    group by cells.segment_type, cells.segment, cells.cohort_month, cells.activity_month
)

insert into marts.cohort_cell (
    segment_type, segment, cohort_month, months_since_first_purchase, activity_month,
    cohort_size, active_customers, unbounded_active_customers, revenue
)
select
    cells.segment_type,
    cells.segment,
    cells.cohort_month,
    cells.months_since_first_purchase,
    cells.activity_month,
    cells.cohort_size,
    coalesce(activity.active_customers, 0),
    coalesce(unbounded.unbounded_active_customers, 0),
    coalesce(activity.revenue, 0)
from cells
left join activity
    on cells.segment_type = activity.segment_type
    and cells.segment = activity.segment
    and cells.cohort_month = activity.cohort_month
    and cells.activity_month = activity.activity_month
left join unbounded
    on cells.segment_type = unbounded.segment_type
    and cells.segment = unbounded.segment
    and cells.cohort_month = unbounded.cohort_month
    and cells.activity_month = unbounded.activity_month;

-- Untouched cohorts: no member bought or returned anything in the refreshed
-- months, so each newly lived month is a real 0.
with
cohorts as (
    select segment_type, segment, cohort_month, max(cohort_size) as cohort_size
    from marts.cohort_cell
    group by segment_type, segment, cohort_month
),

new_cells as (
    select
        cohorts.segment_type,
        cohorts.segment,
        cohorts.cohort_month,
        cohorts.cohort_size,
        offsets.months_since_first_purchase,
        (cohorts.cohort_month + make_interval(months => offsets.months_since_first_purchase))::date
            as activity_month
    from cohorts
    cross join lateral generate_series(
        0,
        ((extract(year from %(last_month)s::date) - extract(year from cohorts.cohort_month)) * 12
            + extract(month from %(last_month)s::date) - extract(month from cohorts.cohort_month))::integer
    ) as offsets (months_since_first_purchase)
)

insert into marts.cohort_cell (
    segment_type, segment, cohort_month, months_since_first_purchase, activity_month,
    cohort_size, active_customers, unbounded_active_customers, revenue
)
select
    segment_type, segment, cohort_month, months_since_first_purchase, activity_month,
    cohort_size, 0, 0, 0
from new_cells
on conflict do nothing;
