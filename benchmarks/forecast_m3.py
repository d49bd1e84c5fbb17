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

Each finished series is appended at once, as one JSON line, to a results file
in benchmarks/results/ (the tools' forecasts, scores and seconds, never the
data). ``--resume`` skips the series that any results file of the run already
contains, so a stopped run continues where it stopped, and ``--shard K/N`` runs
every N-th series from the K-th (0-based), so N processes or machines can share
the set, each writing its own file. ``--summary`` reads the files, prints the
tables for whatever is done and how many of the 1,428 series are in. The
full run takes the series of the 150-series sample (seed 20240601) first, so
that a partial run already covers the sample.

Usage:
    python benchmarks/forecast_m3.py --sample 150 --skip-sales   # the sample only
    python benchmarks/forecast_m3.py --skip-sales --resume       # all 1,428, resumable
    python benchmarks/forecast_m3.py --skip-sales --resume --shard 0/2
    python benchmarks/forecast_m3.py --summary                   # tables of what is done
    python benchmarks/forecast_m3.py --summary --sample 150      # the sample's series only
    python benchmarks/forecast_m3.py --skip-m3                   # the sales series

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
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_M3 = REPO_ROOT / "../shared/data/m3_monthly/m3_monthly_long.csv.gz"
DEFAULT_SALES_DIR = REPO_ROOT / "../shared/data/sales_monthly"
DEFAULT_RESULTS_DIR = REPO_ROOT / "benchmarks/results"
M3_SERIES = 1428
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
    tasks: list[tuple[str, np.ndarray, np.ndarray, list[str], int]],
    tools: list[str],
    workers: int,
    on_row=None,
) -> list[dict]:
    """Evaluate every task; pass each finished row to ``on_row`` as it arrives."""
    rows = []
    if not tasks:
        return rows
    with multiprocessing.get_context("spawn").Pool(
        workers, initializer=_init_worker, initargs=(tools,)
    ) as pool:
        for count, row in enumerate(pool.imap_unordered(evaluate_series, tasks), start=1):
            if on_row is not None:
                on_row(row)
            rows.append(row)
            if count % 25 == 0 or count == len(tasks):
                print(f"  {count}/{len(tasks)} series done", file=sys.stderr, flush=True)
    return sorted(rows, key=lambda row: row["series"])


# --- Results files -----------------------------------------------------------------


