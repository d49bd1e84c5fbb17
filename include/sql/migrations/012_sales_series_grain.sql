-- Sales series of the transactions per segment (total and the top countries) at a
-- configurable grain (day, week or month), and their forecasts keyed by grain.
-- marts.sales_daily:    one row per (series_id, period_start), now for every segment
-- marts.sales_period:   one row per (series_id, grain, period_start), week and month grains
-- marts.forecast_model: one row per (series_id, grain, as_of_month), every month kept
-- marts.sales_forecast: one row per (series_id, grain, as_of_month, period_start)
-- Rows written before this migration are day-grain forecasts of series total, so
-- they get grain 'day' and status 'forecast'.

create table marts.sales_period (
    series_id text not null,
    grain text not null check (grain in ('week', 'month')),
    period_start date not null,
    net_revenue numeric not null,
    purchase_revenue numeric not null,
    return_revenue numeric not null,
    orders integer not null,
    primary key (series_id, grain, period_start),
    check (grain <> 'month' or extract(day from period_start) = 1),
    check (grain <> 'week' or extract(isodow from period_start) = 1)
);
comment on table marts.sales_period is
    'Weekly and monthly net revenue per sales series on a full calendar: a period without '
    'sales has 0, and only complete periods have a row (every day from the first day with '
    'data, in closed months).';
comment on column marts.sales_period.series_id is
    'Sales series: total is all sales, country:<name> the sales of one country.';
comment on column marts.sales_period.grain is 'Period length: week (ISO, Monday to Sunday) or month.';
comment on column marts.sales_period.period_start is
    'First day of the period in the business time zone: the Monday of a week, the 1st of a '
    'month (2011-01-01 for January 2011).';
comment on column marts.sales_period.net_revenue is
    'Purchases plus returns (returns are negative) in the period; adjustments and other lines '
    'excluded.';
comment on column marts.sales_period.purchase_revenue is 'Revenue of purchase lines in the period.';
comment on column marts.sales_period.return_revenue is
    'Revenue of return lines in the period (zero or negative).';
comment on column marts.sales_period.orders is
    'Distinct orders with at least one purchase line in the period.';
grant select on marts.sales_period to cohortintel_reader;

comment on table marts.sales_daily is
    'Daily sales per sales series on a full calendar: a day without sales has 0, not a '
    'missing row.';
comment on column marts.sales_daily.series_id is
    'Sales series: total is all sales, country:<name> the sales of one country.';

-- Forecast model rows: grain, status of the series' fit and the backtest scores
-- of the week and month forecaster.
alter table marts.sales_forecast
    drop constraint sales_forecast_series_id_as_of_month_fkey;
alter table marts.forecast_model drop constraint forecast_model_pkey;
alter table marts.forecast_model drop constraint forecast_model_model_kind_check;

alter table marts.forecast_model
    add column grain text not null default 'day' check (grain in ('day', 'week', 'month')),
    add column status text not null default 'forecast' check (status in ('forecast', 'failed')),
    add column failure_reason text,
    add column backtest_mase double precision,
    add column seasonal_naive_mase double precision,
    alter column model_kind drop not null,
    alter column model_spec drop not null,
    alter column n_obs drop not null,
    alter column training_start drop not null,
    alter column training_end drop not null,
    alter column reason drop not null,
    add primary key (series_id, grain, as_of_month),
    add check (
        model_kind in (
            'sarima', 'arima', 'ets', 'theta', 'combination', 'seasonal_naive', 'naive', 'constant'
        )
    ),
    add check (
        status = 'failed' or (
            model_kind is not null and model_spec is not null and n_obs is not null
            and training_start is not null and training_end is not null and reason is not null
        )
    ),
    add check (status = 'forecast' or failure_reason is not null);

comment on table marts.forecast_model is
    'The model behind every published sales forecast, one row per series, grain and as-of '
    'month, kept for every month: kind, orders, training window and why it was chosen; a series '
    'that could not be forecast has status failed and its reason.';
comment on column marts.forecast_model.grain is
    'Period of the series and its forecast: day (trading days), week or month.';
