-- Week and month sales series of the transactions keep, like the external monthly
-- series, what next month's refit starts from and how their SARIMA was selected.
alter table marts.forecast_model
    add column selection text,
    add column warm_start jsonb;
alter table staging.forecast_model
    add column selection text,
    add column warm_start jsonb;

comment on column marts.forecast_model.selection is
    'Week and month grains: how the SARIMA was selected, cold (full search), warm (refit from '
    'last month''s model), cold after warm backtest worsened, or none; NULL at day grain.';
comment on column marts.forecast_model.warm_start is
    'Week and month grains: what next month''s refit starts from, the SARIMA specification '
    'and parameters, the ETS parameters and the SARIMA''s own backtest MASE; NULL at day grain '
    'or when no SARIMA was fitted.';

-- A warm start now holds the SARIMA's own backtest MASE, which decides whether a
-- refit runs the full search, in place of the champion's.
comment on column marts.monthly_forecast_model.warm_start is
    'What next month''s refit starts from: SARIMA specification and parameters, ETS '
    'parameters and the SARIMA''s own backtest MASE; NULL when no SARIMA was fitted.';
