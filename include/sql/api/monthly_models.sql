-- The newest model of every monthly sales series, or of the given as-of month.
-- grain: one row per series_id
select distinct on (series_id)
    series_id,
    as_of_month,
    status,
    failure_reason,
    model_kind,
    model_spec,
    selection,
    transformation,
    training_start,
    training_end,
    n_obs,
    converged,
    fallback_reason,
    clipped_values,
    champion_mape,
    champion_smape,
    champion_mase,
    seasonal_naive_mape,
    seasonal_naive_smape,
    seasonal_naive_mase,
    warnings,
    run_id,
    fitted_at
from marts.monthly_forecast_model
where %(as_of_month)s::date is null or as_of_month = %(as_of_month)s
order by series_id, as_of_month desc;
