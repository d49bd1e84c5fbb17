-- The newest as-of month of each result table; NULL where the table is empty.
select
    (select max(as_of_month) from marts.retention_projection) as retention_projection,
    (select max(as_of_month) from marts.retention_at_risk) as retention_at_risk,
    (select max(activity_month) from marts.cohort_retention) as cohort_retention,
    (select max(as_of_month) from marts.monthly_forecast_model) as monthly_forecast,
    (select max(as_of_month) from marts.forecast_model) as daily_forecast;
