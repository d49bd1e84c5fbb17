-- Segments with at least one cohort, and how many customers and cohorts each holds.
-- grain: one row per (segment_type, segment)
select
    segment_type,
    segment,
    count(*) as cohorts,
    sum(cohort_size) as customers,
    min(cohort_month) as first_cohort_month,
    max(cohort_month) as last_cohort_month
from marts.cohort_retention
where months_since_first_purchase = 0
group by segment_type, segment
order by segment_type = 'all' desc, customers desc, segment;