comment on column marts.forecast_model.status is
    'forecast when forecast rows were published; failed when the fit raised or the series had '
    'no closed period (see failure_reason).';
comment on column marts.forecast_model.failure_reason is
    'Why the series was not forecast; NULL when it was.';
comment on column marts.forecast_model.backtest_mase is
    'Week and month grains: the champion''s MASE in the rolling-origin backtest over the last '
    '12 periods; NULL at day grain or when the series was too short for a backtest.';
comment on column marts.forecast_model.seasonal_naive_mase is
    'Week and month grains: the seasonal naive''s backtest MASE, for comparison; NULL when it '
    'was not scored.';
comment on column marts.forecast_model.model_kind is
    'Day grain: sarima or arima (statsmodels SARIMAX) or seasonal_naive or naive (see reason). '
    'Week and month grains: the backtest champion, one of sarima, arima, ets, theta, '
    'combination, seasonal_naive, naive or constant. NULL when status is failed.';
comment on column marts.forecast_model.model_spec is
    'Readable model name, such as SARIMA(1,0,1)(0,1,1,6) at day grain or '
    'SARIMA(0,1,1)(0,1,1)12 log at month grain.';
comment on column marts.forecast_model.arima_order is
    'Non-seasonal order (p, d, q) when the model is sarima or arima; NULL otherwise.';
comment on column marts.forecast_model.aic is
    'Day grain: AIC of the chosen fit. Week and month grains: AICc of the selected SARIMA. '
    'NULL when the model is not sarima or arima.';
comment on column marts.forecast_model.n_obs is
    'Periods the model was fitted on: trading days, weeks or months.';
comment on column marts.forecast_model.training_start is 'Start of the first training period.';
comment on column marts.forecast_model.training_end is
    'Start of the last training period (at day grain, the last training day).';
comment on column marts.forecast_model.candidates_tried is
    'SARIMAX fits attempted, failed ones included; 0 when none ran.';

alter table marts.sales_forecast
    add column grain text not null default 'day',
    drop constraint sales_forecast_pkey,
    add primary key (series_id, grain, as_of_month, period_start),
    add foreign key (series_id, grain, as_of_month)
        references marts.forecast_model (series_id, grain, as_of_month) on delete cascade,
    add check (grain <> 'month' or extract(day from period_start) = 1),
    add check (grain <> 'week' or extract(isodow from period_start) = 1);

comment on table marts.sales_forecast is
    'Forecasts of net revenue per series, grain and period, kept for every as_of_month. '
    'period_start uses the keys of the actuals (marts.sales_daily for days, '
    'marts.sales_period for weeks and months), so forecasts join their actuals exactly; the '
    'model row with the same series_id, grain and as_of_month describes the run and the model.';
comment on column marts.sales_forecast.grain is 'Period forecast: day (a trading day), week or month.';
comment on column marts.sales_forecast.period_start is
    'Start of the period forecast in the business time zone: the trading day, the Monday of '
    'the week or the 1st of the month.';
comment on column marts.sales_forecast.forecast is
    'Expected net revenue of the period, at least 0 (the median of the forecast distribution '
    'for the week and month forecaster under a log or Box-Cox transformation).';

-- The staging tables were created with LIKE, which copies columns and NOT NULL
-- constraints only, so they get the same columns in the same order.
alter table staging.forecast_model
    add column grain text not null default 'day',
    add column status text not null default 'forecast',
    add column failure_reason text,
    add column backtest_mase double precision,
    add column seasonal_naive_mase double precision,
    alter column model_kind drop not null,
    alter column model_spec drop not null,
    alter column n_obs drop not null,
    alter column training_start drop not null,
    alter column training_end drop not null,
    alter column reason drop not null;
alter table staging.sales_forecast add column grain text not null default 'day';
comment on table staging.forecast_model is
    'Model rows of the mapped sales fit tasks, waiting for the publish task of their as-of '
    'month and grain.';
comment on table staging.sales_forecast is
    'Forecast rows of the mapped sales fit tasks, waiting for the publish task of their as-of '
    'month and grain.';
