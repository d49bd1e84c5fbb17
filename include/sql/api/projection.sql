-- Observed and projected retention of one segment as of one month.
-- grain: one row per (cohort_month, months_since_first_purchase)
select
    as_of_month,
    cohort_month,
    months_since_first_purchase,
    activity_month,
    is_projected,
    cohort_size,
    retention_rate,
    retention_rate_lower_80,
    retention_rate_upper_80,
    retention_rate_lower_95,
    retention_rate_upper_95,
    unbounded_retention_rate,
    unbounded_lower_80,
    unbounded_upper_80,
    unbounded_lower_95,
    unbounded_upper_95,
    model_name,
    run_id
from marts.retention_projection
where as_of_month = %(as_of_month)s and segment_type = %(segment_type)s and segment = %(segment)s
order by cohort_month, months_since_first_purchase;
