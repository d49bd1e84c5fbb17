"""Render the retention heatmap and the sales forecast chart as PNG files.

The module draws on matplotlib's object-oriented ``Figure`` API and never imports
``matplotlib.pyplot``, so importing it selects no backend and leaves global pyplot
state alone. ``Figure.savefig`` writes PNG files through the Agg renderer.
"""

from __future__ import annotations

import pathlib

import matplotlib
import matplotlib.colors
import matplotlib.dates
import matplotlib.patches
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

HEATMAP_COLUMNS = (
    "cohort_month",
    "months_since_first_purchase",
    "cohort_size",
    "retention_rate",
    "is_complete",
)
HISTORY_COLUMNS = ("period_start", "value")
FORECAST_COLUMNS = ("period_start", "forecast", "lower_80", "upper_80", "lower_95", "upper_95")

# Number of observed periods drawn before the forecast. Older history only squeezes
# the forecast horizon into a narrow strip at the right edge.
HISTORY_POINTS = 120

INCOMPLETE_FOOTNOTE = "* month not complete"
DPI = 150


def render_retention_heatmap(
    cells: pd.DataFrame,
    path: pathlib.Path,
    *,
    title: str = "Customer retention by cohort",
) -> pathlib.Path:
    """Draw the cohort retention triangle and write it to ``path`` as a PNG.

    ``cells`` is the long cohort table with one row per cohort and month since first
    purchase. Rows are cohorts (oldest at the top) and columns are months since first
    purchase. A cell missing from the table stays blank, a cell with an unknown rate
    shows "n/a", and a month that is not complete yet is hatched and marked with "*".

    Raises ValueError when a required column is missing, the table is empty,
    is_complete is null, a month is negative, a (cohort, month) pair occurs twice,
    or one cohort has more than one cohort_size. Returns ``path``.
    """
    _require_columns(cells, HEATMAP_COLUMNS, "cohort cells")
    if cells.empty:
        raise ValueError(
            "no cohort cells to draw because the cohort table is empty. "
            "Load orders into the warehouse and rebuild the cohort table before "
            "rendering the heatmap."
        )

    figure = _build_heatmap_figure(cells, title)
    return _save_png(figure, path)


def render_forecast_chart(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    path: pathlib.Path,
    *,
    title: str,
    model_label: str,
) -> pathlib.Path:
    """Draw observed values, the forecast and its 80 % and 95 % intervals as a PNG.

    Only the last ``HISTORY_POINTS`` observed periods are drawn. A dotted vertical
    line marks the forecast origin, which is the last observed period, and
    ``model_label`` (for example "SARIMA(1,0,1)(0,1,1)6") becomes the subtitle.
    Time zone aware timestamps are drawn in their own local time.

    Raises ValueError when a required column is missing, either table is empty or
    no observed period precedes the forecast. Returns ``path``.
    """
    _require_columns(history, HISTORY_COLUMNS, "history")
    _require_columns(forecast, FORECAST_COLUMNS, "forecast")
    if history.empty:
        raise ValueError(
            "no history to draw because the history table is empty. "
            "Pass the observed series that the forecast model was fitted on."
        )
    if forecast.empty:
        raise ValueError(
            "no forecast to draw because the forecast table is empty. "
            "Run the forecast with a horizon of at least one period."
        )

    figure = _build_forecast_figure(history, forecast, title=title, model_label=model_label)
    return _save_png(figure, path)


def _require_columns(frame: pd.DataFrame, required: tuple[str, ...], table: str) -> None:
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{table} table is missing required columns: {', '.join(missing)}. "
            f"Expected columns: {', '.join(required)}."
        )


def _save_png(figure: Figure, path: pathlib.Path) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=DPI)
    # pyplot never saw this figure, so clearing it is all the cleanup it needs.
    figure.clear()
    return path


# Retention heatmap


