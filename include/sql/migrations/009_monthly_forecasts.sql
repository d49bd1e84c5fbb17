-- Monthly sales series from outside the order system, their forecasts and the
-- realised error of those forecasts.
-- marts.sales_monthly:            one row per (series_id, period_start), full calendar
-- marts.monthly_forecast_model:   one row per (series_id, as_of_month), every month kept
-- marts.monthly_sales_forecast:   one row per (series_id, as_of_month, period_start)
-- marts.monthly_forecast_error:   view, one row per forecast month whose actual has arrived

create table marts.sales_monthly (
    series_id text not null,
    period_start date not null check (extract(day from period_start) = 1),
    value numeric not null,
    is_filled boolean not null,
    copied_by_run_id text not null,
    copied_at timestamptz not null default now(),
    primary key (series_id, period_start)
);
comment on table marts.sales_monthly is
    'Monthly sales series copied from the source table COHORTINTEL_MONTHLY_SALES_TABLE, on a '
    'full calendar from each series'' first month to its last closed month: a month missing '
    'from the source has value 0 and is_filled true.';
comment on column marts.sales_monthly.series_id is 'Series id as the source stores it.';
comment on column marts.sales_monthly.period_start is
    'First day of the month the value covers, such as 2011-01-01 for January 2011.';
comment on column marts.sales_monthly.value is
    'Sales of the month as the source stores it; 0 where is_filled is true.';
comment on column marts.sales_monthly.is_filled is
    'True when the source has no row for this month between the series'' first and last month.';
comment on column marts.sales_monthly.copied_by_run_id is
    'Airflow run id of the run that last copied this month.';
comment on column marts.sales_monthly.copied_at is 'When the row was copied.';

create table marts.monthly_forecast_model (
    series_id text not null,
    as_of_month date not null,
    status text not null check (status in ('forecast', 'failed')),
    failure_reason text,
    model_kind text,
    model_spec text,
    selection text,
    sarima_order integer[],
    sarima_seasonal_order integer[],
    sarima_with_constant boolean,
    sarima_params jsonb,
    boxcox_lambda double precision,
    transformation text,
    training_start date,
    training_end date,
    n_obs integer,
    filled_periods date[],
    warnings text[],
    converged boolean,
    fallback_reason text,
    clipped_values integer,
    champion_mape double precision,
    champion_smape double precision,
    champion_mase double precision,
    seasonal_naive_mape double precision,
    seasonal_naive_smape double precision,
    seasonal_naive_mase double precision,
    backtest_forecasts integer,
    backtest_scores jsonb,
    warm_start jsonb,
    run_id text not null,
    data_interval_start timestamptz not null,
    data_interval_end timestamptz not null,
    fitted_at timestamptz not null,
    primary key (series_id, as_of_month),
    check (status = 'failed' or model_kind is not null),
    check (status = 'forecast' or failure_reason is not null)
);
comment on table marts.monthly_forecast_model is
    'The model behind every monthly sales forecast, one row per series and as-of month, '
    'kept for every month; a series that could not be forecast has status failed and its reason.';
comment on column marts.monthly_forecast_model.series_id is 'Monthly sales series forecast.';
comment on column marts.monthly_forecast_model.as_of_month is
    'Month of the run that fitted the model; training uses months up to and including it.';
comment on column marts.monthly_forecast_model.status is
    'forecast when forecast rows were published; failed when the series was rejected (see '
    'failure_reason).';
comment on column marts.monthly_forecast_model.failure_reason is
    'Why the series was not forecast, such as a NaN value or too few months; NULL otherwise.';
comment on column marts.monthly_forecast_model.model_kind is
    'Champion model: sarima, arima, ets, theta, combination, seasonal_naive, naive or constant.';
comment on column marts.monthly_forecast_model.model_spec is
    'Readable champion, such as SARIMA(0,1,1)(0,1,1)12 log.';
comment on column marts.monthly_forecast_model.selection is
    'How the SARIMA was selected: cold (full search), warm (refit from last month''s model), '
    'cold after warm backtest worsened, or none.';
comment on column marts.monthly_forecast_model.sarima_order is
    'Order (p, d, q) of the selected SARIMA, champion or not; NULL when none was fitted.';
comment on column marts.monthly_forecast_model.sarima_seasonal_order is
    'Seasonal order (P, D, Q, s) of the selected SARIMA; NULL when none was fitted.';
