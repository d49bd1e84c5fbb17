-- Days on which the whole shop recorded nothing are closures, not days without
-- demand. The day-grain forecaster fills them before fitting, so a closure does
-- not teach the weekly model a dip. sales_daily.sql sets the flag on every rebuild.
alter table marts.sales_daily add column if not exists is_closed boolean not null default false;
comment on column marts.sales_daily.is_closed is
    'True for a trading day on which the source holds no line at all, of any kind and any '
    'country: the shop was closed. Such a day keeps its 0 here; the day-grain forecaster '
    'replaces it by the mean of the same weekday in the nearest open weeks before fitting.';

-- A forecast of 0 on a closure and a forecast clipped to 0 look alike, so the
-- forecast rows say which days are closures.
alter table marts.sales_forecast add column if not exists is_closed boolean not null default false;
alter table staging.sales_forecast add column if not exists is_closed boolean not null default false;
comment on column marts.sales_forecast.is_closed is
    'True for a day-grain forecast day on which the shop is closed, a public holiday of '
    'COHORTINTEL_HOLIDAY_CALENDAR or a day of COHORTINTEL_ANNUAL_CLOSURES: its forecast and '
    'bounds are 0. False for open days and for the week and month grains.';
