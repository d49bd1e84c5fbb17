-- Rows without a timestamp belong to no month: every batch extracts them and
-- keeps one quarantine copy under a NULL month.
alter table quarantine.transactions alter column occurred_month drop not null;
comment on column quarantine.transactions.occurred_month is
    'Month of the row''s timestamp in the business time zone; the batch month when the '
    'timestamp is outside the batch window; NULL when the row has no timestamp.';
