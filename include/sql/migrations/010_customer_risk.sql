-- Per-customer BG/NBD scores, written by cohortintel.customer_risk.
-- Grain: one row per (as_of_month, customer_id). Each run replaces the rows of
-- its own as-of month, so the scores of earlier months stay for comparison.

create table marts.customer_risk (
    customer_id text not null,
    as_of_month date not null check (extract(day from as_of_month) = 1),
    p_alive double precision not null check (p_alive between 0 and 1),
    expected_purchases_3_months double precision not null
        check (expected_purchases_3_months >= 0),
    model_name text not null,
    model_parameters jsonb not null,
    run_id text not null,
    primary key (as_of_month, customer_id)
);

comment on table marts.customer_risk is
    'Probability that each customer is still active and the active months expected in the '
    'next three months, from a BG/NBD model fitted on the active months of core.customer_month '
    'up to as_of_month. Filter one as_of_month; the newest is the current view.';
comment on column marts.customer_risk.customer_id is 'Customer id as the source stores it.';
comment on column marts.customer_risk.as_of_month is
    'Last closed month the model used (first day of the month).';
comment on column marts.customer_risk.p_alive is
    'Model probability that the customer has not dropped out by the end of as_of_month. It is 1 '
    'for a customer with no active month after the first.';
comment on column marts.customer_risk.expected_purchases_3_months is
    'Model expectation of the customer''s active months in the three months after as_of_month.';
comment on column marts.customer_risk.model_name is 'Model that produced the row (bgnbd).';
comment on column marts.customer_risk.model_parameters is
    'Fitted r, alpha, a and b with time in months, the log-likelihood and the customer count.';
comment on column marts.customer_risk.run_id is 'Pipeline run that wrote the row.';

grant select on marts.customer_risk to cohortintel_reader;
