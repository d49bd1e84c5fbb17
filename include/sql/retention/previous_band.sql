-- The previous as-of month's projection of the cells that the current as-of month
-- closes: the band each cohort's newest cell was expected to fall in.
-- Grain: one row per segment_type, segment, cohort_month.
select
    segment_type,
    segment,
    cohort_month,
    months_since_first_purchase,
    as_of_month,
    retention_rate,
    retention_rate_lower_80,
    retention_rate_upper_80
from marts.retention_projection
where
    as_of_month = %(previous_as_of_month)s
    and activity_month = %(as_of_month)s
    and is_projected
