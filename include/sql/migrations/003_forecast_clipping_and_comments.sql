-- Records how many forecast values were clipped at zero, and describes every
-- mart column so that BI tools show what it means.
alter table marts.forecast_model add column clipped_values integer not null default 0;
alter table staging.forecast_model add column clipped_values integer not null default 0;
comment on column marts.forecast_model.clipped_values is
    'Forecast values and interval bounds that were below zero and were published as 0.';

comment on column marts.customer_cohort.customer_id is 'Customer id as the source stores it, as text.';
comment on column marts.customer_cohort.cohort_month is
    'Month of the first purchase in the business time zone (first day of the month).';
comment on column marts.customer_cohort.first_purchase_at is 'Time of the first purchase (UTC).';
comment on column marts.customer_cohort.first_country is 'Country of the first purchase.';

comment on column marts.cohort_retention.activity_month is
    'The calendar month this cell describes: cohort_month plus months_since_first_purchase.';

comment on column marts.sales_daily.series_id is 'Sales series; total is all sales of the shop.';
comment on column marts.sales_daily.period_start is 'The day, in the business time zone.';
comment on column marts.sales_daily.purchase_revenue is 'Revenue of purchase lines on the day.';
comment on column marts.sales_daily.return_revenue is 'Revenue of return lines on the day (zero or negative).';
comment on column marts.sales_daily.orders is 'Distinct orders with at least one purchase line on the day.';
comment on column marts.sales_daily.is_trading_day is
    'False on the configured non-trading weekdays; forecasts use trading days only.';

comment on column marts.forecast_model.series_id is 'Sales series the model forecasts.';
comment on column marts.forecast_model.as_of_month is
    'Month of the run that fitted the model; training uses closed months up to it.';
comment on column marts.forecast_model.run_id is 'Airflow run id of the run that fitted the model.';
comment on column marts.forecast_model.data_interval_start is 'Start of that run''s data interval.';
comment on column marts.forecast_model.data_interval_end is 'End of that run''s data interval.';
comment on column marts.forecast_model.model_spec is 'Readable model name, such as SARIMA(1,0,1)(0,1,1,6).';
comment on column marts.forecast_model.arima_order is 'Non-seasonal order (p, d, q); NULL for naive models.';
comment on column marts.forecast_model.seasonal_order is 'Seasonal order (P, D, Q, s); NULL unless model_kind is sarima.';
comment on column marts.forecast_model.aic is 'Akaike information criterion of the chosen fit; NULL for naive models.';
comment on column marts.forecast_model.n_obs is 'Trading days the model was fitted on.';
comment on column marts.forecast_model.training_start is 'First day of the training data.';
comment on column marts.forecast_model.training_end is 'Last day of the training data.';
comment on column marts.forecast_model.reason is 'Why this model was chosen, including any fallback.';
comment on column marts.forecast_model.converged is 'Whether the optimiser converged; NULL for naive models.';
comment on column marts.forecast_model.warnings is 'Warnings raised while fitting the chosen model.';
comment on column marts.forecast_model.candidates_tried is 'SARIMAX fits attempted, failed ones included.';
comment on column marts.forecast_model.fitted_at is 'When the model was fitted.';

comment on column marts.sales_forecast.series_id is 'Sales series forecast.';
comment on column marts.sales_forecast.as_of_month is 'Month of the run that made the forecast.';
comment on column marts.sales_forecast.period_start is 'The trading day forecast, in the business time zone.';
comment on column marts.sales_forecast.forecast is 'Expected net revenue of the day, at least 0.';
comment on column marts.sales_forecast.lower_80 is 'Lower bound of the 80% prediction interval, at least 0.';
comment on column marts.sales_forecast.upper_80 is 'Upper bound of the 80% prediction interval.';
comment on column marts.sales_forecast.lower_95 is 'Lower bound of the 95% prediction interval, at least 0.';
comment on column marts.sales_forecast.upper_95 is 'Upper bound of the 95% prediction interval.';

comment on column marts.cohort_retention_matrix.cohort_month is 'Month of the customers'' first purchase.';
comment on column marts.cohort_retention_matrix.cohort_size is 'Customers in the cohort.';
comment on column marts.cohort_retention_matrix.m00 is
    'Retention rate in the first month (1 for every non-empty cohort); columns m01 to m35 '
    'hold month k since first purchase, NULL where the cohort has not lived it yet.';