def _build_heatmap_figure(cells: pd.DataFrame, title: str) -> Figure:
    rates, complete, row_labels = _retention_grid(cells)
    row_count, column_count = rates.shape

    # Fixed space for labels plus a fixed size per cell keeps the percentages
    # readable from a 3x3 triangle up to several years of cohorts.
    width = 2.8 + 0.62 * column_count
    height = 1.7 + 0.34 * row_count
    figure = Figure(figsize=(max(width, 6.0), max(height, 3.5)), layout="constrained")
    axes = figure.add_subplot()

    values = rates.to_numpy(dtype=float)
    norm = _retention_norm(rates)
    colormap = matplotlib.colormaps["YlGnBu"].with_extremes(bad="white")
    image = axes.imshow(
        np.ma.masked_invalid(values),
        cmap=colormap,
        norm=norm,
        aspect="auto",
        interpolation="nearest",
    )

    has_incomplete = _annotate_heatmap_cells(axes, rates, complete, colormap, norm)

    axes.set_xticks(range(column_count), [str(month) for month in rates.columns])
    axes.set_yticks(range(row_count), row_labels)
    axes.set_xlabel("Months since first purchase")
    axes.set_ylabel("First purchase month (customers)")
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    axes.set_title(title, fontsize=13, loc="left")

    colorbar = figure.colorbar(image, ax=axes, shrink=0.8, pad=0.02)
    colorbar.formatter = matplotlib.ticker.PercentFormatter(xmax=1.0, decimals=0)
    colorbar.update_ticks()
    if norm.vmax < 1.0:
        colorbar.set_label(f"Retention rate (colours capped at {norm.vmax:.0%})")
    else:
        colorbar.set_label("Retention rate")

    if has_incomplete:
        figure.text(0.01, 0.005, INCOMPLETE_FOOTNOTE, fontsize=9, ha="left", va="bottom")
        # Extra padding keeps the x label clear of the footnote.
        figure.get_layout_engine().set(h_pad=0.15)

    return figure


