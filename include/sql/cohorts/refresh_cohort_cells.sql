-- Rebuilds every cell of the cohorts whose membership changed (touched_cohort)
-- from core.customer_month. Every other cohort keeps its members, so only two
-- things can change in it: its cells in the refreshed months, recounted from
-- those months' rows, and its unbounded counts, shifted by the customers whose
-- last active month moved (last_active_change). Months a cohort has newly
-- lived get cells, and cells past the latest loaded month are dropped.
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

-- Every cohort gets a cell for each month it has newly lived, starting at 0;
-- the next statement adds the activity of the refreshed months.
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

-- Cohorts with unchanged membership: recount the refreshed months and shift
-- the unbounded counts in one update, so that no row ever has more active
-- than unbounded customers. Both inputs are materialized, and nested loops are
-- off for this statement: a join on the four key columns is estimated at one
-- row, and a nested loop over a few thousand cells and a few thousand shifts
-- took seconds where hash joins take milliseconds.
set local enable_nestloop = off;

with
month_activity as materialized (
    select
        segments.segment_type,
        segments.segment,
        cohort.cohort_month,
        customer_month.activity_month,
        count(*) filter (where customer_month.is_active) as active_customers,
        sum(customer_month.net_revenue) as revenue
    from core.customer_month
    inner join marts.customer_cohort as cohort using (customer_id)
    cross join lateral (
        values
            ('all', 'All customers'),
            ('country', coalesce(cohort.first_country, 'Unknown'))
    ) as segments (segment_type, segment)
    where
        customer_month.activity_month = any(%(months)s::date[])
        and customer_month.activity_month >= cohort.cohort_month
        and (segments.segment_type = 'all' or %(segment_by_country)s)
        and not exists (
            select 1 from touched_cohort where touched_cohort.cohort_month = cohort.cohort_month
        )
    group by 1, 2, 3, 4
),

-- A customer whose last active month moved from old to new counts in the
-- unbounded cells after the earlier of the two, up to the later one: +1 when
-- the month moved later, -1 when it moved earlier.
unbounded_shift as materialized (
    select
        cell.segment_type,
        cell.segment,
        cell.cohort_month,
        cell.months_since_first_purchase,
        sum(
            case
                when change.new_last_active_month > change.old_last_active_month
                    then change.customers
                else -change.customers
            end
        ) as shift
    from last_active_change as change
    inner join marts.cohort_cell as cell
        on cell.segment_type = change.segment_type
        and cell.segment = change.segment
        and cell.cohort_month = change.cohort_month
        and cell.activity_month
            > least(change.old_last_active_month, change.new_last_active_month)
        and cell.activity_month
            <= greatest(change.old_last_active_month, change.new_last_active_month)
    where not exists (
        select 1 from touched_cohort where touched_cohort.cohort_month = change.cohort_month
    )
    group by 1, 2, 3, 4
),

changed as (
    select
        cell.segment_type,
        cell.segment,
        cell.cohort_month,
        cell.months_since_first_purchase,
        case
            when cell.activity_month = any(%(months)s::date[])
                then coalesce(month_activity.active_customers, 0)
            else cell.active_customers
        end as active_customers,
        case
            when cell.activity_month = any(%(months)s::date[])
                then coalesce(month_activity.revenue, 0)
            else cell.revenue
        end as revenue,
        cell.unbounded_active_customers + coalesce(unbounded_shift.shift, 0)
            as unbounded_active_customers
    from marts.cohort_cell as cell
    left join month_activity
        on cell.segment_type = month_activity.segment_type
        and cell.segment = month_activity.segment
        and cell.cohort_month = month_activity.cohort_month
        and cell.activity_month = month_activity.activity_month
    left join unbounded_shift
        on cell.segment_type = unbounded_shift.segment_type
        and cell.segment = unbounded_shift.segment
        and cell.cohort_month = unbounded_shift.cohort_month
        and cell.months_since_first_purchase = unbounded_shift.months_since_first_purchase
    where
        (cell.activity_month = any(%(months)s::date[]) or unbounded_shift.shift is not null)
        and not exists (
            select 1 from touched_cohort where touched_cohort.cohort_month = cell.cohort_month
        )
)

update marts.cohort_cell as cell
set
    active_customers = changed.active_customers,
    revenue = changed.revenue,
    unbounded_active_customers = changed.unbounded_active_customers
from changed
where
    cell.segment_type = changed.segment_type
    and cell.segment = changed.segment
    and cell.cohort_month = changed.cohort_month
    and cell.months_since_first_purchase = changed.months_since_first_purchase;

reset enable_nestloop;
