-- Marks every row whose source_row_id another row of the batch also has,
-- after exact duplicates are marked, so that a repeated id never reaches the
-- fact table's primary key. The correct row is unknown, so all of them are
-- quarantined.
-- grain: one updated row per row that shares its id; key: staging_row_id
with
repeated as (
    select source_row_id
    from {staging_table}
    where
        source_row_id is not null
        and not ('duplicate_row' = any(quarantine_rules))
    group by source_row_id
    having count(*) > 1
)

update {staging_table} as staged
set quarantine_rules = array_append(staged.quarantine_rules, 'source_row_id_unique')
from repeated
where
    staged.source_row_id = repeated.source_row_id
    and not ('duplicate_row' = any(staged.quarantine_rules))
