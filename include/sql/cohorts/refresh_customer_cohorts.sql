-- Recomputes the cohort of every touched customer and collects the cohorts
-- whose counts may have changed (old and new) in the temporary table
-- touched_cohort (created by the caller).
-- grain: marts.customer_cohort, one row per customer with a purchase
insert into touched_cohort (cohort_month)
select distinct cohort.cohort_month
from marts.customer_cohort as cohort
inner join touched_customer using (customer_id)
on conflict do nothing;

create temporary table touched_span on commit drop as
select
    customer_month.customer_id,
    min(customer_month.activity_month) as cohort_month,
    max(customer_month.activity_month) as last_active_month
from core.customer_month
inner join touched_customer using (customer_id)
where customer_month.is_active
group by customer_month.customer_id;

-- A customer whose cohort month lies outside the refreshed months and is still
-- the first active month keeps its cohort and first country: the first
-- purchase line is in a month nothing rewrote. Only the last active month moves.
update marts.customer_cohort as cohort
set last_active_month = span.last_active_month
from touched_span as span
where
    cohort.customer_id = span.customer_id
    and cohort.cohort_month = span.cohort_month
    and cohort.cohort_month <> all(%(months)s::date[]);

delete from marts.customer_cohort as cohort
using touched_customer
where
    cohort.customer_id = touched_customer.customer_id
    and not exists (
        select 1
        from touched_span as span
        where
            span.customer_id = cohort.customer_id
            and span.cohort_month = cohort.cohort_month
            and cohort.cohort_month <> all(%(months)s::date[])
    );

with
final as (
    -- The first purchase line comes from the fact table's partial index on
    -- (customer_id, occurred_month) for purchases: one short index range per
    -- customer instead of a sort of every purchase line.
    select
        span.customer_id,
        span.cohort_month,
        first_line.occurred_at as first_purchase_at,
        first_line.country as first_country,
        span.last_active_month
    from touched_span as span
    cross join lateral (
        select tx.occurred_at, tx.country
        from core.transactions as tx
        where
            tx.customer_id = span.customer_id
            and tx.occurred_month = span.cohort_month
            and tx.line_kind = 'purchase'
        order by tx.occurred_at, tx.source_row_id
        limit 1
    ) as first_line
    where not exists (
        select 1
        from marts.customer_cohort as kept
        where kept.customer_id = span.customer_id
    )
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
