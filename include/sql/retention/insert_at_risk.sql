-- Rows of marts.retention_at_risk for one as-of month; the caller deletes the
-- month's old rows in the same transaction, so a rerun replaces them.
insert into marts.retention_at_risk (
    as_of_month, segment_type, segment, cohort_month, rule, months_since_first_purchase,
    activity_month, cohort_size, observed_rate, expected_rate, band_lower, band_upper,
    shortfall, reference_as_of_month, reference_cohorts, run_id
)
values %s
