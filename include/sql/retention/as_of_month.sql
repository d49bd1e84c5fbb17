-- The as-of month of a retention projection: the newest closed month up to the
-- run's month with no open month before it, so that every observed cell is final.
-- Grain: one row, one value (NULL when no month is closed yet).
with
first_open as (
    select min(month) as month
    from ops.month_status
    where not is_complete
)

select max(month_status.month) as as_of_month
from ops.month_status
cross join first_open
where
    month_status.is_complete
    and month_status.month <= %(run_month)s
    and (first_open.month is null or month_status.month < first_open.month)
