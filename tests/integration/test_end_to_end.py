"""Run the DAG through Airflow for two consecutive months of the real Online Retail data.

The slice contains every row up to 4 February 2011, so December and January are
whole closed months and the first days of February close January. The cohort
sizes are the ones the full data set gives (885 and 417), and the December
cohort's January retention is recomputed here with pandas from the same rows.
"""

from __future__ import annotations

import csv
import gzip
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from cohortintel.environment import DatabaseNames, airflow_environment
from cohortintel.postgres_server import drop_database, ensure_database
from cohortintel.source import load_online_retail
from tests.integration.helpers import fetch

pytestmark = [pytest.mark.postgres, pytest.mark.airflow]

SLICE_END = "2011-02-05"


def write_slice(source: Path, target: Path) -> None:
    with (
        gzip.open(source, "rt", encoding="utf-8", newline="") as reader,
        target.open("w", newline="") as out,
    ):
        rows = csv.reader(reader)
        writer = csv.writer(out)
        writer.writerow(next(rows))
        for row in rows:
            if row[4] < SLICE_END:
                writer.writerow(row)


def pandas_december_retention(path: Path) -> Decimal:
    """Share of December 2010's new customers with a purchase in January 2011, by the same rules."""
    frame = pd.read_csv(
        path, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": "Int64"}
    ).drop_duplicates()
    purchases = frame[
        (frame["Quantity"] > 0)
        & (frame["UnitPrice"] > 0)
        & ~frame["InvoiceNo"].str.startswith(("C", "A"))
        & frame["CustomerID"].notna()
    ].assign(month=lambda f: f["InvoiceDate"].str[:7])
    first = purchases.groupby("CustomerID")["month"].min()
    december = set(first[first == "2010-12"].index)
    january = set(purchases.loc[purchases["month"] == "2011-01", "CustomerID"])
    return Decimal(len(december & january)) / Decimal(len(december))


def snapshot(dsn: str) -> dict[str, list]:
    """Table contents without run ids and timestamps, which differ between runs by design."""
    return {
        "transactions": fetch(
            dsn,
            "select source_row_id, customer_id, occurred_month, amount, line_kind from core.transactions order by 1",
        ),
        "quarantine": fetch(
            dsn, "select source_row_id, rule, reason from quarantine.transactions order by 1, 2"
        ),
        "cohorts": fetch(dsn, "select * from marts.cohort_retention order by 1, 2, 3, 4"),
        "customers": fetch(dsn, "select * from marts.customer_cohort order by 1"),
        "sales": fetch(dsn, "select * from marts.sales_daily order by 1, 2"),
        "sales_periods": fetch(dsn, "select * from marts.sales_period order by 1, 2, 3"),
        "forecasts": fetch(dsn, "select * from marts.sales_forecast order by 1, 2, 3"),
        "models": fetch(
            dsn,
            "select series_id, grain, as_of_month, status, model_spec, n_obs, training_start,"
            " training_end from marts.forecast_model order by 1, 2, 3",
        ),
    }


@pytest.fixture(scope="module")
def pipeline(postgres_server, tmp_path_factory, online_retail_csv):
    tmp = tmp_path_factory.mktemp("end_to_end")
    names = DatabaseNames.with_prefix(f"cohortintel_test_e2e_{os.getpid()}")
    for name in (names.source, names.warehouse, names.airflow):
        ensure_database(postgres_server, name)
    # The databases are dropped even when the setup runs fail, so a failed run
    # leaves nothing behind on the server.
    try:
        slice_path = tmp / "online_retail_slice.csv"
        write_slice(online_retail_csv, slice_path)
        load_online_retail(postgres_server.database_dsn(names.source), slice_path)
        env = {
            **os.environ,
            **airflow_environment(postgres_server, names, airflow_home=str(tmp / "airflow")),
            "COHORTINTEL_TASK_RETRIES": "0",
            "COHORTINTEL_OUTPUT_DIR": str(tmp / "output"),
            # The total and the top country: two mapped fit tasks per run.
            "COHORTINTEL_SALES_TOP_COUNTRIES": "1",
        }

        def run(*args: str, expect_success: bool = True) -> subprocess.CompletedProcess:
            result = subprocess.run(
                list(args), env=env, capture_output=True, text=True, timeout=900
            )
            if expect_success:
                assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-6000:])
            return result

        run(sys.executable, "-m", "airflow", "db", "migrate")
        run(sys.executable, "-m", "cohortintel.airflow_runner", "2010-12", "2011-01")
        yield {
            "warehouse": postgres_server.database_dsn(names.warehouse),
            "airflow": postgres_server.database_dsn(names.airflow),
            "slice": slice_path,
            "output": tmp / "output",
            "run": run,
        }
    finally:
        for name in (names.source, names.warehouse, names.airflow):
            drop_database(postgres_server, name)


def test_cohort_sizes_match_full_data(pipeline):
    sizes = fetch(
        pipeline["warehouse"],
        "select cohort_month::text, cohort_size from marts.cohort_retention where segment_type = 'all' and months_since_first_purchase = 0 order by 1",
    )
    assert sizes == [("2010-12-01", 885), ("2011-01-01", 417)]


