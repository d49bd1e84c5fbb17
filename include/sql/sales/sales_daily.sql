-- Rebuilds the daily net revenue series on a full calendar: every day from the
-- first day with data to the end of the last loaded month has a row, 0 where
-- nothing sold. Days before the first transaction and, in a month that is not
-- closed yet, days after the last one are unknown rather than 0, so they get no row.
-- grain: one row per (series_id, period_start); series_id 'total' is all sales
delete from marts.sales_daily
where series_id = 'total';

with
bounds as (
    select
        min((occurred_at at time zone %(business_timezone)s)::date) as first_day_with_data,
        max(occurred_month) as last_month,
        max((occurred_at at time zone %(business_timezone)s)::date) as last_day_with_data
    from core.transactions
),

calendar as (
    select day::date as period_start
    from bounds
    left join ops.month_status on bounds.last_month = month_status.month
    cross join lateral generate_series(
        bounds.first_day_with_data,
        case
            when coalesce(month_status.is_complete, false)
                then (bounds.last_month + interval '1 month' - interval '1 day')::date
            else bounds.last_day_with_data
        end,
        interval '1 day'
    ) as day
),

daily as (
    select
        (occurred_at at time zone %(business_timezone)s)::date as period_start,
        sum(amount) filter (where line_kind = 'purchase') as purchase_revenue,
        sum(amount) filter (where line_kind = 'return') as return_revenue,
        count(distinct order_id) filter (where line_kind = 'purchase') as orders
    from core.transactions
    where line_kind in ('purchase', 'return')
    group by 1
),

final as (
    select
        'total' as series_id,
        calendar.period_start,
        coalesce(daily.purchase_revenue, 0) + coalesce(daily.return_revenue, 0) as net_revenue,
        coalesce(daily.purchase_revenue, 0) as purchase_revenue,
        coalesce(daily.return_revenue, 0) as return_revenue,
        coalesce(daily.orders, 0) as orders,
        extract(isodow from calendar.period_start)::integer <> all(%(non_trading_isodow)s::integer[])
            as is_trading_day,
        coalesce(month_status.is_complete, false) as is_complete_period
    from calendar
    left join daily on calendar.period_start = daily.period_start
    left join ops.month_status
        on date_trunc('month', calendar.period_start)::date = month_status.month
)

insert into marts.sales_daily (
    series_id, period_start, net_revenue, purchase_revenue, return_revenue, orders,
    is_trading_day, is_complete_period
)
select
    series_id, period_start, net_revenue, purchase_revenue, return_revenue, orders,
    is_trading_day, is_complete_period
from final;
