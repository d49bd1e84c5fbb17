-- Incremental cohort marts with segments.
-- core.customer_month aggregates each month's transactions once per customer;
-- marts.cohort_cell keeps the counts per segment, cohort and month since first
-- purchase; the views derive rates, revenue per customer, the LTV curve, net
-- revenue retention and completeness from it, so that changing a month only
-- rewrites the cohorts that month touches.

drop view marts.cohort_retention_matrix;
drop table marts.cohort_retention;

create table core.customer_month (
    customer_id text not null,
    activity_month date not null,
    is_active boolean not null,
    net_revenue numeric not null,
    primary key (customer_id, activity_month)
);
create index customer_month_activity_month_idx on core.customer_month (activity_month);
comment on table core.customer_month is
    'Purchases and returns of each customer in each month, aggregated once when the month is '
    'loaded. Rows without a customer id are not here.';

create table core.aggregated_month (
    month date primary key,
    aggregated_at timestamptz not null default now()
);
comment on table core.aggregated_month is
    'Months whose transactions are aggregated into core.customer_month.';

alter table marts.customer_cohort add column last_active_month date;
update marts.customer_cohort set last_active_month = cohort_month;
alter table marts.customer_cohort alter column last_active_month set not null;
comment on column marts.customer_cohort.last_active_month is
    'Last month with a purchase; drives unbounded retention.';
-- Rebuilt from core.customer_month by the next run.
truncate marts.customer_cohort;

create table marts.cohort_cell (
    segment_type text not null,
    segment text not null,
    cohort_month date not null,
    months_since_first_purchase integer not null check (months_since_first_purchase >= 0),
    activity_month date not null,
    cohort_size integer not null check (cohort_size > 0),
    active_customers integer not null,
    unbounded_active_customers integer not null,
    revenue numeric not null,
    primary key (segment_type, segment, cohort_month, months_since_first_purchase),
    check (active_customers <= unbounded_active_customers),
    check (unbounded_active_customers <= cohort_size)
);
comment on table marts.cohort_cell is
    'Counts behind marts.cohort_retention, one row per segment, cohort and month the cohort '
    'has lived. Read marts.cohort_retention for the rates.';
comment on column marts.cohort_cell.segment_type is
    'all for all customers, or the configured segment column (country).';
comment on column marts.cohort_cell.segment is
    'All customers, or the segment value fixed at the first purchase (Unknown when missing).';
comment on column marts.cohort_cell.cohort_month is 'Month of the customers'' first purchase.';
comment on column marts.cohort_cell.months_since_first_purchase is
    'Calendar months from cohort_month to activity_month.';
comment on column marts.cohort_cell.activity_month is 'The month this cell describes.';
comment on column marts.cohort_cell.cohort_size is 'Customers of the segment whose first purchase fell in cohort_month.';
comment on column marts.cohort_cell.active_customers is 'Cohort customers with a purchase in activity_month.';
comment on column marts.cohort_cell.unbounded_active_customers is
    'Cohort customers with a purchase in activity_month or later.';
comment on column marts.cohort_cell.revenue is
    'Net revenue of the cohort''s customers in activity_month: purchases plus returns.';

create view marts.cohort_retention as
with
cells as (
    select
        cell.*,
        sum(cell.revenue) over cohort_months as cumulative_revenue,
        first_value(cell.revenue) over cohort_months as first_month_revenue
    from marts.cohort_cell as cell
    window cohort_months as (
        partition by cell.segment_type, cell.segment, cell.cohort_month
        order by cell.months_since_first_purchase
    )
)

select
    cells.segment_type,
    cells.segment,
    cells.cohort_month,
    cells.months_since_first_purchase,
    cells.activity_month,
    cells.cohort_size,
    cells.active_customers,
    cells.active_customers::numeric / cells.cohort_size as retention_rate,
    cells.unbounded_active_customers,
    cells.unbounded_active_customers::numeric / cells.cohort_size as unbounded_retention_rate,
    cells.revenue,
    cells.revenue / cells.cohort_size as revenue_per_customer,
    cells.cumulative_revenue / cells.cohort_size as cumulative_revenue_per_customer,
    case when cells.first_month_revenue > 0 then cells.revenue / cells.first_month_revenue end
        as net_revenue_retention,
    coalesce(month_status.is_complete, false) as is_complete
from cells
left join ops.month_status as month_status on cells.activity_month = month_status.month;

comment on view marts.cohort_retention is
    'Customer retention and revenue per segment, cohort and month since first purchase. Only '
    'months a cohort has lived have a row; months it has not lived are absent (NULL in the '
    'matrix view), never 0. Filter segment_type = ''all'' for all customers.';
comment on column marts.cohort_retention.segment_type is
    'all for all customers, or the configured segment column (country).';
