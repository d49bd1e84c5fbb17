"""Compare the monthly forecaster with statsforecast AutoARIMA and pmdarima auto_arima.

Every tool runs on the same series in the same worker process, one after the
other, with one thread each (OMP, MKL, OpenBLAS and Numba threads set to 1):

- M3 monthly (1,428 series, the last 18 points of each are the test): sMAPE
  averaged over horizons 1 to 18 (200 * |y - f| / (|y| + |f|), averaged over
  series, then horizons), MASE with the in-sample seasonal naive (m = 12) as the
  scale, and wall seconds per series for a cold fit and for a warm refit. The
  warm refit adds the first test point to the training data and refits from the
  cold fit: ``warm_start`` here, ``update`` for pmdarima, and a refit of the
  chosen order for statsforecast (whose AutoARIMA has no warm start).
- Long monthly sales series (CSV files with columns period, value): MAPE of the
  last 12 months, forecast from the months before them, for each tool and for
  the seasonal naive.

Usage:
    python benchmarks/forecast_m3.py --sample 300 --workers 2
    python benchmarks/forecast_m3.py              # all 1,428 series

Needs the packages of benchmarks/requirements.txt besides the product's.
"""

from __future__ import annotations

import os

# One core per process, set before numpy, statsmodels or numba are imported.
for _variable in (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMBA_NUM_THREADS",
):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_M3 = REPO_ROOT / "../shared/data/m3_monthly/m3_monthly_long.csv.gz"
DEFAULT_SALES_DIR = REPO_ROOT / "../shared/data/sales_monthly"
SEASON_LENGTH = 12
M3_HORIZON = 18
SALES_TEST_MONTHS = 12
TOOLS = ("cohortintel", "statsforecast", "pmdarima")
SAMPLE_SEED = 20240601


# --- The three tools --------------------------------------------------------------


def _month_series(values: np.ndarray) -> pd.Series:
    index = pd.period_range("2000-01", periods=len(values), freq="M")
    return pd.Series(values, index=index)


def run_cohortintel(train: np.ndarray, new_point: float, horizon: int) -> dict:
    from cohortintel.monthly_forecast import fit_monthly_forecast

    started = time.perf_counter()
    result = fit_monthly_forecast(_month_series(train), horizon, series_id="bench")
    cold_seconds = time.perf_counter() - started

    started = time.perf_counter()
    warm = fit_monthly_forecast(
        _month_series(np.append(train, new_point)),
        horizon - 1,
        series_id="bench",
        warm_start=result.warm_start(),
    )
    warm_seconds = time.perf_counter() - started
    return {
        "forecast": result.forecast["forecast"].to_numpy(),
        "warm_forecast": warm.forecast["forecast"].to_numpy(),
        "cold_seconds": cold_seconds,
        "warm_seconds": warm_seconds,
        "model": result.model_spec,
        "model_kind": result.model_kind,
        "warm_selection": warm.selection,
    }


def run_statsforecast(train: np.ndarray, new_point: float, horizon: int) -> dict:
    from statsforecast.models import ARIMA, AutoARIMA

    started = time.perf_counter()
    model = AutoARIMA(season_length=SEASON_LENGTH).fit(train)
    forecast = model.predict(h=horizon)["mean"]
    cold_seconds = time.perf_counter() - started

    # statsforecast's arma tuple is (p, q, P, Q, m, d, D).
    p, q, big_p, big_q, _, d, big_d = model.model_["arma"]
    coef = model.model_["coef"]
    started = time.perf_counter()
    refit = ARIMA(
        order=(p, d, q),
        seasonal_order=(big_p, big_d, big_q),
        season_length=SEASON_LENGTH,
        include_mean="intercept" in coef,
        include_drift="drift" in coef,
    ).fit(np.append(train, new_point))
    warm_forecast = refit.predict(h=horizon - 1)["mean"]
    warm_seconds = time.perf_counter() - started
    return {
        "forecast": np.asarray(forecast, dtype=float),
        "warm_forecast": np.asarray(warm_forecast, dtype=float),
        "cold_seconds": cold_seconds,
        "warm_seconds": warm_seconds,
        "model": f"ARIMA({p},{d},{q})({big_p},{big_d},{big_q})",
    }


def run_pmdarima(train: np.ndarray, new_point: float, horizon: int) -> dict:
    import pmdarima

    started = time.perf_counter()
    model = pmdarima.auto_arima(
        train,
        m=SEASON_LENGTH,
        seasonal=True,
        stepwise=True,
        suppress_warnings=True,
        error_action="ignore",
    )
    forecast = model.predict(horizon)
    cold_seconds = time.perf_counter() - started

    started = time.perf_counter()
    model.update([new_point])
    warm_forecast = model.predict(horizon - 1)
    warm_seconds = time.perf_counter() - started
    return {
        "forecast": np.asarray(forecast, dtype=float),
        "warm_forecast": np.asarray(warm_forecast, dtype=float),
        "cold_seconds": cold_seconds,
        "warm_seconds": warm_seconds,
        "model": f"ARIMA{model.order}{model.seasonal_order}",
    }