def _retention_grid(cells: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Pivot the long cohort table into rate and completeness grids.

    Both grids have one row per cohort month, oldest first, and one column per
    month since first purchase, from 0 to the largest month present. Cells missing
    from the long table are NaN in the rate grid and NA in the completeness grid.
    Each row label gives the cohort month and its cohort size, as in "2010-12 (885)".
    """
    table = pd.DataFrame(
        {
            "cohort": pd.to_datetime(cells["cohort_month"]).dt.to_period("M"),
            "month": pd.to_numeric(cells["months_since_first_purchase"]).astype(int),
            "size": pd.to_numeric(cells["cohort_size"]).astype(int),
            "rate": _float_values(cells["retention_rate"]),
            "complete": cells["is_complete"].astype("boolean"),
        }
    )

    if table["complete"].isna().any():
        raise ValueError(
            f"is_complete is missing in {int(table['complete'].isna().sum())} cohort cells. "
            "Every cell needs is_complete set to true or false."
        )

    negative = table["month"] < 0
    if negative.any():
        raise ValueError(
            f"months_since_first_purchase is negative in {int(negative.sum())} cohort cells, "
            f"for example {int(table.loc[negative, 'month'].iloc[0])}. "
            "Month 0 is the cohort's first purchase month."
        )

    duplicated = table.duplicated(["cohort", "month"], keep=False)
    if duplicated.any():
        pairs = table.loc[duplicated, ["cohort", "month"]].drop_duplicates()
        examples = ", ".join(
            f"{row.cohort} month {row.month}" for row in pairs.head(3).itertuples()
        )
        raise ValueError(
            f"cohort cells contain {len(pairs)} duplicated (cohort_month, "
            f"months_since_first_purchase) pairs, for example {examples}. "
            "Each cohort needs at most one row per month."
        )

    sizes = table.groupby("cohort")["size"].unique()
    inconsistent = sizes[sizes.map(len) > 1]
    if not inconsistent.empty:
        cohort = inconsistent.index[0]
        raise ValueError(
            f"cohort {cohort} has more than one cohort_size "
            f"({', '.join(str(size) for size in sorted(inconsistent.iloc[0]))}). "
            "Every row of a cohort must carry the same cohort_size."
        )

    cohorts = pd.PeriodIndex(sorted(table["cohort"].unique()), freq="M")
    months = range(0, int(table["month"].max()) + 1)

    # Absent cells are NaN in ``rates`` and NA in ``complete``. A present cell with
    # an unknown rate is NaN in ``rates`` too, so only ``complete`` distinguishes them.
    rates = table.pivot(index="cohort", columns="month", values="rate")
    rates = rates.reindex(index=cohorts, columns=months)
    complete = table.pivot(index="cohort", columns="month", values="complete")
    complete = complete.reindex(index=cohorts, columns=months)

    labels = [f"{cohort:%Y-%m} ({sizes[cohort][0]:,})" for cohort in cohorts]
    return rates, complete, labels


def _retention_norm(rates: pd.DataFrame) -> matplotlib.colors.Normalize:
    # Month 0 is normally 100 %, because every customer of a cohort buys in its
    # first month. Scaling the colours to the largest later rate keeps differences
    # between later months visible, and month 0 then shows in the darkest colour.
    later = rates.loc[:, rates.columns > 0].to_numpy(dtype=float)
    if not np.isfinite(later).any():
        return matplotlib.colors.Normalize(vmin=0.0, vmax=1.0, clip=True)

    later_max = float(np.nanmax(later))
    if later_max <= 0.0:
        return matplotlib.colors.Normalize(vmin=0.0, vmax=1.0, clip=True)
    return matplotlib.colors.Normalize(vmin=0.0, vmax=min(1.0, later_max), clip=True)


def _annotate_heatmap_cells(
    axes: Axes,
    rates: pd.DataFrame,
    complete: pd.DataFrame,
    colormap: matplotlib.colors.Colormap,
    norm: matplotlib.colors.Normalize,
) -> bool:
    """Write each cell's percentage and hatch incomplete months.

    Returns whether any cell was marked incomplete.
    """
    has_incomplete = False
    font_size = 8 if rates.shape[1] <= 14 else 7

    for row, cohort in enumerate(rates.index):
        for column, month in enumerate(rates.columns):
            is_complete = complete.at[cohort, month]
            if pd.isna(is_complete):
                continue  # The cohort has not reached this month yet.

            rate = rates.at[cohort, month]
            if pd.isna(rate):
                text, background = "n/a", colormap.get_bad()
                text_colour = "0.45"
            else:
                text, background = f"{rate:.0%}", colormap(norm(rate))
                text_colour = _text_colour(background)

            if not is_complete:
                has_incomplete = True
                text += "*"
                axes.add_patch(
                    matplotlib.patches.Rectangle(
                        (column - 0.5, row - 0.5),
                        1.0,
                        1.0,
                        fill=False,
                        hatch="///",
                        edgecolor="0.55",
                        linewidth=0.0,
                    )
                )

            # The box in the cell colour keeps the hatching from running through the text.
            axes.text(
                column,
                row,
                text,
                ha="center",
                va="center",
                fontsize=font_size,
                color=text_colour,
                bbox={"boxstyle": "square,pad=0.15", "facecolor": background, "linewidth": 0.0},
            )

    return has_incomplete


def _text_colour(background: tuple[float, float, float, float]) -> str:
    red, green, blue, _ = background
    # Approximate relative luminance (Rec. 709 weights on the sRGB values) picks
    # black text for light cells and white text for dark ones.
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return "black" if luminance > 0.5 else "white"


# Forecast chart


def _build_forecast_figure(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    *,
    title: str,
    model_label: str,
) -> Figure:
    observed, anchored, origin = _forecast_frames(history, forecast)
    history_x = observed["period_start"].to_numpy()
    forecast_x = anchored["period_start"].to_numpy()

    figure = Figure(figsize=(11.0, 5.5), layout="constrained")
    axes = figure.add_subplot()

    axes.fill_between(
        forecast_x,
        anchored["lower_95"],
        anchored["upper_95"],
        color="tab:orange",
        alpha=0.18,
        linewidth=0.0,
        label="95% prediction interval",
    )
    axes.fill_between(
        forecast_x,
        anchored["lower_80"],
        anchored["upper_80"],
        color="tab:orange",
        alpha=0.35,
        linewidth=0.0,
        label="80% prediction interval",
    )
    axes.plot(history_x, observed["value"], color="tab:blue", linewidth=1.4, label="Observed")

    axes.plot(
        forecast_x,
        anchored["forecast"],
        color="tab:orange",
        linewidth=1.8,
        linestyle="--",
        label="Forecast",
    )
    axes.axvline(origin, color="0.35", linestyle=":", linewidth=1.2, label="Forecast origin")

    locator = matplotlib.dates.AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(matplotlib.dates.ConciseDateFormatter(locator))
    if np.nanmax(np.abs(np.concatenate([observed["value"], anchored["upper_95"]]))) >= 1000:
        axes.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    axes.grid(True, color="0.9", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)

    figure.suptitle(title, fontsize=14, x=0.01, ha="left")
    axes.set_title(f"Model: {model_label}", fontsize=10, color="0.3", loc="left")
    figure.legend(loc="outside lower center", ncols=5, frameon=False, fontsize=9)

    return figure


def _forecast_frames(
    history: pd.DataFrame, forecast: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Prepare the observed and forecast series for drawing.

    Returns the last ``HISTORY_POINTS`` observed periods, the forecast with the
    forecast origin prepended as a row whose forecast and interval bounds all equal
    the last observed value, and the origin itself. The origin is the last observed
    period before the first forecast period. History that overlaps the forecast,
    as in a backtest, stays in the observed series for comparison.
    """
    observed = pd.DataFrame(
        {
            "period_start": _naive_datetimes(history["period_start"]),
            "value": _float_values(history["value"]),
        }
    ).sort_values("period_start")

    predicted = pd.DataFrame({"period_start": _naive_datetimes(forecast["period_start"])})
    for column in FORECAST_COLUMNS[1:]:
        predicted[column] = _float_values(forecast[column])
    predicted = predicted.sort_values("period_start")

    first_forecast = predicted["period_start"].iloc[0]
    before = observed[observed["period_start"] < first_forecast]
    if before.empty:
        raise ValueError(
            f"history has no period before the first forecast period {first_forecast:%Y-%m-%d}. "
            "Pass history that ends before the forecast starts."
        )
    origin = before["period_start"].iloc[-1]
    last_value = before["value"].iloc[-1]

    # With the origin row the forecast line joins the observed line and the
    # intervals fan out from the last known value.
    origin_row = {"period_start": [origin]} | {
        column: [last_value] for column in FORECAST_COLUMNS[1:]
    }
    anchored = pd.concat([pd.DataFrame(origin_row), predicted], ignore_index=True)

    return observed.tail(HISTORY_POINTS), anchored, origin


def _float_values(values: pd.Series) -> np.ndarray:
    # None, NaN and pd.NA all become NaN, which matplotlib leaves as a gap.
    return pd.to_numeric(values).to_numpy(dtype=float, na_value=np.nan)


def _naive_datetimes(values: pd.Series) -> pd.Series:
    # matplotlib converts time zone aware values to UTC. Dropping the zone keeps
    # the wall-clock time, so the axis shows the business-local period starts.
    timestamps = pd.to_datetime(values)
    if timestamps.dt.tz is not None:
        timestamps = timestamps.dt.tz_localize(None)
    return timestamps.reset_index(drop=True)
