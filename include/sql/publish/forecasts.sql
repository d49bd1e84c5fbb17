-- Publishes the staged forecasts of one as-of month and grain: replaces that
-- month's model and forecast rows of the grain in the marts, keeping every other
-- month's and grain's forecasts.
-- grain: forecast_model one row per (series_id, grain, as_of_month); sales_forecast
-- one row per (series_id, grain, as_of_month, period_start)
delete from marts.forecast_model
where as_of_month = %(as_of_month)s
    and grain = %(grain)s;

insert into marts.forecast_model (
    series_id, grain, as_of_month, status, failure_reason, run_id, data_interval_start,
    data_interval_end, model_kind, model_spec, arima_order, seasonal_order, aic, n_obs,
    training_start, training_end, reason, converged, warnings, candidates_tried,
    clipped_values, backtest_mase, backtest_mape, seasonal_naive_mase, selection, warm_start,
    fitted_at
)
select
    series_id, grain, as_of_month, status, failure_reason, run_id, data_interval_start,
    data_interval_end, model_kind, model_spec, arima_order, seasonal_order, aic, n_obs,
    training_start, training_end, reason, converged, warnings, candidates_tried,
    clipped_values, backtest_mase, backtest_mape, seasonal_naive_mase, selection, warm_start,
    fitted_at
from staging.forecast_model
where as_of_month = %(as_of_month)s
    and grain = %(grain)s;

insert into marts.sales_forecast (
    series_id, grain, as_of_month, period_start, forecast, lower_80, upper_80, lower_95,
    upper_95, is_closed
)
select
    series_id, grain, as_of_month, period_start, forecast, lower_80, upper_80, lower_95,
    upper_95, is_closed
from staging.sales_forecast
where as_of_month = %(as_of_month)s
    and grain = %(grain)s;