RUNNERS = {
    "cohortintel": run_cohortintel,
    "statsforecast": run_statsforecast,
    "pmdarima": run_pmdarima,
}


# --- Metrics ----------------------------------------------------------------------


def smape_by_horizon(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    denominator = np.abs(actual) + np.abs(forecast)
    return np.divide(
        200 * np.abs(actual - forecast),
        denominator,
        out=np.zeros_like(actual, dtype=float),
        where=denominator > 0,
    )


def seasonal_naive_scale(train: np.ndarray, m: int = SEASON_LENGTH) -> float:
    return float(np.mean(np.abs(train[m:] - train[:-m])))


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.mean(np.abs(actual - forecast) / np.abs(actual)) * 100)


# --- Workers ----------------------------------------------------------------------


def _warm_up(tools: list[str]) -> None:
    """Run each tool once on a synthetic series so that imports and JIT compilation
    (Numba in statsforecast) stay out of the timings."""
    rng = np.random.default_rng(0)
    values = 100 + 10 * np.sin(np.arange(60) * 2 * np.pi / 12) + rng.normal(0, 1, 60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for tool in tools:
            RUNNERS[tool](values[:-1], values[-1], 3)


def _init_worker(tools: list[str]) -> None:
    import logging

    # The forecaster logs a warning for every fallback; the table counts them.
    logging.disable(logging.WARNING)
    _warm_up(tools)


def evaluate_series(task: tuple[str, np.ndarray, np.ndarray, list[str], int]) -> dict:
    series_id, train, test, tools, horizon = task
    row: dict = {"series": series_id, "n_train": len(train)}
    scale = seasonal_naive_scale(train)
    for tool in tools:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                outcome = RUNNERS[tool](train, float(test[0]), horizon)
            except Exception as error:  # noqa: BLE001 - a failing tool is recorded, not fatal
                row[f"{tool}_error"] = f"{type(error).__name__}: {error}"
                continue
        forecast = outcome["forecast"][: len(test)]
        errors = smape_by_horizon(test, forecast)
        row[f"{tool}_smape"] = errors.tolist()
        row[f"{tool}_mase"] = float(np.mean(np.abs(test - forecast)) / scale) if scale else None
        row[f"{tool}_mape"] = mape(test, forecast) if np.all(test != 0) else None
        warm = outcome["warm_forecast"][: len(test) - 1]
        row[f"{tool}_warm_smape"] = smape_by_horizon(test[1:], warm).tolist()
        row[f"{tool}_cold_seconds"] = outcome["cold_seconds"]
        row[f"{tool}_warm_seconds"] = outcome["warm_seconds"]
        row[f"{tool}_model"] = outcome["model"]
        if "model_kind" in outcome:
            row[f"{tool}_model_kind"] = outcome["model_kind"]
            row[f"{tool}_warm_selection"] = outcome["warm_selection"]
    return row


def load_m3(path: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    frame = pd.read_csv(path).sort_values(["series", "t"])
    series = []
    for series_id, group in frame.groupby("series", sort=True):
        train = group.loc[group["is_test"] == 0, "value"].to_numpy(dtype=float)
        test = group.loc[group["is_test"] == 1, "value"].to_numpy(dtype=float)
        series.append((str(series_id), train, test))
    return series


def load_sales(directory: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    series = []
    for path in sorted(directory.glob("*.csv")):
        values = pd.read_csv(path)["value"].to_numpy(dtype=float)
        train, test = values[:-SALES_TEST_MONTHS], values[-SALES_TEST_MONTHS:]
        series.append((path.stem, train, test))
    return series


def run_all(
    tasks: list[tuple[str, np.ndarray, np.ndarray, list[str], int]], tools: list[str], workers: int
) -> list[dict]:
    rows = []
    with multiprocessing.get_context("spawn").Pool(
        workers, initializer=_init_worker, initargs=(tools,)
    ) as pool:
        for count, row in enumerate(pool.imap_unordered(evaluate_series, tasks), start=1):
            rows.append(row)
            if count % 25 == 0 or count == len(tasks):
                print(f"  {count}/{len(tasks)} series done", file=sys.stderr, flush=True)
    return sorted(rows, key=lambda row: row["series"])


# --- Report -----------------------------------------------------------------------


def summarise_m3(rows: list[dict], tools: list[str]) -> list[dict]:
    """Average every tool over the series that all tools forecast."""
    complete = [row for row in rows if all(f"{tool}_smape" in row for tool in tools)]
    summary = []
    for tool in tools:
        smape_matrix = np.array([row[f"{tool}_smape"] for row in complete])
        warm_matrix = np.array([row[f"{tool}_warm_smape"] for row in complete])
        mases = [row[f"{tool}_mase"] for row in complete if row[f"{tool}_mase"] is not None]
        cold = [row[f"{tool}_cold_seconds"] for row in complete]
        warm = [row[f"{tool}_warm_seconds"] for row in complete]
        summary.append(
            {
                "tool": tool,
                "series": len(complete),
                "failed": sum(f"{tool}_error" in row for row in rows),
                # Mean over series for each horizon, then over horizons 1 to 18.
                "smape_1_18": float(smape_matrix.mean(axis=0).mean()),
                "warm_smape_2_18": float(warm_matrix.mean(axis=0).mean()),
                "mase": float(np.mean(mases)),
                "cold_seconds_mean": statistics.fmean(cold),
                "cold_seconds_median": statistics.median(cold),
                "warm_seconds_mean": statistics.fmean(warm),
                "warm_seconds_median": statistics.median(warm),
            }
        )
    return summary


def print_m3(summary: list[dict], rows: list[dict]) -> None:
    print(
        "| tool | series | sMAPE h1-18 | MASE | cold s/series (mean, median) "
        "| warm s/series (mean, median) | warm sMAPE h2-18 |"
    )
    print("|---|---|---|---|---|---|---|")
    for item in summary:
        print(
            f"| {item['tool']} | {item['series']} | {item['smape_1_18']:.2f} | {item['mase']:.3f} "
            f"| {item['cold_seconds_mean']:.2f}, {item['cold_seconds_median']:.2f} "
            f"| {item['warm_seconds_mean']:.2f}, {item['warm_seconds_median']:.2f} "
            f"| {item['warm_smape_2_18']:.2f} |"
        )
    kinds: dict[str, int] = {}
    for row in rows:
        kind = row.get("cohortintel_model_kind")
        if kind:
            kinds[kind] = kinds.get(kind, 0) + 1
    print(f"cohortintel champions: {json.dumps(dict(sorted(kinds.items())))}")
    for item in summary:
        if item["failed"]:
            print(f"{item['tool']} failed on {item['failed']} series")


def print_sales(rows: list[dict], sales: list[tuple[str, np.ndarray, np.ndarray]], tools) -> None:
    by_name = {row["series"]: row for row in rows}
    print("| series | months | " + " | ".join(tools) + " | seasonal naive | champion |")
    print("|---|---|" + "---|" * (len(tools) + 2))
    for name, train, test in sales:
        row = by_name[name]
        naive = np.resize(train[-SEASON_LENGTH:], len(test))
        cells = []
        for tool in tools:
            value = row.get(f"{tool}_mape")
            cells.append("failed" if value is None else f"{value:.2f}")
        champion = row.get("cohortintel_model", "")
        print(
            f"| {name} | {len(train) + len(test)} | "
            + " | ".join(cells)
            + f" | {mape(test, naive):.2f} | {champion} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m3", type=Path, default=DEFAULT_M3, help="M3 monthly long CSV")
    parser.add_argument(
        "--sales-dir", type=Path, default=DEFAULT_SALES_DIR, help="sales CSV folder"
    )
    parser.add_argument("--limit", type=int, help="run the first N M3 series by series id")
    parser.add_argument(
        "--sample", type=int, help=f"run N M3 series drawn at random with seed {SAMPLE_SEED}"
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help=f"comma-separated subset of {','.join(TOOLS)}"
    )
    parser.add_argument("--skip-m3", action="store_true", help="run the sales series only")
    parser.add_argument("--skip-sales", action="store_true", help="run M3 only")
    parser.add_argument("--output", type=Path, help="write every per-series row to this JSON file")
    args = parser.parse_args()
    tools = [tool.strip() for tool in args.tools.split(",") if tool.strip()]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools {sorted(unknown)}; choose from {', '.join(TOOLS)}")

    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, {args.workers} worker processes, 1 thread each"
    )
    output: dict = {}
    if not args.skip_m3:
        m3 = load_m3(args.m3)
        if args.sample:
            rng = np.random.default_rng(SAMPLE_SEED)
            chosen = sorted(rng.choice(len(m3), size=min(args.sample, len(m3)), replace=False))
            m3 = [m3[i] for i in chosen]
        elif args.limit:
            m3 = m3[: args.limit]
        print(f"M3 monthly: {len(m3)} series, horizon {M3_HORIZON}")
        tasks = [(name, train, test, tools, M3_HORIZON) for name, train, test in m3]
        started = time.perf_counter()
        rows = run_all(tasks, tools, args.workers)
        print(f"M3 wall time: {time.perf_counter() - started:.0f} s")
        summary = summarise_m3(rows, tools)
        print_m3(summary, rows)
        output["m3"] = {"summary": summary, "rows": rows}
    if not args.skip_sales:
        sales = load_sales(args.sales_dir)
        print(f"\nsales series: {len(sales)}, MAPE (%) of the last {SALES_TEST_MONTHS} months")
        tasks = [(name, train, test, tools, SALES_TEST_MONTHS) for name, train, test in sales]
        rows = run_all(tasks, tools, args.workers)
        print_sales(rows, sales, tools)
        output["sales"] = rows
    if args.output:
        args.output.write_text(json.dumps(output, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
