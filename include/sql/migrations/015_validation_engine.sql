-- Which Great Expectations engine checked each rule, so that results of the
-- database and pandas engines can be told apart.
alter table ops.validation_result add column engine text;

comment on column ops.validation_result.engine is
    'Engine that ran the rule, as COHORTINTEL_VALIDATION_ENGINE set it: database (GX on '
    'PostgreSQL) or pandas (GX on the batch as a DataFrame); NULL for results recorded before '
    'the column was added.';
