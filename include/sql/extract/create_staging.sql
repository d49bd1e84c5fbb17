-- Empty staging table for one extracted batch, which the extract fills with COPY.
-- grain: one row per source line of the batch window; key: staging_row_id, because
-- source ids may be null or repeated and the validate step must still tell rows apart
-- Two extracts of the same month would race to create the same table, and the
-- second would fail on the catalog's unique index. The lock makes it wait for
-- the first to commit and then replace that table.
select pg_advisory_xact_lock(hashtext(%(staging_table)s));
drop table if exists {staging_table};
create table {staging_table} (
    staging_row_id bigint generated always as identity primary key,
    source_row_id bigint,
    order_id text,
    product_id text,
    product_description text,
    customer_id text,
    occurred_at timestamptz,
    quantity numeric,
    unit_price numeric,
    currency text,
    country text,
    quarantine_rules text[] not null default '{{}}'
);
