-- Marks every copy of an exactly duplicated row except the one with the lowest
-- staging_row_id, so the row is loaded once and the copies are quarantined.
-- Rows are compared on their content, leaving out source_row_id, because an
-- order system that stores a line twice gives each copy its own line id.
-- grain: one updated row per extra copy; key: staging_row_id
with
ranked as (
    select
        staging_row_id,
        row_number() over (
            -- Byte order is enough to group equal values and sorts faster than
            -- the database's language collation.
            partition by
                order_id collate "C", product_id collate "C",
                product_description collate "C", customer_id collate "C",
                occurred_at, quantity, unit_price, currency collate "C", country collate "C"
            order by staging_row_id
        ) as copy_number
    from {staging_table}
),

extra_copies as (
    select staging_row_id
    from ranked
    where copy_number > 1
)

update {staging_table} as staged
set quarantine_rules = array_append(staged.quarantine_rules, 'duplicate_row')
from extra_copies
where staged.staging_row_id = extra_copies.staging_row_id
