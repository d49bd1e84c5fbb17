-- Rebuilds the weekly and monthly net revenue series from the transactions, for
-- the series of marts.sales_daily (run sales_daily.sql first). A period has a row
-- only when it is complete: each of its days is in the daily calendar (on or after
-- the first day with data) and in a closed month. So the current, incomplete
-- period and a partial first period are left out, and a period without sales is 0.
-- Weeks are ISO weeks keyed by their Monday; months are keyed by their 1st day.
-- grain: one row per (series_id, grain, period_start)
delete from marts.sales_period;

with
grains as (
    select unnest(array['week', 'month']) as grain
),

closed_days as (
    select
        period_start as day,
        is_complete_period
    from marts.sales_daily
    where series_id = 'total'
),

periods as (
    select
        grains.grain,
        date_trunc(grains.grain, closed_days.day::timestamp)::date as period_start
    from closed_days
    cross join grains
    group by 1, 2
    having
        bool_and(closed_days.is_complete_period)
        and count(*) = case grains.grain
            when 'week' then 7
            else extract(
                day from date_trunc('month', min(closed_days.day)::timestamp)
                + interval '1 month' - interval '1 day'
            )::integer
        end
),

segments as (
    select
        'total' as series_id,
        null::text as country
    union all
    select
        'country:' || country as series_id,
        country
    from unnest(%(countries)s::text[]) as country
),

sums as (
    select
        grains.grain,
        segments.series_id,
        date_trunc(
            grains.grain, transactions.occurred_at at time zone %(business_timezone)s
        )::date as period_start,
        sum(transactions.amount) filter (where transactions.line_kind = 'purchase')
            as purchase_revenue,
        sum(transactions.amount) filter (where transactions.line_kind = 'return')
            as return_revenue,
        count(distinct transactions.order_id) filter (where transactions.line_kind = 'purchase')
            as orders
    from core.transactions
    cross join grains
    inner join segments
        on segments.country is null or segments.country = transactions.country
    where transactions.line_kind in ('purchase', 'return')
    group by 1, 2, 3
),

final as (
    select
        segments.series_id,
        periods.grain,
        periods.period_start,
        coalesce(sums.purchase_revenue, 0) + coalesce(sums.return_revenue, 0) as net_revenue,
        coalesce(sums.purchase_revenue, 0) as purchase_revenue,
        coalesce(sums.return_revenue, 0) as return_revenue,
        coalesce(sums.orders, 0) as orders
    from periods
    cross join segments
    left join sums
        on periods.grain = sums.grain
        and segments.series_id = sums.series_id
        and periods.period_start = sums.period_start
)

insert into marts.sales_period (
    series_id, grain, period_start, net_revenue, purchase_revenue, return_revenue, orders
)
select
    series_id, grain, period_start, net_revenue, purchase_revenue, return_revenue, orders
from final;
