"""Failing tasks run through Airflow's ``dag.test()`` and send their alerts to real listeners.

Each run is a fresh interpreter whose environment points Airflow at a
metadata database on the test server and at a DAG folder holding small probe
DAGs next to a link to the project's DAG file. The alert connections point at
SMTP and HTTP listeners that this process runs on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from cohortintel import db
from cohortintel.config import PROJECT_ROOT
from cohortintel.environment import DatabaseNames, airflow_environment
from cohortintel.postgres_server import drop_database, ensure_database
from cohortintel.source import load_online_retail
from tests.integration.helpers import fetch
from tests.listeners import closed_port, start_http, start_smtp

pytestmark = [pytest.mark.postgres, pytest.mark.airflow]

SMTP_PASSWORD = "smtp-Pa55word-for-alerts"
WEBHOOK_PASSWORD = "webhook-Pa55word-for-alerts"
SLACK_TOKEN = "T0001/B0001/slacktoken0001"

PROBE_DAGS = textwrap.dedent(
    """
    import datetime as dt

    import pendulum
    from airflow.sdk import dag, task

    from cohortintel.airflow_alerts import FailureNotifier, send_warning_alert

    START = pendulum.datetime(2024, 1, 1, tz="UTC")


    @dag(
        dag_id="retry_probe",
        schedule=None,
        start_date=START,
        default_args={
            "retries": 1,
            "retry_delay": dt.timedelta(0),
            "on_failure_callback": FailureNotifier(),
        },
    )
    def retry_probe():
        @task
        def fail_every_try():
            raise ValueError("probe failure on every try")

        fail_every_try()


    @dag(dag_id="task_level_probe", schedule=None, start_date=START)
    def task_level_probe():
        @task(retries=0, on_failure_callback=FailureNotifier())
        def fail_with_notifier():
            raise ValueError("probe failure with a task-level notifier")

        @task(retries=0)
        def fail_without_notifier():
            raise ValueError("probe failure without a notifier")

        fail_with_notifier()
        fail_without_notifier()


    @dag(dag_id="warning_probe", schedule=None, start_date=START)
    def warning_probe():
        @task
        def warn_twice():
            for _ in range(2):
                send_warning_alert(
                    "warning_probe:same_key", "Probe warning", {"cohort_month": "2011-03"}
                )

        warn_twice()


    retry_probe()
    task_level_probe()
    warning_probe()
    """
)

# Runs one DAG with dag.test() and prints the run's state and its task instances.
RUN_DAG = textwrap.dedent(
    """
    import json, sys
    import pendulum
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(sys.argv[1])
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags[sys.argv[2]]
    logical_date = pendulum.parse(sys.argv[3]) if len(sys.argv) > 3 else None
    if len(sys.argv) > 4:
        # Only this task and the tasks it depends on.
        dag = dag.partial_subset(sys.argv[4], include_upstream=True)
    run = dag.test(logical_date=logical_date) if logical_date else dag.test()
    print(json.dumps({
        "state": str(run.state),
        "run_id": run.run_id,
        "tasks": {ti.task_id: [str(ti.state), ti.try_number] for ti in run.get_task_instances()},
    }))
    """
)

RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
# Two of the three July rows have a negative price, far above the 5% quarantine limit.
RETAIL_LINES = [
    "536365,85123A,HEART,6,2011-07-01 10:00:00,2.55,17850,United Kingdom",
    "536366,71053,LANTERN,6,2011-07-02 10:00:00,-3.39,17850,United Kingdom",
    "536367,71054,LANTERN,6,2011-07-03 10:00:00,-3.39,17851,United Kingdom",
]


@pytest.fixture(scope="module")
def airflow_setup(postgres_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("alerts_airflow")
    names = DatabaseNames.with_prefix(f"cohortintel_test_alerts_{os.getpid()}")
    for name in (names.source, names.warehouse, names.airflow):
        ensure_database(postgres_server, name)
    retail = tmp / "retail.csv"
    retail.write_text("\n".join([RETAIL_HEADER, *RETAIL_LINES]) + "\n", encoding="utf-8")
    load_online_retail(postgres_server.database_dsn(names.source), retail)
    warehouse = postgres_server.database_dsn(names.warehouse)
    db.migrate(warehouse)

    dags = tmp / "dags"
    dags.mkdir()
    (dags / "alert_probes.py").write_text(PROBE_DAGS, encoding="utf-8")
    (dags / "cohort_monthly.py").symlink_to(PROJECT_ROOT / "dags" / "cohort_monthly.py")
    env = {
        **os.environ,
        **airflow_environment(postgres_server, names, airflow_home=str(tmp / "airflow")),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "COHORTINTEL_TASK_RETRIES": "1",
        "COHORTINTEL_RETRY_DELAY_SECONDS": "0",
        "COHORTINTEL_OUTPUT_DIR": str(tmp / "output"),
        "COHORTINTEL_ALERT_EMAIL_TO": "oncall@example.com",
        "COHORTINTEL_ALERT_TIMEOUT_SECONDS": "5",
        # dag.test() cannot run a Dag with a deadline (see cohortintel.airflow_runner).
        "COHORTINTEL_RUN_DEADLINE_MINUTES": "0",
    }
    migrated = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert migrated.returncode == 0, migrated.stderr[-5000:]
    yield {
        "env": env,
        "dags": dags,
        "warehouse": warehouse,
        "airflow": postgres_server.database_dsn(names.airflow),
    }
    for name in (names.source, names.warehouse, names.airflow):
        drop_database(postgres_server, name)


@pytest.fixture
def listeners():
    smtp, http = start_smtp(), start_http()
    yield {"smtp": smtp, "http": http}
    smtp.stop()
    http.stop()


def alert_connections(smtp_port: int, http_port: int) -> dict[str, str]:
    """Return the settings and connections of all three channels, as Airflow reads them."""
    return {
        "COHORTINTEL_ALERT_SMTP_CONN_ID": "alert_smtp",
        "COHORTINTEL_ALERT_SLACK_CONN_ID": "alert_slack",
        "COHORTINTEL_ALERT_WEBHOOK_CONN_ID": "alert_webhook",
        "AIRFLOW_CONN_ALERT_SMTP": json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": smtp_port,
                "login": "alerts",
                "password": SMTP_PASSWORD,
            }
        ),
        "AIRFLOW_CONN_ALERT_SLACK": json.dumps(
            {
                "conn_type": "http",
                "host": f"http://127.0.0.1:{http_port}/slack",
                "password": SLACK_TOKEN,
            }
        ),
        "AIRFLOW_CONN_ALERT_WEBHOOK": json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "schema": "http",
                "port": http_port,
                "login": "alerts",
                "password": WEBHOOK_PASSWORD,
            }
        ),
    }


def run_dag(setup: dict, dag_id: str, extra_env: dict[str, str], *args: str) -> tuple[dict, str]:
    result = subprocess.run(
        [sys.executable, "-c", RUN_DAG, str(setup["dags"]), dag_id, *args],
        env={**setup["env"], **extra_env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), output


def webhook_bodies(listener) -> list[dict]:
    return [request.json() for request in listener.requests if request.path == "/"]


def slack_bodies(listener) -> list[dict]:
    return [request.json() for request in listener.requests if request.path.startswith("/slack")]


def assert_no_password(listeners: dict) -> None:
    for mail in listeners["smtp"].mails:
        assert SMTP_PASSWORD.encode() not in mail.raw
        assert WEBHOOK_PASSWORD.encode() not in mail.raw
    for request in listeners["http"].requests:
        assert SMTP_PASSWORD.encode() not in request.body
        assert WEBHOOK_PASSWORD.encode() not in request.body
        assert SLACK_TOKEN.encode() not in request.body


def test_retried_task_alerts_once(airflow_setup, listeners):
    smtp, http = listeners["smtp"], listeners["http"]
    run, _ = run_dag(airflow_setup, "retry_probe", alert_connections(smtp.port, http.port))

    # Two tries ran: the first went up for retry, the second failed for good.
    assert run["tasks"] == {"fail_every_try": ["failed", 2]}
    assert len(smtp.mails) == 1
    assert len(slack_bodies(http)) == 1
    assert len(webhook_bodies(http)) == 1

    body = webhook_bodies(http)[0]
    assert body["dag_id"] == "retry_probe"
    assert body["task_id"] == "fail_every_try"
    assert body["try_number"] == 2
    assert body["tries"] == 2
    assert body["error"] == "ValueError: probe failure on every try"
    assert "/dags/retry_probe/runs/" in body["log_url"]
    assert smtp.mails[0].message["Subject"] == "[cohortintel] FAILED retry_probe.fail_every_try"
    assert smtp.mails[0].auth_password == SMTP_PASSWORD
    assert "failed on try 2 of 2" in slack_bodies(http)[0]["text"]
    assert_no_password(listeners)


def test_task_level_notifier_alerts_its_task(airflow_setup, listeners):
    http = listeners["http"]
    connections = alert_connections(closed_port(), http.port)
    connections["COHORTINTEL_ALERT_SMTP_CONN_ID"] = ""
    run, _ = run_dag(airflow_setup, "task_level_probe", connections)

    assert run["tasks"] == {
        "fail_with_notifier": ["failed", 1],
        "fail_without_notifier": ["failed", 1],
    }
    assert [body["task_id"] for body in webhook_bodies(http)] == ["fail_with_notifier"]


def test_dead_listener_keeps_task_error(airflow_setup):
    dead_port = closed_port()
    connections = alert_connections(dead_port, dead_port)
    run, output = run_dag(airflow_setup, "retry_probe", connections)

    assert run["state"] == "failed"
    assert run["tasks"] == {"fail_every_try": ["failed", 2]}
    assert "ValueError: probe failure on every try" in output
    for channel in ("smtp (connection alert_smtp)", "webhook (connection alert_webhook)"):
        assert f"alert retry_probe.fail_every_try through {channel} failed" in output
    assert "Connection refused" in output
    assert SMTP_PASSWORD not in output
    assert WEBHOOK_PASSWORD not in output
    assert SLACK_TOKEN not in output


def test_data_quality_failure_alert(airflow_setup, listeners):
    smtp, http = listeners["smtp"], listeners["http"]
    # The run for July 2011 in London is requested at the start of August.
    run, _ = run_dag(
        airflow_setup,
        "cohort_monthly",
        alert_connections(smtp.port, http.port),
        "2011-08-01T00:00:00+01:00",
    )

    assert run["tasks"]["validate_transactions"] == ["failed", 1]
    assert run["tasks"]["load_transactions"][0] == "upstream_failed"
    # Only the failed task alerts; tasks that never ran send nothing.
    assert len(smtp.mails) == 1
    assert len(webhook_bodies(http)) == 1
    body = webhook_bodies(http)[0]
    assert body["task_id"] == "validate_transactions"
    assert body["month"] == "2011-07"
    assert body["data_interval"] == {
        "start": "2011-06-30T23:00:00+00:00",
        "end": "2011-07-31T23:00:00+00:00",
    }
    assert [rule["rule"] for rule in body["failed_rules"]] == ["quarantine_share_within_limit"]
    assert body["failed_rules"][0]["unexpected_count"] == 2
    assert body["failed_rules"][0]["element_count"] == 3
    assert body["validation_result"]["run_id"] == body["run_id"]
    assert body["quarantine_table"] == "quarantine.transactions"
    mail_text = smtp.mails[0].message.get_content()
    assert "- quarantine_share_within_limit: 2 unexpected of 3 rows" in mail_text
    assert f'ops.validation_result where run_id = "{body["run_id"]}"' in mail_text
    assert_no_password(listeners)


def test_warning_through_airflow_sent_once(airflow_setup, listeners):
    http = listeners["http"]
    connections = alert_connections(closed_port(), http.port)
    connections["COHORTINTEL_ALERT_SMTP_CONN_ID"] = ""
    run, _ = run_dag(airflow_setup, "warning_probe", connections)

    assert run["tasks"] == {"warn_twice": ["success", 1]}
    bodies = webhook_bodies(http)
    assert len(bodies) == 1
    assert bodies[0]["severity"] == "warning"
    assert bodies[0]["alert_key"] == "warning_probe:same_key"
    assert bodies[0]["details"] == {"cohort_month": "2011-03"}
    assert len(slack_bodies(http)) == 1


DEADLINE_CALLBACK = textwrap.dedent(
    """
    import asyncio, json, sys
    from cohortintel.airflow_alerts import notify_deadline_missed

    context = {
        "dag_run": {
            "dag_id": "cohort_monthly",
            "dag_run_id": "scheduled__2011-06-30T23:00:00+00:00",
            "data_interval_start": "2011-06-30T23:00:00Z",
            "queued_at": "2011-07-31T23:00:05Z",
            "state": "running",
        },
        "deadline": {"id": "1", "deadline_time": "2011-08-01T05:00:05Z"},
    }
    for _ in range(2):
        asyncio.run(notify_deadline_missed(context=context, minutes=360))
    """
)


def test_missed_deadline_warns_once(airflow_setup, listeners):
    http = listeners["http"]
    connections = alert_connections(closed_port(), http.port)
    connections["COHORTINTEL_ALERT_SMTP_CONN_ID"] = ""
    connections["COHORTINTEL_ALERT_SLACK_CONN_ID"] = ""
    result = subprocess.run(
        [sys.executable, "-c", DEADLINE_CALLBACK],
        env={**airflow_setup["env"], **connections},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]

    bodies = webhook_bodies(http)
    assert len(bodies) == 1
    assert bodies[0]["severity"] == "warning"
    assert bodies[0]["alert_key"] == "cohort_monthly.deadline:scheduled__2011-06-30T23:00:00+00:00"
    # The interval starts at midnight in London, so the month is July.
    assert "for 2011-07 has not finished 360 minutes after it was queued" in bodies[0]["summary"]
    assert bodies[0]["details"]["deadline"] == "2011-08-01T05:00:05Z"
    assert_no_password(listeners)


SOURCE_PASSWORD = "source-Pa55word-for-extract"
RETRY_DELAY_SECONDS = 2


def test_unreachable_source_retries_then_alerts(airflow_setup, listeners):
    http = listeners["http"]
    port = closed_port()
    connections = alert_connections(closed_port(), http.port)
    connections["COHORTINTEL_ALERT_SMTP_CONN_ID"] = ""
    connections["COHORTINTEL_ALERT_SLACK_CONN_ID"] = ""
    connections["COHORTINTEL_TASK_RETRIES"] = "2"
    connections["COHORTINTEL_RETRY_DELAY_SECONDS"] = str(RETRY_DELAY_SECONDS)
    connections["AIRFLOW_CONN_COHORTINTEL_SOURCE"] = json.dumps(
        {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": port,
            "login": "shop_reader",
            "password": SOURCE_PASSWORD,
            "schema": "shop",
        }
    )
    # The extract and the tasks before it only: copy_monthly_sales reads the same
    # source and would fail and alert on its own.
    run, output = run_dag(
        airflow_setup,
        "cohort_monthly",
        connections,
        "2011-08-01T00:00:00+01:00",
        "extract_transactions",
    )

    # Three tries: the first two went up for retry, the third failed for good.
    # dag.test() in Airflow 3.3 honours retries: it polls every second until
    # the retry delay of a task that is up for retry has passed.
    assert run["tasks"]["extract_transactions"] == ["failed", 3]
    assert run["tasks"]["migrate_warehouse"] == ["success", 1]
    attempts = fetch(
        airflow_setup["airflow"],
        "select try_number, state, start_date, end_date from task_instance_history"
        " where dag_id = 'cohort_monthly' and task_id = 'extract_transactions'"
        " and run_id = %s order by try_number",
        (run["run_id"],),
    )
    final = fetch(
        airflow_setup["airflow"],
        "select try_number, state, start_date, end_date from task_instance"
        " where dag_id = 'cohort_monthly' and task_id = 'extract_transactions' and run_id = %s",
        (run["run_id"],),
    )
    tries = attempts + final
    assert [number for number, _, _, _ in tries] == [1, 2, 3]
    assert final[0][1] == "failed"
    # Airflow's execution API logs the state each failed try was given.
    assert output.count("new_state=up_for_retry") == 2
    assert output.count("new_state=failed") == 1
    # Retry n waits at least COHORTINTEL_RETRY_DELAY_SECONDS * 2^(n-1) after try n ended.
    waits = [(tries[n + 1][2] - tries[n][3]).total_seconds() for n in range(len(tries) - 1)]
    assert waits[0] >= RETRY_DELAY_SECONDS
    assert waits[1] >= 2 * RETRY_DELAY_SECONDS
    assert waits[1] > waits[0]

    # Every try failed with the error that names the connection.
    named = f"at 127.0.0.1:{port} as user 'shop_reader' (connection 'cohortintel_source')"
    assert output.count(named) >= 3
    bodies = webhook_bodies(http)
    assert len(bodies) == 1
    assert len(http.requests) == 1
    body = bodies[0]
    assert body["task_id"] == "extract_transactions"
    assert body["try_number"] == 3
    assert body["tries"] == 3
    assert body["error"].startswith("ExtractError: Could not connect to the source database")
    assert named in body["error"]
    assert "Connection refused" in body["error"]
    assert SOURCE_PASSWORD.encode() not in http.requests[0].body
    assert SOURCE_PASSWORD not in output
