-- Day-grain sales series now use the champion forecaster of the week and month
-- grains, so their model rows carry the backtest, the selection and the warm start
-- too. Rows written before this migration keep NULL in those columns.
comment on column marts.forecast_model.model_kind is
    'The backtest champion: sarima, arima, ets, theta, combination (mean of SARIMA, ETS and '
    'Theta, or of two of them), seasonal_naive, naive or constant. Day-grain rows written '
    'before migration 017 hold the grid forecaster''s sarima, arima, seasonal_naive or naive. '
    'NULL when status is failed.';
comment on column marts.forecast_model.model_spec is
    'Readable model name, such as SARIMA(1,0,1)(0,1,1)6 at day grain or '
    'SARIMA(0,1,1)(0,1,1)12 log at month grain.';
comment on column marts.forecast_model.aic is
    'AICc of the selected SARIMA when it is the champion; NULL otherwise. Day-grain rows '
    'written before migration 017 hold the AIC of the grid''s chosen fit.';
comment on column marts.forecast_model.backtest_mase is
    'The champion''s MASE in the rolling-origin backtest over the last 12 periods; NULL when '
    'the series was too short for a backtest, and in day-grain rows written before migration '
    '017.';
comment on column marts.forecast_model.seasonal_naive_mase is
    'The seasonal naive''s backtest MASE, for comparison; NULL when it was not scored.';
comment on column marts.forecast_model.backtest_mape is
    'The champion''s MAPE in percent in the rolling-origin backtest; NULL when the series was '
    'too short for a backtest, when every actual of the backtest was 0, and in day-grain rows '
    'written before migration 017.';
comment on column marts.forecast_model.selection is
    'How the SARIMA was selected: cold (full search), warm (refit from last month''s model), '
    'cold after warm backtest worsened, or none; NULL in day-grain rows written before '
    'migration 017.';
comment on column marts.forecast_model.warm_start is
    'What next month''s refit starts from: the SARIMA specification and parameters, the ETS '
    'parameters and the SARIMA''s own backtest MASE; NULL when no SARIMA was fitted, and in '
    'day-grain rows written before migration 017.';
comment on column marts.forecast_model.candidates_tried is
    'SARIMA fits of the search, failed ones included; 0 when none ran.';
