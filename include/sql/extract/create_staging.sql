-- Empty staging table for one extracted batch, which the extract fills with COPY.
-- grain: one row per source line of the batch window; key: staging_row_id, because
-- source ids may be null or repeated and the validate step must still tell rows apart
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
