-- Rate limit of warning alerts.
-- grain: one row per alert key; key: alert_key. A warning whose key was sent
-- less than COHORTINTEL_ALERT_WARNING_PERIOD_SECONDS ago is counted, not sent.

create table ops.alert_log (
    alert_key text primary key,
    last_sent_at timestamptz,
    sent_count integer not null default 0,
    suppressed_count integer not null default 0,
    last_subject text
);
comment on table ops.alert_log is
    'When each warning alert key was last sent, and how often it was sent or held back.';
comment on column ops.alert_log.alert_key is
    'Identifies the warning, e.g. cohort_monthly.validate_transactions:duplicate_row.';
comment on column ops.alert_log.last_sent_at is
    'When the warning was last sent; null until the first send succeeds.';
comment on column ops.alert_log.sent_count is 'Number of times the warning was sent.';
comment on column ops.alert_log.suppressed_count is
    'Repeats held back by the rate limit since the last send.';
comment on column ops.alert_log.last_subject is 'Subject line of the last warning sent.';
