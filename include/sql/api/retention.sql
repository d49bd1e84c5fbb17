-- Observed retention cells of one segment, oldest cohort first.
-- grain: one row per (cohort_month, months_since_first_purchase)
select
    cohort_month,
    months_since_first_purchase,
    activity_month,
    cohort_size,
    active_customers,
    retention_rate::double precision as retention_rate,
    unbounded_active_customers,
    unbounded_retention_rate::double precision as unbounded_retention_rate,
    revenue::double precision as revenue,
    revenue_per_customer::double precision as revenue_per_customer,
    net_revenue_retention::double precision as net_revenue_retention,
    is_complete
from marts.cohort_retention
where segment_type = %(segment_type)s and segment = %(segment)s
order by cohort_month, months_since_first_purchase;
