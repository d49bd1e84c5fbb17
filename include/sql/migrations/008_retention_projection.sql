-- Retention projections and at-risk cohorts, written by cohortintel.projection.
-- marts.retention_projection keeps one row per as-of month, segment, cohort and
-- month since first purchase: the closed cells as observed and the later ones as
-- projected, so a heatmap can draw the whole triangle of one as-of month. Each
-- run replaces the rows of its own as-of month, so earlier projections stay for
-- the at-risk check and for scoring them once the months close.

create table marts.retention_projection (
    as_of_month date not null,
    segment_type text not null,
    segment text not null,
    cohort_month date not null,
    months_since_first_purchase integer not null check (months_since_first_purchase >= 0),
    activity_month date not null,
    is_projected boolean not null,
    cohort_size integer not null check (cohort_size > 0),
    retention_rate double precision not null check (retention_rate between 0 and 1),
    retention_rate_lower_80 double precision,
    retention_rate_upper_80 double precision,
    retention_rate_lower_95 double precision,
    retention_rate_upper_95 double precision,
    unbounded_retention_rate double precision not null
        check (unbounded_retention_rate between 0 and 1),
    unbounded_lower_80 double precision,
    unbounded_upper_80 double precision,
    unbounded_lower_95 double precision,
    unbounded_upper_95 double precision,
    model_name text not null,
    model_parameters jsonb not null,
    run_id text not null,
    created_at timestamptz not null default now(),
    primary key (as_of_month, segment_type, segment, cohort_month, months_since_first_purchase),
    check ((activity_month > as_of_month) = is_projected),
    check (
        is_projected
        or num_nulls(
            retention_rate_lower_80, retention_rate_upper_80,
            retention_rate_lower_95, retention_rate_upper_95,
            unbounded_lower_80, unbounded_upper_80, unbounded_lower_95, unbounded_upper_95
        ) = 8
    ),
    check (
        not is_projected
        or (
            0 <= retention_rate_lower_95
            and retention_rate_lower_95 <= retention_rate_lower_80
            and retention_rate_lower_80 <= retention_rate
            and retention_rate <= retention_rate_upper_80
            and retention_rate_upper_80 <= retention_rate_upper_95
            and retention_rate_upper_95 <= 1
            and 0 <= unbounded_lower_95
            and unbounded_lower_95 <= unbounded_lower_80
            and unbounded_lower_80 <= unbounded_upper_80
            and unbounded_upper_80 <= unbounded_upper_95
            and unbounded_upper_95 <= 1
        )
    )
);
create index retention_projection_segment_idx
    on marts.retention_projection (segment_type, segment, as_of_month);

comment on table marts.retention_projection is
    'Observed and projected customer retention per as-of month, segment, cohort and month since '
    'first purchase, through the projection horizon past the as-of month. is_projected tells the '
    'two apart. Filter one as_of_month (the newest is the current view) and segment_type = ''all'' '
    'for all customers. Segments with too few customers or too little history have no rows.';
comment on column marts.retention_projection.as_of_month is
    'Last closed month the projection used: cells up to this month are observed.';
comment on column marts.retention_projection.segment_type is
    'all for all customers, or the configured segment column (country).';
comment on column marts.retention_projection.segment is
    'All customers, or the segment value fixed at the first purchase.';
comment on column marts.retention_projection.cohort_month is 'Month of the customers'' first purchase.';
comment on column marts.retention_projection.months_since_first_purchase is
    'Calendar months from cohort_month to activity_month; 0 is the first month.';
comment on column marts.retention_projection.activity_month is 'The month this row describes.';
comment on column marts.retention_projection.is_projected is
    'False for a closed month copied from marts.cohort_cell, true for a month after as_of_month.';
comment on column marts.retention_projection.cohort_size is
    'Customers whose first purchase fell in cohort_month.';
comment on column marts.retention_projection.retention_rate is
    'Share of the cohort active in activity_month: observed, or the projection''s point estimate.';
comment on column marts.retention_projection.retention_rate_lower_80 is
    'Lower end of the 80 % prediction interval of retention_rate; NULL for observed rows.';
comment on column marts.retention_projection.retention_rate_upper_80 is
    'Upper end of the 80 % prediction interval of retention_rate; NULL for observed rows.';
comment on column marts.retention_projection.retention_rate_lower_95 is
    'Lower end of the 95 % prediction interval of retention_rate; NULL for observed rows.';
comment on column marts.retention_projection.retention_rate_upper_95 is
    'Upper end of the 95 % prediction interval of retention_rate; NULL for observed rows.';