def _commit() -> str | None:
    """Return the repository's HEAD commit, with "+changes" when include/ has uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "include"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+changes" if dirty else "")


def _package_tree() -> str | None:
    """Return the git tree id of include/cohortintel, which a rebase keeps when the code is the same."""
    try:
        return subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD:include/cohortintel"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def results_files(results_dir: Path, dataset: str) -> list[Path]:
    """Return every results file of a dataset ("m3_monthly" or "sales_monthly")."""
    return sorted(results_dir.glob(f"{dataset}*.jsonl"))


def read_results(results_dir: Path, dataset: str) -> list[dict]:
    """Read the rows of every results file of a dataset; a later row of a series wins."""
    by_series: dict[str, dict] = {}
    for path in results_files(results_dir, dataset):
        with path.open() as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    # A run killed in the middle of a write leaves a partial last line.
                    print(f"skipping unreadable line {number} of {path}", file=sys.stderr)
                    continue
                by_series[row["series"]] = row
    return sorted(by_series.values(), key=lambda row: row["series"])


class ResultsWriter:
    """Append rows to a JSON-lines file, one flushed line per finished series."""

    def __init__(self, path: Path, tools: list[str]):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.tools = tools
        self.commit = _commit()
        self.package_tree = _package_tree()

    def __call__(self, row: dict) -> None:
        record = {
            **row,
            "tools": self.tools,
            "commit": self.commit,
            "package_tree": self.package_tree,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "load_1min": round(os.getloadavg()[0], 2),
        }
        with self.path.open("a") as handle:
            handle.write(json.dumps(record, default=float) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def parse_shard(text: str | None) -> tuple[int, int]:
    if text is None:
        return 0, 1
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must look like 0/2, got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"--shard {text}: need 0 <= K < N")
    return index, count


def sample_ids(m3: list[tuple[str, np.ndarray, np.ndarray]], size: int) -> list[str]:
    """Return the ids of the fixed random sample of ``size`` series (seed SAMPLE_SEED)."""
    rng = np.random.default_rng(SAMPLE_SEED)
    chosen = sorted(rng.choice(len(m3), size=min(size, len(m3)), replace=False))
    return [m3[i][0] for i in chosen]


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


def print_run_facts(rows: list[dict]) -> None:
    """Print when the rows were made, under what load and from which commits."""
    stamps = sorted(row["finished_at"] for row in rows if row.get("finished_at"))
    loads = [row["load_1min"] for row in rows if row.get("load_1min") is not None]
    commits = sorted({row.get("commit") or "unknown" for row in rows})
    trees = sorted({row.get("package_tree") or "unknown" for row in rows})
    if stamps:
        print(f"rows finished between {stamps[0]} and {stamps[-1]}")
    if loads:
        print(
            f"1-minute load average at the rows' end: median {statistics.median(loads):.2f}, "
            f"range {min(loads):.2f} to {max(loads):.2f}"
        )
    print(f"forecaster commits: {', '.join(commits)}")
    print(f"include/cohortintel trees: {', '.join(trees)}")


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
            if value is not None:
                cells.append(f"{value:.2f}")
            elif f"{tool}_error" in row:
                cells.append("failed")
            else:
                cells.append("not run")
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
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=DEFAULT_RESULTS_DIR,
        help="folder of the per-series results files (default benchmarks/results)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="skip series already in the results files"
    )
    parser.add_argument(
        "--shard", type=parse_shard, help="K/N: run every N-th series from the K-th (0-based)"
    )
    parser.add_argument(
        "--summary",
        action="store_true",
        help="run nothing; print the tables of the series in the results files",
    )
    args = parser.parse_args()
    tools = [tool.strip() for tool in args.tools.split(",") if tool.strip()]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tools {sorted(unknown)}; choose from {', '.join(TOOLS)}")
    shard_index, shard_count = args.shard or (0, 1)
    suffix = f".shard{shard_index}-of-{shard_count}" if shard_count > 1 else ""

    if args.summary:
        return summary_main(args, tools)

    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, {args.workers} worker processes, 1 thread each"
    )
    output: dict = {}
    if not args.skip_m3:
        m3 = load_m3(args.m3)
        if args.sample:
            sample = set(sample_ids(m3, args.sample))
            m3 = [item for item in m3 if item[0] in sample]
        elif args.limit:
            m3 = m3[: args.limit]
        else:
            # The sample's series first, so that a partial run covers it.
            first = sample_ids(m3, 150)
            rank = {name: position for position, name in enumerate(first)}
            m3 = sorted(m3, key=lambda item: (item[0] not in rank, rank.get(item[0], 0)))
        m3 = m3[shard_index::shard_count]
        done = {row["series"] for row in read_results(args.results_dir, "m3_monthly")}
        if args.resume:
            skipped = sum(item[0] in done for item in m3)
            m3 = [item for item in m3 if item[0] not in done]
            print(f"resume: {skipped} series already in {args.results_dir}, {len(m3)} to run")
        print(f"M3 monthly: {len(m3)} series, horizon {M3_HORIZON}")
        tasks = [(name, train, test, tools, M3_HORIZON) for name, train, test in m3]
        writer = ResultsWriter(args.results_dir / f"m3_monthly{suffix}.jsonl", tools)
        started = time.perf_counter()
        rows = run_all(tasks, tools, args.workers, writer)
        print(f"M3 wall time: {time.perf_counter() - started:.0f} s")
        if rows:
            summary = summarise_m3(rows, tools)
            print_m3(summary, rows)
            output["m3"] = {"summary": summary, "rows": rows}
    if not args.skip_sales:
        sales = load_sales(args.sales_dir)
        print(f"\nsales series: {len(sales)}, MAPE (%) of the last {SALES_TEST_MONTHS} months")
        tasks = [(name, train, test, tools, SALES_TEST_MONTHS) for name, train, test in sales]
        writer = ResultsWriter(args.results_dir / f"sales_monthly{suffix}.jsonl", tools)
        rows = run_all(tasks, tools, args.workers, writer)
        print_sales(rows, sales, tools)
        output["sales"] = rows
    if args.output:
        args.output.write_text(json.dumps(output, indent=1, default=str))
    return 0


def summary_main(args: argparse.Namespace, tools: list[str]) -> int:
    """Print the tables of the series in the results files, and how many are in."""
    rows = read_results(args.results_dir, "m3_monthly")
    if args.sample:
        sample = set(sample_ids(load_m3(args.m3), args.sample))
        rows = [row for row in rows if row["series"] in sample]
        print(f"M3 monthly: {len(rows)} of the {len(sample)} series of the sample are in")
    else:
        print(f"M3 monthly: {len(rows)} of the {M3_SERIES:,} series are in")
    if rows:
        print_run_facts(rows)
        summary = summarise_m3(rows, tools)
        if summary[0]["series"]:
            print_m3(summary, rows)
        else:
            print(f"no series has results of all of {', '.join(tools)}")
    sales_rows = read_results(args.results_dir, "sales_monthly")
    if sales_rows:
        sales = load_sales(args.sales_dir)
        done = {row["series"] for row in sales_rows}
        sales = [item for item in sales if item[0] in done]
        print(f"\nsales series: {len(sales)}, MAPE (%) of the last {SALES_TEST_MONTHS} months")
        print_run_facts(sales_rows)
        print_sales(sales_rows, sales, tools)
    return 0


if __name__ == "__main__":
    sys.exit(main())
