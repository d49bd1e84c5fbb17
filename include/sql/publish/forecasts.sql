-- Publishes the staged forecasts of one as-of month: replaces that month's model
-- and forecast rows in the marts, keeping every other month's forecasts.
-- grain: forecast_model one row per (series_id, as_of_month); sales_forecast one
-- row per (series_id, as_of_month, period_start)
delete from marts.forecast_model
where as_of_month = %(as_of_month)s;

insert into marts.forecast_model
select *
from staging.forecast_model
where as_of_month = %(as_of_month)s;

insert into marts.sales_forecast
select *
from staging.sales_forecast
where as_of_month = %(as_of_month)s;
