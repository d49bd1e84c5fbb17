"""Failure reporting for the pipeline's tasks.

The callback reads only the plain keys of Airflow's task context, so this
module does not import Airflow and can be tested without it.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("cohortintel.alerts")


def describe_failure(context: dict[str, Any]) -> str:
    """Return a one-paragraph description of a failed task: what, when and where to look."""
    task_instance = context.get("task_instance") or context.get("ti")
    dag_id = getattr(task_instance, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(task_instance, "task_id", "?")
    try_number = getattr(task_instance, "try_number", "?")
    run_id = context.get("run_id", "?")
    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    error = context.get("exception")
    error_text = (
        f"{type(error).__name__}: {str(error).rstrip('.')}"
        if error is not None
        else "no exception recorded"
    )
    return (
        f"Task {dag_id}.{task_id} failed on try {try_number} of run {run_id} "
        f"(data interval {start} to {end}). Error: {error_text}. "
        f"Look at the task log in the Airflow UI (Dag {dag_id}, run {run_id}, task {task_id}); "
        f"data-quality results are in ops.validation_result."
    )


def log_task_failure(context: dict[str, Any]) -> None:
    """Log a task's final failure at ERROR level (Airflow calls this once retries are used up)."""
    log.error("%s", describe_failure(context))
