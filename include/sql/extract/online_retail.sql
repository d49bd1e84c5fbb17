-- Column mapping from the Online Retail order system to canonical transactions.
-- grain: one row per source invoice line; key: source_row_id
-- {source_table} is the configured source table (a quoted identifier);
-- window bounds are bound parameters in the source's local time, because the
-- source stores naive local timestamps and its index is on that column.
-- Lines without a timestamp belong to no window. Every batch extracts them
-- (include_undated), so validation quarantines them instead of losing them.
select
    invoice_line_id as source_row_id,
    invoice_no as order_id,
    stock_code as product_id,
    description as product_description,
    customer_id::text as customer_id,
    invoice_date at time zone %(source_timezone)s as occurred_at,
    quantity::numeric as quantity,
    unit_price::numeric as unit_price,
    %(currency)s::text as currency,
    country
from {source_table}
where
    (invoice_date >= %(window_start_local)s and invoice_date < %(window_end_local)s)
    or (%(include_undated)s and invoice_date is null)
