"""Tests for the PNG charts in cohortintel.charts."""

from __future__ import annotations

import datetime as dt
import pathlib
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from cohortintel import charts

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The charts in these tests are 60 to 120 kB at 150 dpi (matplotlib 3.11). A
# 6 x 3.5 inch figure with one empty axes is about 12 kB, and a runaway figure
# size gives many megabytes.
MIN_PNG_BYTES = 30_000
MAX_PNG_BYTES = 5_000_000


def make_cells() -> pd.DataFrame:
    """Build a three-cohort triangle whose newest month is not complete."""
    rows = [
        ("2010-12-01", 0, 885, 1.0, True),
        ("2010-12-01", 1, 885, 0.37, True),
        ("2010-12-01", 2, 885, 0.32, False),
        ("2011-01-01", 0, 417, 1.0, True),
        ("2011-01-01", 1, 417, 0.22, False),
        ("2011-02-01", 0, 380, 1.0, False),
    ]
    cells = pd.DataFrame(
        rows,
        columns=[
            "cohort_month",
            "months_since_first_purchase",
            "cohort_size",
            "retention_rate",
            "is_complete",
        ],
    )
    cells["cohort_month"] = pd.to_datetime(cells["cohort_month"]).dt.date
    return cells


def make_history(periods: int = 150, tz: str | None = None) -> pd.DataFrame:
    period_start = pd.date_range("2012-01-01", periods=periods, freq="MS", tz=tz)
    steps = np.arange(periods)
    value = 1000.0 + 5.0 * steps + 100.0 * np.sin(2 * np.pi * steps / 6)
    return pd.DataFrame({"period_start": period_start, "value": value})


def make_forecast(history: pd.DataFrame, horizon: int = 6) -> pd.DataFrame:
    last = history["period_start"].iloc[-1]
    period_start = pd.date_range(
        last + pd.offsets.MonthBegin(1), periods=horizon, freq="MS", tz=last.tz
    )
    forecast = np.full(horizon, float(history["value"].iloc[-1]))
    spread = 20.0 * np.sqrt(np.arange(1, horizon + 1))
    return pd.DataFrame(
        {
            "period_start": period_start,
            "forecast": forecast,
            "lower_80": forecast - 1.28 * spread,
            "upper_80": forecast + 1.28 * spread,
            "lower_95": forecast - 1.96 * spread,
            "upper_95": forecast + 1.96 * spread,
        }
    )


def assert_png(path: pathlib.Path) -> None:
    assert path.is_file(), f"{path} was not written"
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path} does not start with the PNG signature"
    assert len(data) >= MIN_PNG_BYTES, f"{path} is only {len(data)} bytes"
    assert len(data) <= MAX_PNG_BYTES, f"{path} is {len(data)} bytes"


def figure_texts(figure) -> list[str]:
    return [text.get_text() for text in figure.findobj(lambda artist: hasattr(artist, "get_text"))]


# Retention heatmap