def test_december_retention_matches_pandas(pipeline):
    rows = fetch(
        pipeline["warehouse"],
        "select retention_rate from marts.cohort_retention where segment_type = 'all' and cohort_month = '2010-12-01' and months_since_first_purchase = 1",
    )
    expected = pandas_december_retention(pipeline["slice"])
    assert len(rows) == 1
    assert abs(rows[0][0] - expected) < Decimal("1e-12")


def test_rows_reconcile_with_source(pipeline):
    (source_rows,) = (sum(1 for _ in pipeline["slice"].open()) - 1,)
    in_loaded_months = fetch(
        pipeline["warehouse"],
        "select (select count(*) from core.transactions) + (select count(distinct row_data) from quarantine.transactions)",
    )[0][0]
    february_rows = sum(1 for line in pipeline["slice"].open() if ",2011-02-" in line)
    assert in_loaded_months == source_rows - february_rows


def test_duplicates_quarantined(pipeline):
    rules = dict(
        fetch(
            pipeline["warehouse"], "select rule, count(*) from quarantine.transactions group by 1"
        )
    )
    assert rules.get("duplicate_row", 0) > 0


def test_forecast_per_month_published(pipeline):
    models = fetch(
        pipeline["warehouse"],
        "select as_of_month::text, series_id, grain, status, training_end::text"
        " from marts.forecast_model order by 1, 2",
    )
    assert models == [
        ("2010-12-01", "country:United Kingdom", "day", "forecast", "2010-12-31"),
        ("2010-12-01", "total", "day", "forecast", "2010-12-31"),
        ("2011-01-01", "country:United Kingdom", "day", "forecast", "2011-01-31"),
        ("2011-01-01", "total", "day", "forecast", "2011-01-31"),
    ]
    counts = fetch(
        pipeline["warehouse"],
        "select as_of_month::text, series_id, count(*) from marts.sales_forecast"
        " group by 1, 2 order by 1, 2",
    )
    assert counts == [
        ("2010-12-01", "country:United Kingdom", 26),
        ("2010-12-01", "total", 26),
        ("2011-01-01", "country:United Kingdom", 26),
        ("2011-01-01", "total", 26),
    ]


def test_sales_fit_mapped_by_series(pipeline):
    # Each map index of the fit task is named by its series id.
    names = fetch(
        pipeline["airflow"],
        "select rendered_map_index, state, count(distinct run_id) from task_instance"
        " where task_id = 'fit_sales_forecast' group by 1, 2 order by 1",
    )
    assert names == [("country:United Kingdom", "success", 2), ("total", "success", 2)]


def test_forecast_skips_saturdays(pipeline):
    saturdays = fetch(
        pipeline["warehouse"],
        "select count(*) from marts.sales_forecast where extract(isodow from period_start) = 6",
    )
    assert saturdays == [(0,)]


def test_charts_written(pipeline):
    charts = sorted(
        path.relative_to(pipeline["output"]).as_posix()
        for path in (pipeline["output"] / "charts").rglob("*.png")
    )
    assert charts == [
        "charts/2010-12/forecast_country_United_Kingdom.png",
        "charts/2010-12/forecast_total.png",
        "charts/2010-12/retention_heatmap.png",
        "charts/2011-01/forecast_country_United_Kingdom.png",
        "charts/2011-01/forecast_total.png",
        "charts/2011-01/retention_heatmap.png",
    ]


def test_data_docs_written(pipeline):
    for month in ("2010-12", "2011-01"):
        docs = pipeline["output"] / "data_docs" / month
        assert (docs / "index.html").is_file()
        assert len(list((docs / "validations").rglob("*.html"))) == 1


def test_monthly_tasks_without_series_table(pipeline):
    # The source has no monthly sales table: nothing to map, and publish still runs.
    states = fetch(
        pipeline["airflow"],
        "select distinct task_id, state from task_instance where task_id in"
        " ('copy_monthly_sales', 'fit_monthly_forecast', 'publish_monthly_forecasts')"
        " order by 1",
    )
    assert states == [
        ("copy_monthly_sales", "success"),
        ("fit_monthly_forecast", "skipped"),
        ("publish_monthly_forecasts", "success"),
    ]
    models = fetch(pipeline["warehouse"], "select count(*) from marts.monthly_forecast_model")
    assert models == [(0,)]


def test_rerun_of_month_leaves_tables_same(pipeline):
    before = snapshot(pipeline["warehouse"])
    pipeline["run"](sys.executable, "-m", "cohortintel.airflow_runner", "2011-01", "2011-01")
    assert snapshot(pipeline["warehouse"]) == before


def test_month_before_start_reported(pipeline):
    result = pipeline["run"](
        sys.executable,
        "-m",
        "cohortintel.airflow_runner",
        "2009-01",
        "2009-01",
        expect_success=False,
    )
    assert result.returncode == 1
    assert "created no tasks" in result.stdout + result.stderr
