-- The cohort refresh looks up each new customer's first purchase line: its
-- time and country. An index in (customer_id, occurred_at, source_row_id)
-- order that carries the country answers that with one index probe per
-- customer, where the index on (customer_id, occurred_month) it replaces had
-- to read and sort every purchase line of the customer's first month.

drop index core.transactions_customer_purchase_idx;

create index transactions_first_purchase_idx
    on core.transactions (customer_id, occurred_at, source_row_id)
    include (country)
    where line_kind = 'purchase' and customer_id is not null;

-- A full cohort rebuild aggregates every purchase and return per customer and
-- month. This index holds exactly those rows in that order with the two
-- columns the aggregate reads, so the rebuild streams it (an index-only scan
-- once the table is vacuumed) instead of hashing the whole table.
create index transactions_customer_month_idx
    on core.transactions (customer_id, occurred_month)
    include (line_kind, amount)
    where customer_id is not null and line_kind in ('purchase', 'return');
