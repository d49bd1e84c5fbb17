"""The environment that points Airflow and the DAG at one PostgreSQL server.

The demo, the tests and ``make airflow-ui`` all run Airflow with these
variables, so they see the same DAG folder, connections and metadata database.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from cohortintel.config import PROJECT_ROOT, project_path_for_prefix
from cohortintel.db import sqlalchemy_url
from cohortintel.postgres_server import PostgresServer


@dataclass(frozen=True)
class DatabaseNames:
    """Names of the three databases the project uses on one server."""

    source: str = "cohortintel_source"
    warehouse: str = "cohortintel_warehouse"
    airflow: str = "cohortintel_airflow"

    @classmethod
    def with_prefix(cls, prefix: str) -> DatabaseNames:
        return cls(
            source=f"{prefix}_source", warehouse=f"{prefix}_warehouse", airflow=f"{prefix}_airflow"
        )


def _connection_json(server: PostgresServer, dbname: str) -> str:
    parts = server.database_parts(dbname)
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": parts["host"],
            "port": int(parts["port"]) if parts["port"] else None,
            "login": parts["user"],
            "password": parts["password"],
            "schema": dbname,
        }
    )


def airflow_environment(
    server: PostgresServer,
    names: DatabaseNames,
    airflow_home: str | None = None,
) -> dict[str, str]:
    """Return the variables to add to ``os.environ`` before Airflow is imported."""
    home = airflow_home or str(project_path_for_prefix(".airflow"))
    return {
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(server.database_dsn(names.airflow)),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": "8080",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://127.0.0.1:8080/execution/",
        "AIRFLOW_CONN_COHORTINTEL_SOURCE": _connection_json(server, names.source),
        "AIRFLOW_CONN_COHORTINTEL_WAREHOUSE": _connection_json(server, names.warehouse),
        "GX_ANALYTICS_ENABLED": "false",
        "PYTHONPATH": os.pathsep.join(
            part for part in (str(PROJECT_ROOT / "include"), os.environ.get("PYTHONPATH")) if part
        ),
    }
