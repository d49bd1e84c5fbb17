-- Rebuilds each customer's cohort: the month of the first purchase in the
-- business time zone. Returns, adjustments and rows without a customer id never
-- start a cohort, so a customer whose first row is a return joins the cohort of
-- the first real purchase.
-- grain: one row per customer with a purchase; key: customer_id
delete from marts.customer_cohort;

insert into marts.customer_cohort (customer_id, cohort_month, first_purchase_at, first_country)
select distinct on (customer_id)
    customer_id,
    occurred_month as cohort_month,
    occurred_at as first_purchase_at,
    country as first_country
from core.transactions
where line_kind = 'purchase' and customer_id is not null
order by customer_id, occurred_at, source_row_id;
