-- Replaces every monthly sales series' months before %(next_month)s with the rows
-- that were copied from the source into pg_temp.monthly_sales_source. The result
-- is a full calendar: each series gets every month from its first to its last
-- copied month, and a month without a source row gets 0 with is_filled true.
-- Months from %(next_month)s on belong to later runs and stay as they are.
-- grain: one row per (series_id, period_start)
delete from marts.sales_monthly
where period_start < %(next_month)s;

with
source_rows as (
    select
        series_id,
        period_start,
        value
    from pg_temp.monthly_sales_source
),

bounds as (
    select
        series_id,
        min(period_start) as first_month,
        max(period_start) as last_month
    from source_rows
    group by series_id
),

calendar as (
    select
        bounds.series_id,
        month::date as period_start
    from bounds
    cross join lateral generate_series(
        bounds.first_month, bounds.last_month, interval '1 month'
    ) as month
),

final as (
    select
        calendar.series_id,
        calendar.period_start,
        coalesce(source_rows.value, 0) as value,
        source_rows.series_id is null as is_filled
    from calendar
    left join source_rows
        on calendar.series_id = source_rows.series_id
        and calendar.period_start = source_rows.period_start
)

insert into marts.sales_monthly (series_id, period_start, value, is_filled, copied_by_run_id)
select
    series_id,
    period_start,
    value,
    is_filled,
    %(run_id)s
from final;
