"""Measure what treating shop closures apart does to the day-grain forecasts of Online Retail.

For each closed month from 2010-12 to 2011-10 the total daily series is fitted
twice, as the monthly run fits it on the trading days up to the month's end:

- ``zeros``: closures stay in the training data as 0 and the days ahead are
  all forecast as trading days (the forecaster before closures were known);
- ``closures``: closed days are filled before fitting and the public holidays
  and yearly closures ahead are forecast as 0 (the forecaster now).

Both fits are cold (no warm start), so the only difference is the closures.
The 26 trading days ahead are compared with the actuals of the closed months,
so the origins 2011-11 and later, whose days ahead are not closed, are left out.

Usage: python benchmarks/daily_closures.py [--warehouse-dsn DSN]
It reads ``marts.sales_daily`` of the demo's warehouse (run ``make demo``
first) or of the warehouse given.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np
import pandas as pd


def actual_days(warehouse_dsn: str) -> pd.DataFrame:
    """Return the total series' trading days of closed months with their closure flag."""
    from cohortintel import db

    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "select period_start, net_revenue::double precision, is_closed from marts.sales_daily"
            " where series_id = 'total' and is_trading_day and is_complete_period"
            " order by period_start"
        )
        rows = cur.fetchall()
    frame = pd.DataFrame(rows, columns=["day", "actual", "is_closed"])
    frame["day"] = pd.to_datetime(frame["day"])
    return frame.set_index("day")


def fit_origin(warehouse_dsn: str, month, settings, variant: str) -> pd.Series:
    """Fit the total series as of ``month`` and return the forecast by day."""
    from cohortintel.forecast import closure_days, next_trading_days
    from cohortintel.monthly_forecast import fit_trading_day_forecast
    from cohortintel.sales import past_closures, training_series

    series = training_series(warehouse_dsn, "total", month, "day")
    horizon = next_trading_days(
        series.index[-1].date(), settings.forecast_horizon, settings.non_trading_weekdays
    )
    closed = None
    if variant == "closures":
        ahead = closure_days(
            horizon[0].date(),
            horizon[-1].date(),
            settings.holiday_calendar,
            settings.annual_closures,
        )
        closed = past_closures(warehouse_dsn, month).append(ahead)
    result = fit_trading_day_forecast(
        series, horizon, season_length=settings.season_length, closed_days=closed
    )
    frame = result.forecast
    return pd.Series(frame["forecast"].to_numpy(), index=pd.DatetimeIndex(frame["period_start"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse-dsn", help="warehouse to read (default: the demo's)")
    args = parser.parse_args()

    from cohortintel.config import Settings
    from cohortintel.environment import DatabaseNames
    from cohortintel.months import month_range, parse_month
    from cohortintel.postgres_server import find_or_start

    dsn = args.warehouse_dsn
    if dsn is None:
        server = find_or_start(os.environ.get("COHORTINTEL_POSTGRES_URL"))
        dsn = server.database_dsn(DatabaseNames().warehouse)
    settings = Settings()
    actuals = actual_days(dsn)

    rows = []
    for month in month_range(parse_month("2010-12"), parse_month("2011-10")):
        for variant in ("zeros", "closures"):
            forecast = fit_origin(dsn, month, settings, variant)
            joined = actuals.join(forecast.rename("forecast"), how="inner")
            joined["variant"] = variant
            joined["origin"] = f"{month:%Y-%m}"
            rows.append(joined.reset_index())
    frame = pd.concat(rows, ignore_index=True)
    frame["error"] = frame["forecast"] - frame["actual"]
    report(frame)
    return 0


def report(frame: pd.DataFrame) -> None:
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    days = frame[frame["variant"] == "zeros"]
    print(
        f"{days['origin'].nunique()} origins, {len(days)} forecast days with actuals, "
        f"{int(days['is_closed'].sum())} of them closures"
    )
    print("variant    MAE all days  MAE open days  MAE closed days  |error of 26-day sum| / sum")
    for variant, group in frame.groupby("variant", sort=False):
        open_days = group[~group["is_closed"]]
        closed_days = group[group["is_closed"]]
        sums = group.groupby("origin")[["forecast", "actual"]].sum()
        sum_error = float(np.mean(np.abs(sums["forecast"] - sums["actual"]) / sums["actual"]))
        print(
            f"{variant:<10} {group['error'].abs().mean():12,.0f} "
            f"{open_days['error'].abs().mean():14,.0f} "
            f"{closed_days['error'].abs().mean():16,.0f}  {sum_error:26.1%}"
        )


if __name__ == "__main__":
    sys.exit(main())
