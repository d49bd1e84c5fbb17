-- Recomputes the cohort of every touched customer and collects the cohorts
-- whose membership may have changed (old and new) in the temporary table
-- touched_cohort (created by the caller).
-- grain: marts.customer_cohort, one row per customer with a purchase
insert into touched_cohort (cohort_month)
select distinct cohort.cohort_month
from marts.customer_cohort as cohort
inner join touched_customer using (customer_id)
on conflict do nothing;

delete from marts.customer_cohort as cohort
using touched_customer
where cohort.customer_id = touched_customer.customer_id;

with
active_months as (
    select
        customer_month.customer_id,
        customer_month.activity_month,
        customer_month.first_purchase_at,
        customer_month.first_purchase_country,
        max(customer_month.activity_month) over (partition by customer_month.customer_id)
            as last_active_month
    from core.customer_month
    inner join touched_customer using (customer_id)
    where customer_month.is_active
),

final as (
    select distinct on (customer_id)
        customer_id,
        activity_month as cohort_month,
        first_purchase_at,
        first_purchase_country as first_country,
        last_active_month
    from active_months
    order by customer_id, activity_month
)

insert into marts.customer_cohort (
    customer_id, cohort_month, first_purchase_at, first_country, last_active_month
)
select customer_id, cohort_month, first_purchase_at, first_country, last_active_month
from final;

insert into touched_cohort (cohort_month)
select distinct cohort.cohort_month
from marts.customer_cohort as cohort
inner join touched_customer using (customer_id)
on conflict do nothing;
