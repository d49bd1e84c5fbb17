-- Aggregates the transactions of the given months per customer and month, and
-- records which customers those months touch, before and after, in the
-- temporary table touched_customer (created by the caller).
-- grain: core.customer_month, one row per (customer_id, activity_month)
insert into touched_customer (customer_id)
select distinct customer_id
from core.customer_month
where activity_month = any(%(months)s::date[]);

delete from core.customer_month
where activity_month = any(%(months)s::date[]);

with
lines as (
    select
        customer_id,
        occurred_month,
        order_id,
        occurred_at,
        source_row_id,
        country,
        amount,
        line_kind = 'purchase' as is_purchase
    from core.transactions
    where
        occurred_month = any(%(months)s::date[])
        and customer_id is not null
        and line_kind in ('purchase', 'return')
),

first_purchases as (
    select distinct on (customer_id, occurred_month)
        customer_id,
        occurred_month,
        occurred_at as first_purchase_at,
        country as first_purchase_country
    from lines
    where is_purchase
    order by customer_id, occurred_month, occurred_at, source_row_id
),

monthly as (
    select
        customer_id,
        occurred_month,
        bool_or(is_purchase) as is_active,
        count(distinct order_id) filter (where is_purchase) as orders,
        sum(amount) as net_revenue
    from lines
    group by customer_id, occurred_month
)

insert into core.customer_month (
    customer_id, activity_month, is_active, orders, net_revenue, first_purchase_at,
    first_purchase_country
)
select
    monthly.customer_id,
    monthly.occurred_month,
    monthly.is_active,
    monthly.orders,
    monthly.net_revenue,
    first_purchases.first_purchase_at,
    first_purchases.first_purchase_country
from monthly
left join first_purchases
    on monthly.customer_id = first_purchases.customer_id
    and monthly.occurred_month = first_purchases.occurred_month;

insert into touched_customer (customer_id)
select distinct customer_id
from core.customer_month
where activity_month = any(%(months)s::date[])
on conflict do nothing;

insert into core.aggregated_month (month)
select unnest(%(months)s::date[])
on conflict (month) do update set aggregated_at = now();
