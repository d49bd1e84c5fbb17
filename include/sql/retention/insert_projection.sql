-- Rows of marts.retention_projection for one as-of month; the caller deletes the
-- month's old rows in the same transaction, so a rerun replaces them.
insert into marts.retention_projection (
    as_of_month, segment_type, segment, cohort_month, months_since_first_purchase,
    activity_month, is_projected, cohort_size, retention_rate,
    retention_rate_lower_80, retention_rate_upper_80,
    retention_rate_lower_95, retention_rate_upper_95,
    unbounded_retention_rate,
    unbounded_lower_80, unbounded_upper_80, unbounded_lower_95, unbounded_upper_95,
    model_name, model_parameters, run_id
)
values %s
