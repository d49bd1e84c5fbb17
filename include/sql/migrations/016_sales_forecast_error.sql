-- Realised errors of the transaction sales forecasts, as marts.monthly_forecast_error
-- gives them for the external monthly series, and the backtest MAPE of each week and
-- month model, by which a realised error is judged.
-- grain: marts.sales_forecast_error one row per (series_id, grain, as_of_month,
-- period_start) whose period has an actual
alter table marts.forecast_model add column backtest_mape double precision;
alter table staging.forecast_model add column backtest_mape double precision;
comment on column marts.forecast_model.backtest_mape is
    'Week and month grains: the champion''s MAPE in percent in the rolling-origin backtest; '
    'NULL at day grain, when the series was too short for a backtest, or when every actual '
    'of the backtest was 0.';

create view marts.sales_forecast_error as
with

forecasts as (
    select
        series_id,
        grain,
        as_of_month,
        period_start,
        row_number() over (
            partition by series_id, grain, as_of_month order by period_start
        ) as forecast_horizon,
        forecast,
        lower_80,
        upper_80,
        lower_95,
        upper_95
    from marts.sales_forecast
),

actuals as (
    select
        series_id,
        grain,
        period_start,
        net_revenue::double precision as actual
    from marts.sales_period
    union all
    select
        series_id,
        'day' as grain,
        period_start,
        net_revenue::double precision as actual
    from marts.sales_daily
    where is_trading_day and is_complete_period
),

models as (
    select
        series_id,
        grain,
        as_of_month,
        model_spec,
        backtest_mape
    from marts.forecast_model
    where status = 'forecast'
),

final as (
    select
        forecasts.series_id,
        forecasts.grain,
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
        models.backtest_mape,
        actuals.actual between forecasts.lower_80 and forecasts.upper_80 as is_within_80,
        actuals.actual between forecasts.lower_95 and forecasts.upper_95 as is_within_95
    from forecasts
    inner join actuals
        on forecasts.series_id = actuals.series_id
        and forecasts.grain = actuals.grain
        and forecasts.period_start = actuals.period_start
    inner join models
        on forecasts.series_id = models.series_id
        and forecasts.grain = models.grain
        and forecasts.as_of_month = models.as_of_month
)

select * from final;

comment on view marts.sales_forecast_error is
    'Realised error of every published sales forecast of the transactions whose period has '
    'an actual (a complete week or month in marts.sales_period, a complete trading day in '
    'marts.sales_daily); computed on read, so it grows as actuals arrive.';
comment on column marts.sales_forecast_error.series_id is
    'Sales series: total, or country:<name>.';
comment on column marts.sales_forecast_error.grain is 'day, week or month.';
comment on column marts.sales_forecast_error.as_of_month is 'Month of the run that made the forecast.';
comment on column marts.sales_forecast_error.period_start is
    'First day of the period forecast: the day, the Monday of the week or the 1st of the month.';
comment on column marts.sales_forecast_error.forecast_horizon is
    'Position of the period among the forecast''s periods: 1 is the first period forecast.';
comment on column marts.sales_forecast_error.model_spec is 'Model that made the forecast.';
comment on column marts.sales_forecast_error.actual is 'Net revenue of the period.';
comment on column marts.sales_forecast_error.forecast is 'Published forecast of the period.';
comment on column marts.sales_forecast_error.error is
    'actual - forecast; positive when the forecast was too low.';
comment on column marts.sales_forecast_error.absolute_error is '|actual - forecast|.';
comment on column marts.sales_forecast_error.absolute_percentage_error is
    '100 * |actual - forecast| / |actual|; NULL when the actual is 0.';
comment on column marts.sales_forecast_error.backtest_mape is
    'Week and month grains: the champion''s backtest MAPE in percent when the forecast was '
    'made; NULL at day grain.';
comment on column marts.sales_forecast_error.is_within_80 is
    'Whether the actual lies inside the 80% prediction interval.';
comment on column marts.sales_forecast_error.is_within_95 is
    'Whether the actual lies inside the 95% prediction interval.';

grant select on marts.sales_forecast_error to cohortintel_reader;
