"""The results plugin inside a real Airflow API server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from cohortintel import db
from cohortintel.environment import DatabaseNames, airflow_environment
from cohortintel.postgres_server import drop_database, ensure_database
from tests.integration.test_results_api import insert_cells

pytestmark = [pytest.mark.postgres, pytest.mark.airflow]

PASSWORD = "analyst-password"
STARTUP_SECONDS = 180


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(base: str, server: subprocess.Popen, log_path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(
                f"airflow api-server exited with {server.returncode}:\n{log_path.read_text()[-5000:]}"
            )
        try:
            if httpx.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    pytest.fail(
        f"airflow api-server did not answer in {STARTUP_SECONDS} s:\n{log_path.read_text()[-5000:]}"
    )


@pytest.fixture(scope="module")
def api_server(postgres_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("results_plugin")
    names = DatabaseNames.with_prefix(f"cohortintel_test_plugin_{os.getpid()}")
    for name in (names.warehouse, names.airflow):
        ensure_database(postgres_server, name)
    warehouse = postgres_server.database_dsn(names.warehouse)
    db.migrate(warehouse)
    insert_cells(warehouse)

    port = free_port()
    passwords = tmp / "passwords.json"
    passwords.write_text(json.dumps({"analyst": PASSWORD}), encoding="utf-8")
    env = {
        **os.environ,
        **airflow_environment(postgres_server, names, airflow_home=str(tmp / "airflow")),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "analyst:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API_AUTH__JWT_SECRET": "results-plugin-test-secret",
        "AIRFLOW__API_AUTH__JWT_ISSUER": "cohortintel-test",
    }
    migrated = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert migrated.returncode == 0, migrated.stderr[-5000:]

    log_path = tmp / "api-server.log"
    with log_path.open("w") as log_file:
        server = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, server, log_path)
        token = httpx.post(
            f"{base}/auth/token", json={"username": "analyst", "password": PASSWORD}, timeout=10
        )
        assert token.status_code == 201, token.text
        yield {"base": base, "token": token.json()["access_token"], "log": log_path}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        for name in (names.warehouse, names.airflow):
            drop_database(postgres_server, name)


def test_api_answers_a_logged_in_user(api_server):
    headers = {"Authorization": f"Bearer {api_server['token']}"}
    response = httpx.get(f"{api_server['base']}/cohortintel/api/v1/retention", headers=headers)
    assert response.status_code == 200, response.text
    rates = {
        (row["cohort_month"], row["months_since_first_purchase"]): row["retention_rate"]
        for row in response.json()["rows"]
    }
    assert rates[("2011-01-01", 1)] == pytest.approx(0.30)


def test_api_refuses_a_request_without_login(api_server):
    response = httpx.get(f"{api_server['base']}/cohortintel/api/v1/health")
    assert response.status_code == 401
    page = httpx.get(f"{api_server['base']}/cohortintel/")
    assert page.status_code == 401


def test_page_served_under_the_plugin_prefix(api_server):
    headers = {"Authorization": f"Bearer {api_server['token']}"}
    response = httpx.get(f"{api_server['base']}/cohortintel/", headers=headers)
    assert response.status_code == 200
    assert "Cohort Intelligence results" in response.text
    assert "30%" in response.text


def test_plugin_registers_the_page_in_the_navigation(api_server):
    headers = {"Authorization": f"Bearer {api_server['token']}"}
    response = httpx.get(f"{api_server['base']}/api/v2/plugins", headers=headers)
    assert response.status_code == 200, response.text
    plugins = {plugin["name"]: plugin for plugin in response.json()["plugins"]}
    plugin = plugins["cohortintel_results"]
    assert [view["href"] for view in plugin["external_views"]] == ["cohortintel/"]
    assert [app["url_prefix"] for app in plugin["fastapi_apps"]] == ["/cohortintel"]