comment on column marts.cohort_retention.segment is
    'All customers, or the segment value at the customer''s first purchase.';
comment on column marts.cohort_retention.cohort_month is
    'Month of the customers'' first purchase (business time zone).';
comment on column marts.cohort_retention.months_since_first_purchase is
    'Calendar months between cohort_month and activity_month; 0 is the first month.';
comment on column marts.cohort_retention.activity_month is 'The month this row describes.';
comment on column marts.cohort_retention.cohort_size is 'Customers whose first purchase fell in cohort_month.';
comment on column marts.cohort_retention.active_customers is
    'Cohort customers with at least one purchase in activity_month.';
comment on column marts.cohort_retention.retention_rate is
    'active_customers / cohort_size: customer retention, active in month k.';
comment on column marts.cohort_retention.unbounded_active_customers is
    'Cohort customers with a purchase in activity_month or any later month.';
comment on column marts.cohort_retention.unbounded_retention_rate is
    'unbounded_active_customers / cohort_size: active in month k or later.';
comment on column marts.cohort_retention.revenue is
    'Net revenue of the cohort''s customers in activity_month: purchases minus returns.';
comment on column marts.cohort_retention.revenue_per_customer is 'revenue / cohort_size.';
comment on column marts.cohort_retention.cumulative_revenue_per_customer is
    'Revenue from cohort_month through activity_month per cohort customer: the LTV curve.';
comment on column marts.cohort_retention.net_revenue_retention is
    'revenue / revenue of the cohort''s first month; NULL when the first month''s revenue is not positive.';
comment on column marts.cohort_retention.is_complete is
    'True when activity_month is closed; an open month''s figures can still grow.';

create view marts.retention_curve as
select
    segment_type,
    segment,
    months_since_first_purchase,
    count(*) as cohorts,
    sum(cohort_size) as customers,
    sum(active_customers)::numeric / sum(cohort_size) as retention_rate,
    sum(unbounded_active_customers)::numeric / sum(cohort_size) as unbounded_retention_rate,
    sum(revenue) / sum(cohort_size) as revenue_per_customer
from marts.cohort_retention
where is_complete
group by segment_type, segment, months_since_first_purchase;

comment on view marts.retention_curve is
    'Size-weighted average retention per segment and month since first purchase. Each offset '
    'counts only the cohorts that have lived it completely, so young cohorts never pull it down.';
comment on column marts.retention_curve.segment_type is 'all, or the configured segment column.';
comment on column marts.retention_curve.segment is 'All customers, or the segment value.';
comment on column marts.retention_curve.months_since_first_purchase is 'Months since first purchase.';
comment on column marts.retention_curve.cohorts is 'Cohorts that have lived this month completely.';
comment on column marts.retention_curve.customers is 'Customers in those cohorts: the denominator.';
comment on column marts.retention_curve.retention_rate is 'Active customers of those cohorts / customers.';
comment on column marts.retention_curve.unbounded_retention_rate is
    'Customers active in this month or later / customers.';
comment on column marts.retention_curve.revenue_per_customer is 'Net revenue of those cohorts / customers.';

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
        'create view marts.cohort_retention_matrix as select segment_type, segment, cohort_month, '
        'max(cohort_size) as cohort_size, %s from marts.cohort_retention '
        'group by segment_type, segment, cohort_month',
        columns
    );
end
$$;
comment on view marts.cohort_retention_matrix is
    'Retention rate by segment, cohort (rows) and month since first purchase (m00..m35); '
    'NULL where the cohort has not lived that month yet.';
comment on column marts.cohort_retention_matrix.segment_type is 'all, or the configured segment column.';
comment on column marts.cohort_retention_matrix.segment is 'All customers, or the segment value.';
comment on column marts.cohort_retention_matrix.cohort_month is 'Month of the customers'' first purchase.';
comment on column marts.cohort_retention_matrix.cohort_size is 'Customers in the cohort.';
comment on column marts.cohort_retention_matrix.m00 is
    'Retention rate in the first month: 1 for every non-empty cohort.';
do $$
begin
    for k in 1..35 loop
        execute format(
            'comment on column marts.cohort_retention_matrix.m%s is %L',
            lpad(k::text, 2, '0'),
            format(
                'Retention rate %s month(s) after the first purchase; NULL where the cohort '
                'has not lived that month yet.',
                k
            )
        );
    end loop;
end
$$;

-- The read-only role for BI tools: reads the marts and nothing else. Login
-- users are created by the operator and granted this role (see the README).
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'cohortintel_reader') then
        create role cohortintel_reader nologin;
    end if;
end
$$;
grant usage on schema marts to cohortintel_reader;
grant select on all tables in schema marts to cohortintel_reader;
alter default privileges in schema marts grant select on tables to cohortintel_reader;