comment on column marts.retention_projection.unbounded_retention_rate is
    'Share of the cohort with a purchase in activity_month or later, observed or projected by the '
    'shifted-beta-geometric model. Observed values of the last months are low until later '
    'purchases arrive.';
comment on column marts.retention_projection.unbounded_lower_80 is
    'Lower end of the 80 % prediction interval of unbounded_retention_rate; NULL for observed rows.';
comment on column marts.retention_projection.unbounded_upper_80 is
    'Upper end of the 80 % prediction interval of unbounded_retention_rate; NULL for observed rows.';
comment on column marts.retention_projection.unbounded_lower_95 is
    'Lower end of the 95 % prediction interval of unbounded_retention_rate; NULL for observed rows.';
comment on column marts.retention_projection.unbounded_upper_95 is
    'Upper end of the 95 % prediction interval of unbounded_retention_rate; NULL for observed rows.';
comment on column marts.retention_projection.model_name is
    'Projection method and version; docs/retention.md describes it.';
comment on column marts.retention_projection.model_parameters is
    'Fitted values behind the row: sBG alpha and beta, the cohort effect, the active share at this '
    'month, the calendar spread used in the interval and the settings.';
comment on column marts.retention_projection.run_id is 'Pipeline run that wrote the row.';
comment on column marts.retention_projection.created_at is 'When the row was written (UTC).';

create table marts.retention_at_risk (
    as_of_month date not null,
    segment_type text not null,
    segment text not null,
    cohort_month date not null,
    rule text not null check (rule in ('below_projected_band', 'below_older_cohorts')),
    months_since_first_purchase integer not null check (months_since_first_purchase >= 1),
    activity_month date not null,
    cohort_size integer not null check (cohort_size > 0),
    observed_rate double precision not null,
    expected_rate double precision not null,
    band_lower double precision not null,
    band_upper double precision not null,
    shortfall double precision not null check (shortfall > 0),
    reference_as_of_month date,
    reference_cohorts integer,
    run_id text not null,
    created_at timestamptz not null default now(),
    primary key (as_of_month, segment_type, segment, cohort_month, rule),
    check ((rule = 'below_projected_band') = (reference_as_of_month is not null)),
    check ((rule = 'below_older_cohorts') = (reference_cohorts is not null))
);
comment on table marts.retention_at_risk is
    'Cohorts whose newest closed month fell below what was expected of them, one row per as-of '
    'month, segment, cohort and rule that fired. A rerun of an as-of month replaces its rows.';
comment on column marts.retention_at_risk.as_of_month is 'The closed month whose cells were checked.';
comment on column marts.retention_at_risk.segment_type is
    'all for all customers, or the configured segment column (country).';
comment on column marts.retention_at_risk.segment is
    'All customers, or the segment value fixed at the first purchase.';
comment on column marts.retention_at_risk.cohort_month is 'Month of the customers'' first purchase.';
comment on column marts.retention_at_risk.rule is
    'below_projected_band: the rate is under the lower end of the 80 % interval that the previous '
    'month''s projection gave this cell. below_older_cohorts: the rate is under every older '
    'cohort''s rate at the same month since first purchase.';
comment on column marts.retention_at_risk.months_since_first_purchase is
    'Age of the cohort in as_of_month.';
comment on column marts.retention_at_risk.activity_month is 'The month checked; equals as_of_month.';
comment on column marts.retention_at_risk.cohort_size is 'Customers in the cohort.';
comment on column marts.retention_at_risk.observed_rate is
    'Share of the cohort active in activity_month.';
comment on column marts.retention_at_risk.expected_rate is
    'The previous projection''s point estimate, or the size-weighted rate of the older cohorts.';
comment on column marts.retention_at_risk.band_lower is
    'Lower end of the band: the 80 % lower bound, or the lowest older cohort''s rate.';
comment on column marts.retention_at_risk.band_upper is
    'Upper end of the band: the 80 % upper bound, or the highest older cohort''s rate.';
comment on column marts.retention_at_risk.shortfall is
    'band_lower - observed_rate: how far below the band the cohort is, as a share of the cohort.';
comment on column marts.retention_at_risk.reference_as_of_month is
    'As-of month of the projection that gave the band; NULL for below_older_cohorts.';
comment on column marts.retention_at_risk.reference_cohorts is
    'Older cohorts that make up the band; NULL for below_projected_band.';
comment on column marts.retention_at_risk.run_id is 'Pipeline run that wrote the row.';
comment on column marts.retention_at_risk.created_at is 'When the row was written (UTC).';

grant select on marts.retention_projection, marts.retention_at_risk to cohortintel_reader;
