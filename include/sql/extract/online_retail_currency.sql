-- Column mapping for an Online Retail order system that stores each line's
-- currency in its own column, as a shop that sells in several currencies does.
-- Set COHORTINTEL_EXTRACT_SQL=extract/online_retail_currency.sql to use it.
-- grain: one row per source invoice line; key: source_row_id
-- The mapping equals online_retail.sql except for the currency. It comes from
-- the line's currency column instead of COHORTINTEL_CURRENCY. A line without
-- one is quarantined (currency_not_null), and so is a line whose currency is
-- outside COHORTINTEL_ACCEPTED_CURRENCIES (currency_accepted).
-- %(currency)s is bound but unused here.
select
    invoice_line_id as source_row_id,
    invoice_no as order_id,
    stock_code as product_id,
    description as product_description,
    customer_id::text as customer_id,
    invoice_date at time zone %(source_timezone)s as occurred_at,
    quantity::numeric as quantity,
    unit_price::numeric as unit_price,
    upper(currency)::text as currency,
    country
from {source_table}
where
    (invoice_date >= %(window_start_local)s and invoice_date < %(window_end_local)s)
    or (%(include_undated)s and invoice_date is null)
