"""The DAG file imports cleanly, parses with no database reachable, and is wired as documented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cohortintel.config import PROJECT_ROOT

# Runs in a fresh interpreter so that Airflow reads the unreachable addresses below
# as its configuration; nothing in this process has imported Airflow.
INSPECT_DAG = textwrap.dedent(
    """
    import datetime as dt, json, sys, zoneinfo
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.definitions.mappedoperator import MappedOperator
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    def callbacks(value):
        # A mapped task keeps the callback as given until it is unmapped at run time.
        if value is None:
            return []
        return value if isinstance(value, list) else [value]

    def utc(moment):
        return moment.astimezone(dt.timezone.utc).isoformat()

    bag = DagBag(sys.argv[1])
    dag = bag.dags["cohort_monthly"]  # get_dag() would query the metadata database
    london = zoneinfo.ZoneInfo("Europe/London")
    timetable = coerce_to_core_timetable(dag.timetable)
    first = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=dag.start_date, latest=None, catchup=True),
    )
    intervals = {"first_scheduled": [utc(first.data_interval.start), utc(first.data_interval.end)]}
    for label, run_after in {
        "winter": dt.datetime(2011, 2, 1, tzinfo=london),
        "summer": dt.datetime(2011, 8, 1, tzinfo=london),
    }.items():
        interval = timetable.infer_manual_data_interval(run_after=run_after)
        intervals[label] = [utc(interval.start), utc(interval.end)]
    print(json.dumps({
        "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
        "dag_ids": sorted(bag.dag_ids),
        "tasks": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
        "mapped": {
            t.task_id: {
                "map_index_template": t.map_index_template,
                "expand_input": sorted(t.op_kwargs_expand_input.value),
            }
            for t in dag.tasks if isinstance(t, MappedOperator)
        },
        "trigger_rules": {t.task_id: t.trigger_rule.value for t in dag.tasks},
        "timetable": type(dag.timetable).__name__,
        "intervals": intervals,
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "doc_md": dag.doc_md or "",
        "owner": dag.default_args.get("owner"),
        "retries": [t.retries for t in dag.tasks],
        "retry_delays": sorted({t.retry_delay.total_seconds() for t in dag.tasks}),
        "exponential_backoff": sorted({float(t.retry_exponential_backoff) for t in dag.tasks}),
        "max_retry_delays": sorted({t.max_retry_delay.total_seconds() for t in dag.tasks}),
        "callbacks": sorted({type(cb).__name__ for t in dag.tasks for cb in callbacks(t.on_failure_callback)}),
        "default_failure_callback": type(dag.default_args.get("on_failure_callback")).__name__,
        "failure_callbacks_per_task": sorted({len(callbacks(t.on_failure_callback)) for t in dag.tasks}),
        "retry_callbacks": sum(len(callbacks(t.on_retry_callback)) for t in dag.tasks),
        "deadlines": [
            {
                "reference": type(alert.reference).__name__,
                "minutes": alert.interval.total_seconds() / 60,
                "callback": alert.callback.path,
                "kwargs": alert.callback.kwargs,
            }
            for alert in (dag.deadline or [])
        ],
    }))
    """
)


@pytest.fixture(scope="module")
def dag_facts(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("airflow_home")
    unreachable = "postgresql+psycopg2://nobody@127.0.0.1:9/nowhere"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": unreachable,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_COHORTINTEL_SOURCE": "postgresql://nobody@127.0.0.1:9/source",
        "AIRFLOW_CONN_COHORTINTEL_WAREHOUSE": "postgresql://nobody@127.0.0.1:9/warehouse",
        "COHORTINTEL_TASK_RETRIES": "3",
        "COHORTINTEL_RETRY_DELAY_SECONDS": "42",
    }
    result = subprocess.run(
        [sys.executable, "-c", INSPECT_DAG, str(PROJECT_ROOT / "dags")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_dag_imports_without_database(dag_facts):
    assert dag_facts["import_errors"] == {}
    assert dag_facts["dag_ids"] == ["cohort_monthly"]


def test_task_ids_and_order(dag_facts):
    assert dag_facts["tasks"] == {
        "migrate_warehouse": [],
        "extract_transactions": ["migrate_warehouse"],
        "validate_transactions": ["extract_transactions"],
        "load_transactions": ["validate_transactions"],
        "build_cohort_tables": ["load_transactions"],
        "project_retention": ["build_cohort_tables"],
        "build_sales_series": ["load_transactions"],
        "fit_sales_forecast": ["build_sales_series"],
        "publish_results": ["fit_sales_forecast", "project_retention", "score_customer_risk"],
        "score_customer_risk": ["build_cohort_tables"],
        "copy_monthly_sales": ["migrate_warehouse"],
        "fit_monthly_forecast": ["copy_monthly_sales"],
        "publish_monthly_forecasts": ["fit_monthly_forecast"],
    }


def test_fits_mapped_by_series(dag_facts):
    assert dag_facts["mapped"] == {
        "fit_monthly_forecast": {
            "map_index_template": "{{ task.op_kwargs['series_id'] }}",
            "expand_input": ["series_id"],
        },
        "fit_sales_forecast": {
            "map_index_template": "{{ task.op_kwargs['series_id'] }}",
            "expand_input": ["series_id"],
        },
    }


def test_monthly_publish_runs_without_series(dag_facts):
    # With no series the mapped task is skipped; publish must still run then.
    assert dag_facts["trigger_rules"]["publish_monthly_forecasts"] == "none_failed"
    assert dag_facts["trigger_rules"]["fit_monthly_forecast"] == "all_success"


def test_sales_publish_runs_without_series(dag_facts):
    # A month without sales series skips the mapped fit; its forecasts are still published.
    assert dag_facts["trigger_rules"]["publish_results"] == "none_failed"
    assert dag_facts["trigger_rules"]["fit_sales_forecast"] == "all_success"


def test_timetable_has_data_intervals(dag_facts):
    assert dag_facts["timetable"] == "CronDataIntervalTimetable"


def test_interval_is_one_london_month(dag_facts):
    # Midnight to midnight in London: GMT in January, BST (UTC+1) in July.
    assert dag_facts["intervals"]["winter"] == [
        "2011-01-01T00:00:00+00:00",
        "2011-02-01T00:00:00+00:00",
    ]
    assert dag_facts["intervals"]["summer"] == [
        "2011-06-30T23:00:00+00:00",
        "2011-07-31T23:00:00+00:00",
    ]


def test_first_scheduled_run_is_first_month(dag_facts):
    assert dag_facts["intervals"]["first_scheduled"] == [
        "2010-12-01T00:00:00+00:00",
        "2011-01-01T00:00:00+00:00",
    ]


def test_backfill_settings(dag_facts):
    assert dag_facts["catchup"] is True
    assert dag_facts["max_active_runs"] == 1


def test_defaults_for_every_task(dag_facts):
    assert dag_facts["owner"] == "data-engineering"
    assert set(dag_facts["retries"]) == {3}
    # A failed task, such as an extract whose source is unreachable, is retried
    # with exponential back-off from the configured delay, up to an hour.
    assert dag_facts["retry_delays"] == [42.0]
    assert dag_facts["exponential_backoff"] == [2.0]
    assert dag_facts["max_retry_delays"] == [3600.0]
    assert dag_facts["callbacks"] == ["FailureNotifier"]


def test_failure_notifier_in_default_args(dag_facts):
    assert dag_facts["default_failure_callback"] == "FailureNotifier"
    # One notifier per task; a retry callback would alert before the final failure.
    assert dag_facts["failure_callbacks_per_task"] == [1]
    assert dag_facts["retry_callbacks"] == 0


def test_dag_documents_itself(dag_facts):
    assert "include/cohortintel" in dag_facts["doc_md"]


def test_dag_file_does_no_io_at_import():
    source = Path(PROJECT_ROOT / "dags" / "cohort_monthly.py").read_text(encoding="utf-8")
    top_level = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    heavy = [
        line
        for line in top_level
        if any(name in line for name in ("pandas", "psycopg2", "great_expectations", "statsmodels"))
    ]
    assert heavy == []


def test_deadline_warns_six_hours_after_queueing(dag_facts):
    assert dag_facts["deadlines"] == [
        {
            "reference": "DagRunQueuedAtDeadline",
            "minutes": 360.0,
            "callback": "cohortintel.airflow_alerts.notify_deadline_missed",
            "kwargs": {"minutes": 360},
        }
    ]
