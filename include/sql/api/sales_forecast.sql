-- One transaction series' forecast as of one month, with the actual where it has arrived.
-- grain: one row per period_start
select
    forecast.period_start,
    forecast.forecast,
    forecast.lower_80,
    forecast.upper_80,
    forecast.lower_95,
    forecast.upper_95,
    case when actual.is_complete_period then actual.net_revenue::double precision end as actual
from marts.sales_forecast as forecast
left join marts.sales_daily as actual
    on forecast.series_id = actual.series_id and forecast.period_start = actual.period_start
where forecast.series_id = %(series_id)s and forecast.as_of_month = %(as_of_month)s
order by forecast.period_start;
