"""Airflow plugin: the read-only results API and the results page.

The Airflow API server mounts the application at /cohortintel and the UI shows
the page as "Cohort results" in its navigation. A request needs an Airflow
login that may read the cohort_monthly DAG, the same permission as its runs and
logs. Nothing is read from the database at import time.
"""

from __future__ import annotations

from airflow.api_fastapi.core_api.security import requires_access_dag
from airflow.plugins_manager import AirflowPlugin

from cohortintel.api import ApiSettings, airflow_dsn_provider, create_app
from cohortintel.config import Settings

DAG_ID = "cohort_monthly"
URL_PREFIX = "/cohortintel"

_settings = ApiSettings.from_env()
_conn_id = _settings.conn_id or Settings.from_env().warehouse_conn_id

results_app = create_app(
    airflow_dsn_provider(_conn_id),
    source=f"Airflow connection {_conn_id!r}",
    statement_timeout_ms=_settings.statement_timeout_ms,
    dependencies=[requires_access_dag("GET", param_dag_id=DAG_ID)],
)


class CohortIntelResultsPlugin(AirflowPlugin):
    name = "cohortintel_results"
    fastapi_apps = [{"app": results_app, "url_prefix": URL_PREFIX, "name": "Cohort Intelligence"}]
    external_views = [
        {
            "name": "Cohort results",
            # Relative to the UI's base URL, so it works behind a proxy path too.
            "href": "cohortintel/",
            "destination": "nav",
            "category": "browse",
            "url_route": "cohort-results",
        }
    ]
