-- A digest of each monthly model's training data, so a month whose training
-- data is unchanged reuses the previous model instead of fitting it again.
alter table marts.monthly_forecast_model add column training_digest text;
alter table staging.monthly_forecast_model add column training_digest text;

comment on column marts.monthly_forecast_model.training_digest is
    'SHA-256 of the training months, their values and filled flags, and the forecast horizon; '
    'NULL for failed series and for models fitted before the digest was recorded.';
comment on column marts.monthly_forecast_model.selection is
    'How the SARIMA was selected: cold (full search), warm (refit from last month''s model), '
    'cold after warm backtest worsened, none, or reused from YYYY-MM when the training data '
    'equals that month''s and its model and forecast were copied unchanged.';
