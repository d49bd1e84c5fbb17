-- What each month's load was made from, so that a later run can tell whether
-- a look-back month changed in the source since and skip it when it did not.

create table ops.loaded_month (
    month date primary key,
    source_rows bigint not null,
    source_digest text not null,
    loaded_by_run_id text not null,
    loaded_at timestamptz not null default now()
);
comment on table ops.loaded_month is
    'One row per month loaded into core.transactions: the source rows it was loaded from. '
    'A look-back month whose source digest is unchanged is not extracted again.';
comment on column ops.loaded_month.source_rows is
    'Dated source rows of the month (business time zone) when it was last loaded.';
comment on column ops.loaded_month.source_digest is
    'Row count, sum of 64-bit hashes of every mapped source row, and a digest of the '
    'settings that shape the load; any added, removed or edited row or changed setting '
    'changes it.';
comment on column ops.loaded_month.loaded_by_run_id is 'Run that last loaded the month.';
