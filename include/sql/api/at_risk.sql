-- Cohorts flagged at risk as of one month, the largest shortfall first.
-- grain: one row per (segment_type, segment, cohort_month, rule)
select
    as_of_month,
    segment_type,
    segment,
    cohort_month,
    rule,
    months_since_first_purchase,
    activity_month,
    cohort_size,
    observed_rate,
    expected_rate,
    band_lower,
    band_upper,
    shortfall,
    run_id
from marts.retention_at_risk
where as_of_month = %(as_of_month)s
order by shortfall desc, segment_type, segment, cohort_month, rule;