def test_heatmap_writes_png(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "nested" / "charts" / "retention.png"

    returned = charts.render_retention_heatmap(make_cells(), target)

    assert returned == target
    assert_png(target)


def test_heatmap_accepts_nan_and_none_rates(tmp_path: pathlib.Path) -> None:
    cells = make_cells()
    cells["retention_rate"] = cells["retention_rate"].astype(object)
    cells.loc[1, "retention_rate"] = None
    cells.loc[4, "retention_rate"] = np.nan

    target = charts.render_retention_heatmap(cells, tmp_path / "retention.png")

    assert_png(target)


def test_heatmap_grid_keeps_absent_cells_nan() -> None:
    rates, complete, labels = charts._retention_grid(make_cells())

    assert list(rates.index.strftime("%Y-%m")) == ["2010-12", "2011-01", "2011-02"]
    assert list(rates.columns) == [0, 1, 2]
    assert rates.loc[pd.Period("2010-12", "M"), 1] == pytest.approx(0.37)
    assert np.isnan(rates.loc[pd.Period("2011-01", "M"), 2]), "absent cell is not NaN"
    assert np.isnan(rates.loc[pd.Period("2011-02", "M"), 1]), "absent cell is not NaN"
    assert pd.isna(complete.loc[pd.Period("2011-02", "M"), 2]), "absent cell has a completeness"
    assert not complete.loc[pd.Period("2010-12", "M"), 2]
    assert labels == ["2010-12 (885)", "2011-01 (417)", "2011-02 (380)"]


def test_heatmap_grid_formats_large_cohort_size() -> None:
    cells = make_cells()
    cells.loc[cells["cohort_month"] == dt.date(2010, 12, 1), "cohort_size"] = 12345

    _, _, labels = charts._retention_grid(cells)

    assert labels[0] == "2010-12 (12,345)"


def test_heatmap_marks_incomplete_cells() -> None:
    figure = charts._build_heatmap_figure(make_cells(), "Retention")
    texts = figure_texts(figure)

    assert "37%" in texts, "complete cell lost its percentage"
    assert "32%*" in texts, "incomplete cell is not marked with *"
    assert "100%*" in texts, "incomplete month 0 is not marked with *"
    assert charts.INCOMPLETE_FOOTNOTE in texts, "footnote for * is missing"
    assert "2010-12 (885)" in texts, "cohort row label is missing"


def test_heatmap_omits_footnote_when_complete() -> None:
    cells = make_cells()
    cells["is_complete"] = True

    texts = figure_texts(charts._build_heatmap_figure(cells, "Retention"))

    assert charts.INCOMPLETE_FOOTNOTE not in texts
    assert not any(text.endswith("*") for text in texts), "complete cell marked with *"


def test_heatmap_labels_unknown_rate() -> None:
    cells = make_cells()
    cells["retention_rate"] = cells["retention_rate"].astype(object)
    cells.loc[1, "retention_rate"] = None

    texts = figure_texts(charts._build_heatmap_figure(cells, "Retention"))

    assert "n/a" in texts, "present cell with unknown rate is not labelled"
    assert "37%" not in texts


def test_heatmap_missing_columns_raise(tmp_path: pathlib.Path) -> None:
    cells = make_cells().drop(columns=["cohort_size", "is_complete"])

    with pytest.raises(ValueError, match="cohort_size, is_complete"):
        charts.render_retention_heatmap(cells, tmp_path / "retention.png")

    assert not (tmp_path / "retention.png").exists()


def test_heatmap_empty_table_raises(tmp_path: pathlib.Path) -> None:
    cells = make_cells().iloc[0:0]

    with pytest.raises(ValueError, match="^no cohort cells to draw") as error:
        charts.render_retention_heatmap(cells, tmp_path / "retention.png")

    assert "rebuild the cohort table" in str(error.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("duplicate", "duplicated"),
        ("size", "more than one cohort_size"),
        ("negative", "negative"),
        ("null_complete", "is_complete is missing"),
    ],
)
def test_heatmap_invalid_cells_raise(tmp_path: pathlib.Path, change: str, message: str) -> None:
    cells = make_cells()
    if change == "duplicate":
        cells = pd.concat([cells, cells.iloc[[1]]], ignore_index=True)
    elif change == "size":
        cells.loc[1, "cohort_size"] = 886
    elif change == "negative":
        cells.loc[1, "months_since_first_purchase"] = -1
    elif change == "null_complete":
        cells["is_complete"] = cells["is_complete"].astype(object)
        cells.loc[1, "is_complete"] = None

    with pytest.raises(ValueError, match=message):
        charts.render_retention_heatmap(cells, tmp_path / "retention.png")


# Forecast chart


def test_forecast_chart_writes_png(tmp_path: pathlib.Path) -> None:
    history = make_history()
    target = tmp_path / "nested" / "forecast.png"

    returned = charts.render_forecast_chart(
        history,
        make_forecast(history),
        target,
        title="Monthly revenue",
        model_label="SARIMA(1,0,1)(0,1,1,6)",
    )

    assert returned == target
    assert_png(target)


