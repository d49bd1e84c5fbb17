-- One transaction series' forecast as of one month, with the actual where it has arrived.
-- The grain is that of the series' latest fit of the month, as in sales_models.sql.
-- Day actuals come from marts.sales_daily (closed months only), week and month
-- actuals from marts.sales_period, on the same period_start keys as the forecast.
-- grain: one row per period_start
with
model as (
    select grain
    from marts.forecast_model
    where series_id = %(series_id)s and as_of_month = %(as_of_month)s
    order by fitted_at desc
    limit 1
),

actuals as (
    select
        'day' as grain,
        period_start,
        net_revenue
    from marts.sales_daily
    where series_id = %(series_id)s and is_complete_period
    union all
    select
        grain,
        period_start,
        net_revenue
    from marts.sales_period
    where series_id = %(series_id)s
)

select
    forecast.grain,
    forecast.period_start,
    forecast.forecast,
    forecast.lower_80,
    forecast.upper_80,
    forecast.lower_95,
    forecast.upper_95,
    forecast.is_closed,
    actuals.net_revenue::double precision as actual
from marts.sales_forecast as forecast
inner join model on forecast.grain = model.grain
left join actuals
    on forecast.grain = actuals.grain and forecast.period_start = actuals.period_start
where forecast.series_id = %(series_id)s and forecast.as_of_month = %(as_of_month)s
order by forecast.period_start;
