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

insert into core.customer_month (customer_id, activity_month, is_active, net_revenue)
select
    customer_id,
    occurred_month,
    bool_or(line_kind = 'purchase'),
    sum(amount)
from core.transactions
where
    -- A full rebuild reads every row; the literal true lets the planner drop
    -- the month filter and scan the table in parallel.
    (%(all_months)s or occurred_month = any(%(months)s::date[]))
    and customer_id is not null
    and line_kind in ('purchase', 'return')
group by customer_id, occurred_month
-- Rows in key order append to the primary key's index instead of landing on
-- random pages of it.
order by customer_id, occurred_month;

-- A full rebuild touches every customer and reads core.customer_month whole
-- instead of listing them.
insert into touched_customer (customer_id)
select distinct customer_id
from core.customer_month
where activity_month = any(%(months)s::date[]) and not %(all_months)s
on conflict do nothing;

insert into core.aggregated_month (month)
select unnest(%(months)s::date[])
on conflict (month) do update set aggregated_at = now();