comment on column marts.monthly_forecast_model.sarima_with_constant is
    'Whether the selected SARIMA has a constant (a drift after one difference).';
comment on column marts.monthly_forecast_model.sarima_params is
    'Parameters of the selected SARIMA by their statsmodels names, on the transformed and '
    'differenced scale, including sigma2.';
comment on column marts.monthly_forecast_model.boxcox_lambda is
    'Box-Cox parameter of the SARIMA: 0 is the log, NULL is no transformation.';
comment on column marts.monthly_forecast_model.transformation is
    'The transformation in words: none, log or Box-Cox with its parameter.';
comment on column marts.monthly_forecast_model.training_start is 'First month of the training data.';
comment on column marts.monthly_forecast_model.training_end is
    'Last month of the training data: the as-of month, or the series'' last month when it ends earlier.';
comment on column marts.monthly_forecast_model.n_obs is 'Months the model was fitted on.';
comment on column marts.monthly_forecast_model.filled_periods is
    'Months missing from the source that were filled with 0.';
comment on column marts.monthly_forecast_model.warnings is
    'Warnings raised while fitting, such as a failed candidate or clipped values.';
comment on column marts.monthly_forecast_model.converged is
    'Whether the SARIMA optimiser converged; NULL when no SARIMA was fitted.';
comment on column marts.monthly_forecast_model.fallback_reason is
    'Why the champion is not a seasonal model; NULL when it is.';
comment on column marts.monthly_forecast_model.clipped_values is
    'Forecast values and interval bounds that were below zero and were published as 0.';
comment on column marts.monthly_forecast_model.champion_mape is
    'Backtest MAPE of the champion in percent (rolling origin over the last 12 months); '
    'NULL without a backtest or when every actual is 0.';
comment on column marts.monthly_forecast_model.champion_smape is
    'Backtest sMAPE of the champion in percent, 200 * |y - f| / (|y| + |f|).';
comment on column marts.monthly_forecast_model.champion_mase is
    'Backtest MASE of the champion: mean absolute error over the in-sample seasonal naive MAE.';
comment on column marts.monthly_forecast_model.seasonal_naive_mape is
    'Backtest MAPE of the seasonal naive (last year''s value) in percent.';
comment on column marts.monthly_forecast_model.seasonal_naive_smape is
    'Backtest sMAPE of the seasonal naive in percent.';
comment on column marts.monthly_forecast_model.seasonal_naive_mase is
    'Backtest MASE of the seasonal naive.';
comment on column marts.monthly_forecast_model.backtest_forecasts is
    'Forecasts the champion''s backtest scored; NULL when the series was too short for one.';
comment on column marts.monthly_forecast_model.backtest_scores is
    'Backtest MAPE, sMAPE, MASE and number of forecasts of every candidate, by model kind.';
comment on column marts.monthly_forecast_model.warm_start is
    'What next month''s refit starts from: SARIMA specification and parameters, ETS '
    'parameters and the champion''s backtest MASE; NULL when no SARIMA was fitted.';
comment on column marts.monthly_forecast_model.run_id is 'Airflow run id of the run that fitted the model.';
comment on column marts.monthly_forecast_model.data_interval_start is 'Start of that run''s data interval.';
comment on column marts.monthly_forecast_model.data_interval_end is 'End of that run''s data interval.';
comment on column marts.monthly_forecast_model.fitted_at is 'When the model was fitted.';

create table marts.monthly_sales_forecast (
    series_id text not null,
    as_of_month date not null,
    period_start date not null check (extract(day from period_start) = 1),
    forecast_horizon integer not null check (forecast_horizon >= 1),
    forecast double precision not null,
    lower_80 double precision not null,
    upper_80 double precision not null,
    lower_95 double precision not null,
    upper_95 double precision not null,
    primary key (series_id, as_of_month, period_start),
    foreign key (series_id, as_of_month) references marts.monthly_forecast_model on delete cascade
);
comment on table marts.monthly_sales_forecast is
    'Monthly sales forecasts, kept for every as-of month; period_start joins '
    'marts.sales_monthly, so realised errors compare the same months.';
comment on column marts.monthly_sales_forecast.series_id is 'Monthly sales series forecast.';
comment on column marts.monthly_sales_forecast.as_of_month is 'Month of the run that made the forecast.';
comment on column marts.monthly_sales_forecast.period_start is
    'First day of the month forecast, as in marts.sales_monthly.';
comment on column marts.monthly_sales_forecast.forecast_horizon is
    'Months after the last training month: 1 is the first month forecast.';
