-- Replaces the quarantine rows of the batch window with the staged rows marked
-- by a row-level rule: one quarantine row per failing row and rule, with the
-- offending value in the reason and the whole row in row_data.
-- grain: one row per (staged row, failed rule)
delete from quarantine.transactions
where
    occurred_month between %(window_first_month)s and %(batch_month)s
    or occurred_month is null;

with
rule_text as (
    select rule, rule_column, rule_description
    from unnest(
        %(rule_names)s::text[], %(rule_columns)s::text[], %(rule_descriptions)s::text[]
    ) as r (rule, rule_column, rule_description)
),

failures as (
    select
        staged.staging_row_id,
        staged.source_row_id,
        staged.occurred_at,
        failed_rule.rule,
        to_jsonb(staged) - 'quarantine_rules' - 'staging_row_id' as row_data
    from {staging_table} as staged
    cross join lateral unnest(staged.quarantine_rules) as failed_rule (rule)
),

final as (
    select
        failures.source_row_id,
        -- Rows without a timestamp are extracted by every batch, so they are kept
        -- once under a NULL month that every run replaces. Rows with a timestamp
        -- outside the window are filed under the batch month, where a rerun of
        -- the window finds and replaces them.
        case
            when failures.occurred_at is null then null
            when date_trunc('month', failures.occurred_at at time zone %(business_timezone)s)::date
                between %(window_first_month)s and %(batch_month)s
                then date_trunc('month', failures.occurred_at at time zone %(business_timezone)s)::date
            else %(batch_month)s::date
        end as occurred_month,
        failures.rule,
        case
            when rule_text.rule_column = '' then rule_text.rule_description
            else rule_text.rule_column || ' '
                || coalesce(failures.row_data ->> rule_text.rule_column, 'NULL') || ' '
                || rule_text.rule_description
        end as reason,
        failures.row_data
    from failures
    inner join rule_text on failures.rule = rule_text.rule
)

insert into quarantine.transactions (source_row_id, occurred_month, rule, reason, row_data, run_id)
select source_row_id, occurred_month, rule, reason, row_data, %(run_id)s
from final
