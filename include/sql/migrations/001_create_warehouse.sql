-- Warehouse schemas and tables of the monthly pipeline.
-- staging:    one table per extracted batch, rebuilt by every run
-- quarantine: rows that failed a row-level data-quality rule, with the reason
-- core:       the clean transaction fact table, one copy of every accepted row
-- marts:      what BI tools read (cohorts, sales series, forecasts)
-- ops:        run reports, validation results and month status

create schema if not exists staging;
create schema if not exists quarantine;
create schema if not exists core;
create schema if not exists marts;
create schema if not exists ops;

create table core.transactions (
    source_row_id bigint primary key,
    order_id text not null,
    product_id text,
    product_description text,
    customer_id text,
    occurred_at timestamptz not null,
    occurred_month date not null,
    quantity numeric not null,
    unit_price numeric not null,
    amount numeric not null,
    currency text not null,
    country text,
    line_kind text not null
        check (line_kind in ('purchase', 'return', 'adjustment', 'other')),
    loaded_by_run_id text not null,
    loaded_at timestamptz not null default now()
);
create index transactions_occurred_month_idx on core.transactions (occurred_month);
create index transactions_customer_purchase_idx on core.transactions (customer_id, occurred_month)
    where line_kind = 'purchase' and customer_id is not null;
comment on table core.transactions is
    'Accepted transaction lines, one row per source line; a run replaces whole months.';
comment on column core.transactions.occurred_month is
    'First day of the month of occurred_at in the business time zone.';
comment on column core.transactions.line_kind is
    'purchase: quantity > 0, unit price > 0, not a return or adjustment order; '
    'return: order id starts with the return prefix; adjustment: order id starts with the '
    'adjustment prefix; other: anything else (stock corrections, free items).';
comment on column core.transactions.amount is 'quantity * unit_price; negative for returns.';

create table quarantine.transactions (
    source_row_id bigint,
    occurred_month date not null,
    rule text not null,
    reason text not null,
    row_data jsonb not null,
    run_id text not null,
    quarantined_at timestamptz not null default now()
);
create index quarantine_transactions_month_idx on quarantine.transactions (occurred_month);
comment on table quarantine.transactions is
    'Source rows held back by a row-level data-quality rule. row_data keeps the whole '
    'canonical row, so nothing is lost; a rerun of a month replaces that month''s rows.';

create table ops.month_status (
    month date primary key,
    is_complete boolean not null,
    checked_by_run_id text not null,
    checked_at timestamptz not null default now()
);
comment on table ops.month_status is
    'Whether each loaded month is closed: the source holds rows at or after the month end.';

create table ops.batch_report (
    run_id text not null,
    batch_month date not null,
    window_first_month date not null,
    rows_read bigint not null,
    rows_accepted bigint not null,
    rows_quarantined bigint not null,
    rows_without_customer bigint not null,
    purchase_lines bigint not null,
    return_lines bigint not null,
    adjustment_lines bigint not null,
    other_lines bigint not null,
    quarantined_by_rule jsonb not null,
    reported_at timestamptz not null default now(),
    primary key (batch_month, run_id)
);
comment on table ops.batch_report is
    'Row counts of every run: rows_read = rows_accepted + rows_quarantined for the window '
    'from window_first_month through batch_month.';

create table ops.validation_result (
    run_id text not null,
    batch_month date not null,
    rule text not null,
    expectation_type text not null,
    severity text not null,
    success boolean not null,
    element_count bigint,
    unexpected_count bigint,
    observed_value text,
    exception_message text,
    checked_at timestamptz not null default now(),
    primary key (batch_month, run_id, rule)
);
comment on table ops.validation_result is
    'Outcome of every data-quality rule of every run (Great Expectations results).';

create table marts.customer_cohort (
    customer_id text primary key,
    cohort_month date not null,
    first_purchase_at timestamptz not null,
    first_country text
);
comment on table marts.customer_cohort is
    'One row per customer with a purchase: the month of the first purchase is the cohort.';

