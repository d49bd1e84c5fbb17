-- The counts the retention projection fits on: every cell of every cohort up to
-- the as-of month, which the caller has checked to be closed.
-- Grain: one row per segment_type, segment, cohort_month, months_since_first_purchase.
select
    segment_type,
    segment,
    cohort_month,
    months_since_first_purchase,
    cohort_size,
    active_customers,
    unbounded_active_customers
from marts.cohort_cell
where activity_month <= %(as_of_month)s
order by segment_type, segment, cohort_month, months_since_first_purchase