comment on column marts.monthly_sales_forecast.forecast is
    'Forecast sales of the month (the median of the forecast distribution), at least 0.';
comment on column marts.monthly_sales_forecast.lower_80 is 'Lower bound of the 80% prediction interval, at least 0.';
comment on column marts.monthly_sales_forecast.upper_80 is 'Upper bound of the 80% prediction interval.';
comment on column marts.monthly_sales_forecast.lower_95 is 'Lower bound of the 95% prediction interval, at least 0.';
comment on column marts.monthly_sales_forecast.upper_95 is 'Upper bound of the 95% prediction interval.';

create table staging.monthly_forecast_model (like marts.monthly_forecast_model including defaults);
create table staging.monthly_sales_forecast (like marts.monthly_sales_forecast including defaults);
comment on table staging.monthly_forecast_model is
    'Model rows of the mapped fit tasks, waiting for the publish task of their as-of month.';
comment on table staging.monthly_sales_forecast is
    'Forecast rows of the mapped fit tasks, waiting for the publish task of their as-of month.';

-- The realised error of every published forecast whose month has an actual now.
create view marts.monthly_forecast_error as
with

forecasts as (
    select
        series_id,
        as_of_month,
        period_start,
        forecast_horizon,
        forecast,
        lower_80,
        upper_80,
        lower_95,
        upper_95
    from marts.monthly_sales_forecast
),

actuals as (
    select
        series_id,
        period_start,
        value::double precision as actual
    from marts.sales_monthly
),

models as (
    select
        series_id,
        as_of_month,
        model_spec,
        champion_mape
    from marts.monthly_forecast_model
),

final as (
    select
        forecasts.series_id,
        forecasts.as_of_month,
        forecasts.period_start,
        forecasts.forecast_horizon,
        models.model_spec,
        actuals.actual,
        forecasts.forecast,
        actuals.actual - forecasts.forecast as error,
        abs(actuals.actual - forecasts.forecast) as absolute_error,
        case
            when actuals.actual <> 0
                then 100 * abs(actuals.actual - forecasts.forecast) / abs(actuals.actual)
        end as absolute_percentage_error,
        models.champion_mape as backtest_mape,
        actuals.actual between forecasts.lower_80 and forecasts.upper_80 as is_within_80,
        actuals.actual between forecasts.lower_95 and forecasts.upper_95 as is_within_95
    from forecasts
    inner join actuals
        on forecasts.series_id = actuals.series_id
        and forecasts.period_start = actuals.period_start
    inner join models
        on forecasts.series_id = models.series_id
        and forecasts.as_of_month = models.as_of_month
)

select * from final;
comment on view marts.monthly_forecast_error is
    'Realised error of every published monthly forecast whose month has an actual in '
    'marts.sales_monthly, by series, as-of month and forecast month; computed on read, so '
    'it grows as actuals arrive.';
comment on column marts.monthly_forecast_error.series_id is 'Monthly sales series.';
comment on column marts.monthly_forecast_error.as_of_month is 'Month of the run that made the forecast.';
comment on column marts.monthly_forecast_error.period_start is 'First day of the month forecast.';
comment on column marts.monthly_forecast_error.forecast_horizon is
    'Months after the last training month: 1 is the first month forecast.';
comment on column marts.monthly_forecast_error.model_spec is 'Champion that made the forecast.';
comment on column marts.monthly_forecast_error.actual is 'Actual sales of the month.';
comment on column marts.monthly_forecast_error.forecast is 'Published forecast of the month.';
comment on column marts.monthly_forecast_error.error is 'actual - forecast; positive when the forecast was too low.';
comment on column marts.monthly_forecast_error.absolute_error is '|actual - forecast|.';
comment on column marts.monthly_forecast_error.absolute_percentage_error is
    '100 * |actual - forecast| / |actual|; NULL when the actual is 0.';
comment on column marts.monthly_forecast_error.backtest_mape is
    'The champion''s backtest MAPE in percent when the forecast was made, for comparison.';
comment on column marts.monthly_forecast_error.is_within_80 is
    'Whether the actual lies inside the 80% prediction interval.';
comment on column marts.monthly_forecast_error.is_within_95 is
    'Whether the actual lies inside the 95% prediction interval.';

grant select on
    marts.sales_monthly,
    marts.monthly_forecast_model,
    marts.monthly_sales_forecast,
    marts.monthly_forecast_error
to cohortintel_reader;