create table marts.cohort_retention (
    cohort_month date not null,
    months_since_first_purchase integer not null check (months_since_first_purchase >= 0),
    activity_month date not null,
    cohort_size integer not null,
    active_customers integer not null,
    retention_rate numeric not null,
    revenue numeric not null,
    is_complete boolean not null,
    primary key (cohort_month, months_since_first_purchase)
);
comment on table marts.cohort_retention is
    'Customer retention per cohort and month since first purchase. Only months the cohort '
    'has lived have a row; cells it has not lived are absent here and NULL in the matrix view.';
comment on column marts.cohort_retention.cohort_month is
    'Month of the customers'' first purchase (business time zone).';
comment on column marts.cohort_retention.months_since_first_purchase is
    'Calendar months between cohort_month and activity_month; 0 is the first month.';
comment on column marts.cohort_retention.cohort_size is 'Customers whose first purchase fell in cohort_month.';
comment on column marts.cohort_retention.active_customers is
    'Cohort customers with at least one purchase in activity_month.';
comment on column marts.cohort_retention.retention_rate is 'active_customers / cohort_size.';
comment on column marts.cohort_retention.revenue is
    'Net revenue of the cohort''s customers in activity_month: purchases minus returns.';
comment on column marts.cohort_retention.is_complete is
    'False while activity_month is not yet closed; such a rate can still grow.';

create table marts.sales_daily (
    series_id text not null,
    period_start date not null,
    net_revenue numeric not null,
    purchase_revenue numeric not null,
    return_revenue numeric not null,
    orders integer not null,
    is_trading_day boolean not null,
    is_complete_period boolean not null,
    primary key (series_id, period_start)
);
comment on table marts.sales_daily is
    'Daily sales on a full calendar: a day without sales has 0, not a missing row.';
comment on column marts.sales_daily.net_revenue is
    'Purchases plus returns (returns are negative); adjustments and other lines excluded.';
comment on column marts.sales_daily.is_complete_period is
    'False for days of a month that is not closed yet; forecasts never train on them.';


create table marts.forecast_model (
    series_id text not null,
    as_of_month date not null,
    run_id text not null,
    data_interval_start timestamptz not null,
    data_interval_end timestamptz not null,
    model_kind text not null check (model_kind in ('sarima', 'arima', 'seasonal_naive', 'naive')),
    model_spec text not null,
    arima_order integer[],
    seasonal_order integer[],
    aic double precision,
    n_obs integer not null,
    training_start date not null,
    training_end date not null,
    reason text not null,
    converged boolean,
    warnings text[] not null,
    candidates_tried integer not null,
    fitted_at timestamptz not null,
    primary key (series_id, as_of_month)
);
comment on table marts.forecast_model is
    'The model behind every published forecast: kind, orders, training window and why it was chosen.';
comment on column marts.forecast_model.model_kind is
    'sarima or arima when a statsmodels SARIMAX model was fitted; seasonal_naive or naive '
    'when the series was too short or constant, or every fit failed (see reason).';

create table marts.sales_forecast (
    series_id text not null,
    as_of_month date not null,
    period_start date not null,
    forecast double precision not null,
    lower_80 double precision not null,
    upper_80 double precision not null,
    lower_95 double precision not null,
    upper_95 double precision not null,
    primary key (series_id, as_of_month, period_start),
    foreign key (series_id, as_of_month) references marts.forecast_model on delete cascade
);
comment on table marts.sales_forecast is
    'Forecasts of net revenue per trading day, kept for every as_of_month so they can be '
    'compared with actuals later.';

create table staging.forecast_model (like marts.forecast_model including defaults);
create table staging.sales_forecast (like marts.sales_forecast including defaults);

-- The retention triangle as BI tools show it: one row per cohort, one column per
-- month since first purchase (m00 to m35). A cell the cohort has not lived is NULL.
do $$
declare
    columns text;
begin
    select string_agg(
        format(
            'max(retention_rate) filter (where months_since_first_purchase = %s) as m%s',
            k, lpad(k::text, 2, '0')
        ),
        E',\n    ' order by k
    )
    into columns
    from generate_series(0, 35) as k;
    execute format(
        'create view marts.cohort_retention_matrix as select cohort_month, '
        'max(cohort_size) as cohort_size, %s from marts.cohort_retention '
        'group by cohort_month',
        columns
    );
end
$$;
comment on view marts.cohort_retention_matrix is
    'Retention rate by cohort (rows) and month since first purchase (m00..m35); '
    'NULL where the cohort has not lived that month yet.';
