"""Static checks of docker-compose.yaml and docker/Dockerfile.

The tests parse the files and need no Docker. yaml.safe_load resolves the
``<<:`` merge keys, so each service is checked with the shared settings applied.
"""

from __future__ import annotations

import pathlib
import re
from typing import Any

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
POSTGRES_INIT_SQL = ROOT / "docker" / "postgres-init.sql"

# Service name and the Airflow subcommand it runs.
AIRFLOW_SERVICES = {
    "airflow-init": "db migrate",
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
}
LONG_RUNNING_SERVICES = sorted(set(AIRFLOW_SERVICES) - {"airflow-init"})
REQUIRED_MOUNTS = {
    "./dags": "/opt/airflow/dags",
    "./plugins": "/opt/airflow/plugins",
    "./include": "/opt/airflow/include",
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|_KEY$", re.IGNORECASE)
# The whole value is one ${NAME}, ${NAME:-default} or ${NAME:?message} expression.
VARIABLE_ONLY = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?+])[^}]*)?\}$")
# The password part of scheme://user:password@host in a URI.
URI_PASSWORD = re.compile(r"://[^:/@\s]+:(?P<password>[^@\s]*)@")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def command_text(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    if isinstance(command, list):
        return " ".join(str(part) for part in command)
    return str(command)


def environment(service: dict[str, Any]) -> dict[str, str]:
    """Return the service environment as a mapping, whether written as a list or a mapping."""
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Return the bind mounts of a service as a mapping from host path to container path."""
    result = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            result[volume["source"]] = volume["target"]
        else:
            source, target = volume.split(":")[:2]
            result[source] = target
    return result


def test_expected_services_exist(services: dict[str, Any]) -> None:
    for name in ["postgres", *AIRFLOW_SERVICES]:
        assert name in services, f"service {name} is missing from docker-compose.yaml"


def test_postgres_service(services: dict[str, Any]) -> None:
    postgres = services["postgres"]
    init_mounts = {
        source: target
        for source, target in mounts(postgres).items()
        if target.startswith("/docker-entrypoint-initdb.d/")
    }
    healthcheck = " ".join(postgres["healthcheck"]["test"])

    assert postgres["image"] == "postgres:15", "postgres: image is not postgres:15"
    assert environment(postgres)["POSTGRES_DB"] == "airflow", "postgres: POSTGRES_DB is not airflow"
    assert "./docker/postgres-init.sql" in init_mounts, "postgres: init SQL script is not mounted"
    assert "pg_isready" in healthcheck, "postgres: healthcheck does not run pg_isready"
    assert "postgres-data" in mounts(postgres), "postgres: data is not in the named volume"


def test_postgres_init_creates_databases() -> None:
    sql = POSTGRES_INIT_SQL.read_text()

    for database in ("cohortintel_source", "cohortintel_warehouse"):
        assert re.search(rf"CREATE DATABASE {database}\b", sql), (
            f"init SQL does not create {database}"
        )


def test_named_volumes_declared(compose: dict[str, Any], services: dict[str, Any]) -> None:
    declared = compose.get("volumes") or {}

    for name, service in services.items():
        for source in mounts(service):
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} is not declared"


@pytest.mark.parametrize("name", sorted(AIRFLOW_SERVICES))
def test_airflow_service_uses_common_image(compose: dict[str, Any], name: str) -> None:
    common = compose["x-airflow-common"]
    service = compose["services"][name]

    assert service.get("build") == common["build"], f"{name}: build differs from x-airflow-common"
    assert service.get("image") == common["image"], f"{name}: image differs from x-airflow-common"
    assert common["build"]["dockerfile"] == "docker/Dockerfile", (
        "x-airflow-common: build does not use docker/Dockerfile"
    )


@pytest.mark.parametrize(("name", "subcommand"), sorted(AIRFLOW_SERVICES.items()))
def test_airflow_service_runs_its_command(
    services: dict[str, Any], name: str, subcommand: str
) -> None:
    command = command_text(services[name])

    assert re.fullmatch(rf"(airflow )?{subcommand}", command), (
        f"{name}: command {command!r} is not 'airflow {subcommand}'"
    )


def test_apiserver_publishes_on_localhost(services: dict[str, Any]) -> None:
    ports = [str(port) for port in services["airflow-apiserver"].get("ports", [])]

    assert ports == ["127.0.0.1:8080:8080"], f"airflow-apiserver: ports {ports} are not local only"


def test_only_apiserver_publishes_ports(services: dict[str, Any]) -> None:
    for name, service in services.items():
        if name != "airflow-apiserver":
            assert not service.get("ports"), f"{name}: publishes ports {service['ports']}"


@pytest.mark.parametrize("name", sorted(AIRFLOW_SERVICES))
def test_airflow_service_mounts_code(services: dict[str, Any], name: str) -> None:
    service_mounts = mounts(services[name])

    for source, target in REQUIRED_MOUNTS.items():
        assert service_mounts.get(source) == target, f"{name}: {source} is not mounted at {target}"


@pytest.mark.parametrize("name", sorted(AIRFLOW_SERVICES))
def test_airflow_service_environment(services: dict[str, Any], name: str) -> None:
    env = environment(services[name])
    executor = env.get("AIRFLOW__CORE__EXECUTOR", "")

    assert executor, f"{name}: AIRFLOW__CORE__EXECUTOR is not set"
    assert executor != "SequentialExecutor", f"{name}: executor is SequentialExecutor"
    assert executor == "LocalExecutor", f"{name}: executor is {executor}, not LocalExecutor"
    assert "@postgres:5432/airflow" in env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""), (
        f"{name}: metadata database is not the airflow database on the postgres service"
    )
    assert env.get("AIRFLOW__CORE__LOAD_EXAMPLES") == "false", f"{name}: example DAGs are loaded"
    assert env.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL") == (
        "http://airflow-apiserver:8080/execution/"
    ), f"{name}: execution API URL does not point at airflow-apiserver"
    assert env.get("PYTHONPATH") == "/opt/airflow/include", f"{name}: include/ is not on PYTHONPATH"
    assert env.get("COHORTINTEL_BUSINESS_TIMEZONE") == "Europe/London", (
        f"{name}: business time zone is not Europe/London"
    )
    for connection, database in (
        ("AIRFLOW_CONN_COHORTINTEL_SOURCE", "cohortintel_source"),
        ("AIRFLOW_CONN_COHORTINTEL_WAREHOUSE", "cohortintel_warehouse"),
    ):
        uri = env.get(connection, "")
        assert uri.startswith("postgresql://"), f"{name}: {connection} is not a postgresql URI"
        assert uri.endswith(f"@postgres:5432/{database}"), (
            f"{name}: {connection} does not point at {database} on the postgres service"
        )


def test_auth_manager_class_exists(services: dict[str, Any]) -> None:
    class_path = environment(services["airflow-apiserver"])["AIRFLOW__CORE__AUTH_MANAGER"]
    module_name, _, class_name = class_path.rpartition(".")
    module = pytest.importorskip(module_name, reason="Airflow is not installed")

    assert class_name == "SimpleAuthManager", f"auth manager {class_path} is not SimpleAuthManager"
    assert hasattr(module, class_name), f"auth manager class {class_path} does not exist"


def test_shared_signing_keys(services: dict[str, Any]) -> None:
    # Each container generates its own random keys unless these are set, and the
    # API server then rejects the task tokens that the scheduler signs.
    keys = (
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",
        "AIRFLOW__CORE__FERNET_KEY",
    )
    values = {name: environment(services[name]) for name in AIRFLOW_SERVICES}

    for key in keys:
        distinct = {env.get(key) for env in values.values()}
        assert None not in distinct, f"{key} is missing in at least one Airflow service"
        assert len(distinct) == 1, f"{key} differs between Airflow services"


def test_airflow_init_depends_on_postgres(services: dict[str, Any]) -> None:
    depends_on = services["airflow-init"].get("depends_on", {})

    assert depends_on.get("postgres", {}).get("condition") == "service_healthy", (
        "airflow-init: does not wait for postgres to be healthy"
    )
    assert "airflow-init" not in depends_on, "airflow-init: depends on itself"


@pytest.mark.parametrize("name", LONG_RUNNING_SERVICES)
def test_airflow_service_dependencies(services: dict[str, Any], name: str) -> None:
    depends_on = services[name].get("depends_on", {})

    assert isinstance(depends_on, dict), f"{name}: depends_on has no conditions"
    assert depends_on.get("postgres", {}).get("condition") == "service_healthy", (
        f"{name}: does not wait for postgres to be healthy"
    )
    assert depends_on.get("airflow-init", {}).get("condition") == (
        "service_completed_successfully"
    ), f"{name}: does not wait for airflow-init to complete"


def test_dockerfile_base_image() -> None:
    from_lines = [
        line.split()
        for line in DOCKERFILE.read_text().splitlines()
        if line.strip().upper().startswith("FROM ")
    ]

    assert from_lines, "docker/Dockerfile has no FROM line"
    assert from_lines[0][1].startswith("apache/airflow:3.3.2"), (
        f"docker/Dockerfile base image {from_lines[0][1]} is not apache/airflow:3.3.2"
    )


def test_no_literal_passwords(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key) and value:
                assert VARIABLE_ONLY.match(value), (
                    f"{name}: {key} is set literally, not via ${{...}}"
                )

            for match in URI_PASSWORD.finditer(value):
                password = match.group("password")
                assert VARIABLE_ONLY.match(password), (
                    f"{name}: {key} embeds a literal password, not a ${{...}} variable"
                )
