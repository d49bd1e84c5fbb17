-- Rebuilds the daily net revenue series on a full calendar: every day from the
-- first day with data to the end of the last loaded month has a row per series,
-- 0 where nothing sold. Days before the first transaction and, in a month that is
-- not closed yet, days after the last one are unknown rather than 0, so they get
-- no row. Every series shares the shop's calendar, so a country has 0 on the days
-- before its first sale. A trading day with no source line at all is flagged as a
-- closure of the whole shop.
-- grain: one row per (series_id, period_start); series_id 'total' is all sales and
-- 'country:<name>' the sales of one of the countries passed in
delete from marts.sales_daily;

with
bounds as (
    select
        min((occurred_at at time zone %(business_timezone)s)::date) as first_day_with_data,
        max(occurred_month) as last_month,
        max((occurred_at at time zone %(business_timezone)s)::date) as last_day_with_data
    from core.transactions
),

calendar as (
    select
        day::date as period_start,
        extract(isodow from day)::integer <> all(%(non_trading_isodow)s::integer[])
            as is_trading_day
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

open_days as (
    select distinct (occurred_at at time zone %(business_timezone)s)::date as period_start
    from core.transactions
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

daily as (
    select
        segments.series_id,
        (transactions.occurred_at at time zone %(business_timezone)s)::date as period_start,
        sum(transactions.amount) filter (where transactions.line_kind = 'purchase')
            as purchase_revenue,
        sum(transactions.amount) filter (where transactions.line_kind = 'return')
            as return_revenue,
        count(distinct transactions.order_id) filter (where transactions.line_kind = 'purchase')
            as orders
    from core.transactions
    inner join segments
        on segments.country is null or segments.country = transactions.country
    where transactions.line_kind in ('purchase', 'return')
    group by 1, 2
),

final as (
    select
        segments.series_id,
        calendar.period_start,
        coalesce(daily.purchase_revenue, 0) + coalesce(daily.return_revenue, 0) as net_revenue,
        coalesce(daily.purchase_revenue, 0) as purchase_revenue,
        coalesce(daily.return_revenue, 0) as return_revenue,
        coalesce(daily.orders, 0) as orders,
        calendar.is_trading_day,
        calendar.is_trading_day and open_days.period_start is null as is_closed,
        coalesce(month_status.is_complete, false) as is_complete_period
    from calendar
    cross join segments
    left join daily
        on segments.series_id = daily.series_id
        and calendar.period_start = daily.period_start
    left join open_days
        on calendar.period_start = open_days.period_start
    left join ops.month_status
        on date_trunc('month', calendar.period_start)::date = month_status.month
)

insert into marts.sales_daily (
    series_id, period_start, net_revenue, purchase_revenue, return_revenue, orders,
    is_trading_day, is_closed, is_complete_period
)
select
    series_id, period_start, net_revenue, purchase_revenue, return_revenue, orders,
    is_trading_day, is_closed, is_complete_period
from final;
