-- Records the row counts of one run's batch; rows_read = rows_accepted + rows_quarantined.
-- grain: one row per (batch_month, run_id)
delete from ops.batch_report
where batch_month = %(batch_month)s and run_id = %(run_id)s;

with
staged as (
    select
        count(*) as rows_read,
        count(*) filter (where cardinality(quarantine_rules) > 0) as rows_quarantined
    from {staging_table}
),

loaded as (
    select
        count(*) as rows_accepted,
        count(*) filter (where customer_id is null) as rows_without_customer,
        count(*) filter (where line_kind = 'purchase') as purchase_lines,
        count(*) filter (where line_kind = 'return') as return_lines,
        count(*) filter (where line_kind = 'adjustment') as adjustment_lines,
        count(*) filter (where line_kind = 'other') as other_lines
    from core.transactions
    where occurred_month between %(window_first_month)s and %(batch_month)s
)

insert into ops.batch_report (
    run_id, batch_month, window_first_month, rows_read, rows_accepted, rows_quarantined,
    rows_without_customer, purchase_lines, return_lines, adjustment_lines, other_lines,
    quarantined_by_rule
)
select
    %(run_id)s, %(batch_month)s, %(window_first_month)s, staged.rows_read, loaded.rows_accepted,
    staged.rows_quarantined, loaded.rows_without_customer, loaded.purchase_lines,
    loaded.return_lines, loaded.adjustment_lines, loaded.other_lines,
    %(quarantined_by_rule)s::jsonb
from staged cross join loaded
returning rows_read, rows_accepted, rows_quarantined, rows_without_customer
