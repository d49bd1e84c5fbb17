-- Publishes the staged monthly forecasts of one as-of month: replaces that
-- month's model and forecast rows in the marts, keeping every other month's.
-- Deleting a model row deletes its forecast rows (foreign key on delete cascade).
-- grain: monthly_forecast_model one row per (series_id, as_of_month);
-- monthly_sales_forecast one row per (series_id, as_of_month, period_start)
delete from marts.monthly_forecast_model
where as_of_month = %(as_of_month)s;

insert into marts.monthly_forecast_model
select *
from staging.monthly_forecast_model
where as_of_month = %(as_of_month)s;

insert into marts.monthly_sales_forecast
select *
from staging.monthly_sales_forecast
where as_of_month = %(as_of_month)s;
