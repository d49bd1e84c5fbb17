"""Model rows and chart names of the transaction sales series, without a database."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cohortintel.monthly_forecast import fit_monthly_forecast
from cohortintel.publish import chart_file_name
from cohortintel.sales import SEASON_LENGTHS, period_model_row


def test_chart_name_keeps_plain_ids():
    assert chart_file_name("total") == "forecast_total.png"


def test_chart_name_replaces_separators():
    assert chart_file_name("country:United Kingdom") == "forecast_country_United_Kingdom.png"
    assert chart_file_name("country:EIRE") == "forecast_country_EIRE.png"


def weekly_sales(weeks: int) -> pd.Series:
    # A yearly wave plus noise, as Online Retail's weekly sales have one year.
    rng = np.random.default_rng(7)
    position = np.arange(weeks)
    values = 1000 + 300 * np.sin(2 * np.pi * position / 52) + rng.normal(0, 50, weeks)
    index = pd.date_range("2010-12-06", periods=weeks, freq="W-MON")
    return pd.Series(values, index=index)


def test_year_of_weeks_never_sarima():
    result = fit_monthly_forecast(
        weekly_sales(51), 13, series_id="total", season_length=SEASON_LENGTHS["week"], grain="week"
    )
    row = period_model_row(result, "week")
    assert row["model_kind"] != "sarima"
    assert "SARIMA" not in row["model_spec"]
    assert row["seasonal_order"] is None
    assert "the series has 51 weeks, fewer than the 157" in row["reason"]
    # The forecaster words the reason in weeks itself, not only the model row.
    assert result.fallback_reason.startswith("the series has 51 weeks")
    assert not any("months" in message for message in row["warnings"])
    assert row["n_obs"] == 51
    assert str(row["training_end"]) == "2011-11-21"


def test_weekly_forecast_keys_are_mondays():
    result = fit_monthly_forecast(
        weekly_sales(51), 13, series_id="total", season_length=SEASON_LENGTHS["week"], grain="week"
    )
    starts = pd.DatetimeIndex(result.forecast["period_start"])
    assert starts[0] == pd.Timestamp("2011-11-28")
    assert list(starts.day_of_week.unique()) == [0]
    assert len(starts) == 13
