-- Replaces the batch window's months in the clean fact table with the staged
-- rows that passed validation, in the caller's single transaction, so a reader
-- sees either the old months or the new ones and a rerun leaves one copy.
-- grain: one row per accepted source line; key: source_row_id
select pg_advisory_xact_lock(hashtext('core.transactions'));

delete from core.transactions
where occurred_month between %(window_first_month)s and %(batch_month)s;

with
accepted as (
    select *
    from {staging_table}
    where cardinality(quarantine_rules) = 0
),

final as (
    select
        source_row_id,
        order_id,
        product_id,
        product_description,
        customer_id,
        occurred_at,
        date_trunc('month', occurred_at at time zone %(business_timezone)s)::date as occurred_month,
        quantity,
        unit_price,
        quantity * unit_price as amount,
        currency,
        country,
        case
            when %(return_prefix)s <> '' and starts_with(order_id, %(return_prefix)s)
                then 'return'
            when %(adjustment_prefix)s <> '' and starts_with(order_id, %(adjustment_prefix)s)
                then 'adjustment'
            when quantity > 0 and unit_price > 0 then 'purchase'
            else 'other'
        end as line_kind
    from accepted
)

insert into core.transactions (
    source_row_id, order_id, product_id, product_description, customer_id, occurred_at,
    occurred_month, quantity, unit_price, amount, currency, country, line_kind, loaded_by_run_id
)
select
    source_row_id, order_id, product_id, product_description, customer_id, occurred_at,
    occurred_month, quantity, unit_price, amount, currency, country, line_kind, %(run_id)s
from final;
