-- The newest model of every sales series built from the transactions, or of the given as-of month.
-- When a series was fitted at several grains in its newest month, the latest fit wins.
-- grain: one row per series_id
select distinct on (series_id)
    series_id,
    grain,
    as_of_month,
    status,
    failure_reason,
    model_kind,
    model_spec,
    reason,
    training_start,
    training_end,
    n_obs,
    converged,
    warnings,
    clipped_values,
    backtest_mase,
    run_id,
    fitted_at
from marts.forecast_model
where %(as_of_month)s::date is null or as_of_month = %(as_of_month)s
order by series_id, as_of_month desc, fitted_at desc;
