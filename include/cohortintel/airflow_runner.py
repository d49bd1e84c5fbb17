"""Run the monthly DAG through Airflow for a range of months, one ``dag.test()`` run each.

Run as ``python -m cohortintel.airflow_runner FIRST LAST`` in a process whose
environment already points Airflow at its metadata database (see
``cohortintel.environment``), because Airflow reads its configuration at import.
This is the one module of the package that imports Airflow.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from cohortintel.months import add_months, month_range, month_start, parse_month

log = logging.getLogger("cohortintel.airflow_runner")

DAG_ID = "cohort_monthly"


def run_months(first: str, last: str) -> int:
    """Run the DAG for every month from ``first`` to ``last``; return 0 when all succeeded."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.state import DagRunState

    from cohortintel.config import PROJECT_ROOT, Settings

    # dag.test() in Airflow 3.3 fails at the end of every run of a Dag with a
    # deadline: it looks the deadline alert up by its serialized form instead of
    # its id. No triggerer runs here to fire the deadline anyway, so it is off.
    os.environ["COHORTINTEL_RUN_DEADLINE_MINUTES"] = "0"

    settings = Settings.from_env()
    bag = DagBag(str(PROJECT_ROOT / "dags"))
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            log.error("DAG file %s failed to import: %s", path, error)
        return 1
    dag = bag.get_dag(DAG_ID)
    for month in month_range(parse_month(first), parse_month(last)):
        started = time.monotonic()
        # A manual run covers the last whole interval before its logical date,
        # so the run for month M is requested at the start of month M + 1.
        run_after = month_start(add_months(month, 1), settings.business_timezone)
        dag_run = dag.test(logical_date=run_after)
        seconds = time.monotonic() - started
        task_instances = dag_run.get_task_instances()
        if not task_instances:
            # Airflow marks a run with no tasks as successful, which would hide
            # that nothing was processed.
            log.error(
                "The run of %s for %s created no tasks, so the month was not processed. "
                "Check that %s lies between COHORTINTEL_START_MONTH and COHORTINTEL_END_MONTH.",
                DAG_ID,
                f"{month:%Y-%m}",
                f"{month:%Y-%m}",
            )
            return 1
        if dag_run.state != DagRunState.SUCCESS:
            failed = sorted(
                ti.task_id for ti in task_instances if ti.state in ("failed", "upstream_failed")
            )
            log.error(
                "Run of %s for %s ended in state %s after %.0f s; tasks not done: %s. "
                "The task logs above end with the error.",
                DAG_ID,
                f"{month:%Y-%m}",
                dag_run.state,
                seconds,
                ", ".join(failed) or "none recorded",
            )
            return 1
        print(f"cohortintel: {DAG_ID} {month:%Y-%m} succeeded in {seconds:.0f} s", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", help="first month to run, YYYY-MM")
    parser.add_argument("last", help="last month to run, YYYY-MM")
    args = parser.parse_args(argv)
    return run_months(args.first, args.last)


if __name__ == "__main__":
    sys.exit(main())
