"""Pure parts of the monthly pipeline: warm-start JSON, model and forecast rows, warnings."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from cohortintel.autosarima import SarimaSpec
from cohortintel.monthly_forecast import WarmStart, fit_monthly_forecast
from cohortintel.monthly_sales import (
    error_warnings,
    forecast_rows,
    model_row,
    transformation,
    validation_failure,
    warm_start_from_json,
    warm_start_to_json,
)


def month_series(values, start: str = "2010-01") -> pd.Series:
    index = pd.period_range(start, periods=len(values), freq="M").to_timestamp()
    return pd.Series(values, index=index, dtype="float64")


def test_warm_start_json_round_trip():
    warm = WarmStart(
        spec=SarimaSpec((1, 1, 0), (0, 1, 1, 12), False, 0.0),
        params={"ar.L1": 0.4, "ma.S.L12": -0.6, "sigma2": 0.01},
        sarima_backtest_mase=0.8,
        ets_params=(0.3, 0.1, 0.2, 0.95),
        sarima_backtest_params={"ar.L1": 0.35, "ma.S.L12": -0.55, "sigma2": 0.012},
        ets_backtest_params=(0.31, 0.1, 0.2, 0.94),
    )
    stored = json.loads(json.dumps(warm_start_to_json(warm)))
    assert warm_start_from_json(stored) == warm


def test_warm_start_json_nan_backtest_params_dropped():
    warm = WarmStart(
        SarimaSpec((0, 1, 1), (0, 0, 0, 12), True, None),
        {"sigma2": 1.0},
        0.9,
        sarima_backtest_params={"ma.L1": float("nan"), "sigma2": 1.0},
        ets_backtest_params=(0.3, float("nan")),
    )
    # allow_nan=False fails where a NaN would reach PostgreSQL's jsonb.
    stored = json.loads(json.dumps(warm_start_to_json(warm), allow_nan=False))
    restored = warm_start_from_json(stored)
    assert restored.sarima_backtest_params is None
    assert restored.ets_backtest_params is None


def test_warm_start_json_infinite_mase_dropped():
    warm = WarmStart(SarimaSpec((0, 1, 1), (0, 0, 0, 12), True, None), {"sigma2": 1.0}, np.inf)
    stored = warm_start_to_json(warm)
    assert stored["sarima_backtest_mase"] is None
    assert stored["ets_params"] is None
    assert warm_start_from_json(stored).sarima_backtest_mase is None


@pytest.mark.parametrize(
    ("boxcox_lambda", "expected"),
    [(None, "none"), (1.0, "none"), (0.0, "log"), (0.5, "Box-Cox 0.5")],
)
def test_transformation_named(boxcox_lambda, expected):
    assert transformation(boxcox_lambda) == expected


def test_forecast_rows_horizon_from_training_end():
    # 13 months: the seasonal naive repeats February 2010 onwards.
    result = fit_monthly_forecast(month_series(range(1, 14)), 3, series_id="s")
    rows = forecast_rows(result)
    assert [row[:3] for row in rows] == [
        (dt.date(2011, 2, 1), 1, 2.0),
        (dt.date(2011, 3, 1), 2, 3.0),
        (dt.date(2011, 4, 1), 3, 4.0),
    ]


def test_model_row_of_seasonal_naive():
    result = fit_monthly_forecast(month_series(range(1, 14)), 3, series_id="s")
    row = model_row(result, [dt.date(2010, 6, 1)])
    assert row["status"] == "forecast"
    assert row["model_kind"] == "seasonal_naive"
    assert row["sarima_order"] is None
    assert row["warm_start"] is None
    assert row["transformation"] == "none"
    assert row["training_end"] == dt.date(2011, 1, 1)
    assert row["filled_periods"] == [dt.date(2010, 6, 1)]
    assert row["champion_mape"] is None
    assert json.loads(row["backtest_scores"]) == {}


def test_model_row_merges_forecaster_filled_months():
    # March 2010 is absent from the input, so the forecaster fills it.
    series = month_series(range(1, 15)).drop(pd.Timestamp("2010-03-01"))
    row = model_row(fit_monthly_forecast(series, 2, series_id="s"), [dt.date(2010, 6, 1)])
    assert row["filled_periods"] == [dt.date(2010, 3, 1), dt.date(2010, 6, 1)]
    assert row["warnings"][0] == "2 months missing in the source filled with 0: 2010-03, 2010-06"


def test_validation_failure_reasons():
    assert validation_failure(month_series(range(12)), "s", 12) is None
    assert "has 11 months, fewer than the 12" in validation_failure(
        month_series(range(11)), "s", 12
    )
    assert "no month" in validation_failure(month_series([]), "s", 12)
    with_nan = month_series([1.0] * 11 + [np.nan, 2.0])
    assert "non-finite value nan in 2010-12" in validation_failure(with_nan, "s", 12)


def test_error_warnings_one_per_series():
    rows = [
        {
            "series_id": "a",
            "as_of_month": dt.date(2011, 1, 1),
            "period_start": dt.date(2011, 2, 1),
            "forecast_horizon": 1,
            "model_spec": "naive",
            "actual": 200.0,
            "forecast": 170.0,
            "absolute_percentage_error": 15.0,
            "backtest_mape": 4.0,
        },
        {
            "series_id": "a",
            "as_of_month": dt.date(2010, 12, 1),
            "period_start": dt.date(2011, 2, 1),
            "forecast_horizon": 2,
            "model_spec": "naive",
            "actual": 200.0,
            "forecast": 150.0,
            "absolute_percentage_error": 25.0,
            "backtest_mape": 5.0,
        },
    ]
    warnings = error_warnings(rows, 3.0, "run")
    assert len(warnings) == 1
    key, summary, details = warnings[0]
    assert key == "cohort_monthly.monthly_forecast_error:a"
    # The summary names the worst forecast: as of 2010-12, 25 % against a MAPE of 5 %.
    assert "made as of 2010-12 missed by 25.0%" in summary
    assert "backtest MAPE of 5.0%" in summary
    assert len(details["forecasts_outside_band"]) == 2