def test_forecast_chart_accepts_time_zones(tmp_path: pathlib.Path) -> None:
    history = make_history(periods=30, tz="Europe/London")

    target = charts.render_forecast_chart(
        history,
        make_forecast(history),
        tmp_path / "forecast.png",
        title="Monthly revenue",
        model_label="SARIMA(1,0,1)(0,1,1,6)",
    )

    assert_png(target)


def test_forecast_frames_limit_history() -> None:
    history = make_history(periods=150)

    observed, anchored, origin = charts._forecast_frames(history, make_forecast(history))

    assert len(observed) == charts.HISTORY_POINTS
    assert observed["period_start"].iloc[-1] == history["period_start"].iloc[-1]
    assert origin == history["period_start"].iloc[-1]
    assert anchored["period_start"].iloc[0] == origin, "forecast does not start at the origin"
    assert len(anchored) == 7


def test_forecast_frames_backtest_origin() -> None:
    history = make_history(periods=40)
    forecast = make_forecast(history.iloc[:34])

    observed, anchored, origin = charts._forecast_frames(history, forecast)

    assert origin == history["period_start"].iloc[33]
    assert observed["period_start"].iloc[-1] == history["period_start"].iloc[-1]
    assert anchored["forecast"].iloc[0] == history["value"].iloc[33]


def test_forecast_chart_shows_model_label() -> None:
    history = make_history()

    figure = charts._build_forecast_figure(
        history,
        make_forecast(history),
        title="Monthly revenue",
        model_label="SARIMA(1,0,1)(0,1,1,6)",
    )
    texts = figure_texts(figure)

    assert "Monthly revenue" in texts
    assert "Model: SARIMA(1,0,1)(0,1,1,6)" in texts
    for label in ("80% prediction interval", "95% prediction interval", "Forecast origin"):
        assert label in texts, f"legend entry {label!r} is missing"


def test_forecast_chart_missing_columns_raise(tmp_path: pathlib.Path) -> None:
    history = make_history()
    forecast = make_forecast(history).drop(columns=["lower_95", "upper_95"])

    with pytest.raises(ValueError, match="forecast table is missing required columns"):
        charts.render_forecast_chart(
            history, forecast, tmp_path / "forecast.png", title="t", model_label="m"
        )

    with pytest.raises(ValueError, match="lower_95, upper_95"):
        charts.render_forecast_chart(
            history, forecast, tmp_path / "forecast.png", title="t", model_label="m"
        )


def test_forecast_chart_empty_tables_raise(tmp_path: pathlib.Path) -> None:
    history = make_history()
    forecast = make_forecast(history)

    with pytest.raises(ValueError, match="^no history to draw"):
        charts.render_forecast_chart(
            history.iloc[0:0], forecast, tmp_path / "forecast.png", title="t", model_label="m"
        )

    with pytest.raises(ValueError, match="^no forecast to draw"):
        charts.render_forecast_chart(
            history, forecast.iloc[0:0], tmp_path / "forecast.png", title="t", model_label="m"
        )


def test_forecast_before_history_raises(tmp_path: pathlib.Path) -> None:
    history = make_history(periods=24)
    forecast = make_forecast(history)
    late_start = pd.date_range(forecast["period_start"].iloc[0], periods=24, freq="MS")
    late_history = history.assign(period_start=late_start)

    with pytest.raises(ValueError, match="no period before the first forecast period"):
        charts.render_forecast_chart(
            late_history, forecast, tmp_path / "forecast.png", title="t", model_label="m"
        )


# Module import


def test_import_leaves_pyplot_unloaded() -> None:
    code = "import sys, cohortintel.charts; print('matplotlib.pyplot' in sys.modules)"

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "False", "importing cohortintel.charts loaded pyplot"
