-- Recomputes the cohort of every touched customer (all of them in a full
-- rebuild). Collects in the temporary table touched_cohort (created by the
-- caller) the cohorts whose membership changed, old and new, and in
-- last_active_change the customers who stayed in their cohort but whose last
-- active month moved.
-- grain: marts.customer_cohort, one row per customer with a purchase
create temporary table touched_span on commit drop as
select
    customer_id,
    min(activity_month) as cohort_month,
    max(activity_month) as last_active_month
from core.customer_month
where
    is_active
    and (%(all_months)s or customer_id in (select customer_id from touched_customer))
group by customer_id;

analyze touched_span;

-- A customer whose cohort month lies outside the refreshed months and is still
-- the first active month keeps its cohort and first country: the first
-- purchase line is in a month nothing rewrote. Only the last active month
-- moves; the old value comes from the second, unmodified reference to the table.
with
moved as (
    update marts.customer_cohort as cohort
    set last_active_month = span.last_active_month
    from touched_span as span, marts.customer_cohort as before
    where
        cohort.customer_id = span.customer_id
        and before.customer_id = cohort.customer_id
        and cohort.cohort_month = span.cohort_month
        and cohort.cohort_month <> all(%(months)s::date[])
        and cohort.last_active_month <> span.last_active_month
    returning
        cohort.cohort_month,
        cohort.first_country,
        before.last_active_month as old_last_active_month,
        span.last_active_month as new_last_active_month
)

insert into last_active_change (
    segment_type, segment, cohort_month, old_last_active_month, new_last_active_month, customers
)
select
    segments.segment_type,
    segments.segment,
    moved.cohort_month,
    moved.old_last_active_month,
    moved.new_last_active_month,
    count(*)
from moved
cross join lateral (
    values
        ('all', 'All customers'),
        ('country', coalesce(moved.first_country, 'Unknown'))
) as segments (segment_type, segment)
where segments.segment_type = 'all' or %(segment_by_country)s
group by 1, 2, 3, 4, 5;

with
gone as (
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
        )
    returning cohort.cohort_month
)

insert into touched_cohort (cohort_month)
select distinct cohort_month
from gone
on conflict do nothing;

with
final as (
    -- The first purchase line is the first entry of the customer in the fact
    -- table's partial index on (customer_id, occurred_at, source_row_id) for
    -- purchases, which carries the country: one index probe per customer.
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
            and tx.customer_id is not null
            and tx.line_kind = 'purchase'
        order by tx.occurred_at, tx.source_row_id
        limit 1
    ) as first_line
    where not exists (
        select 1
        from marts.customer_cohort as kept
        where kept.customer_id = span.customer_id
    )
),

added as (
    insert into marts.customer_cohort (
        customer_id, cohort_month, first_purchase_at, first_country, last_active_month
    )
    select customer_id, cohort_month, first_purchase_at, first_country, last_active_month
    from final
    returning cohort_month
)

insert into touched_cohort (cohort_month)
select distinct cohort_month
from added
on conflict do nothing;
