"""Read-only HTTP API and results page over the warehouse marts.

``create_app`` builds a FastAPI application that the Airflow plugin in
plugins/ mounts inside the Airflow API server (under ``/cohortintel``), so the
results are served next to the DAG that produces them. Every request reads in
a read-only transaction with a statement timeout; nothing here can write.

The application only reads the ``marts`` schema, which the ``cohortintel_reader``
role may read, so it can run under that role (see ``COHORTINTEL_API_CONN_ID``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extras
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel

from cohortintel import db
from cohortintel.config import ConfigError
from cohortintel.months import parse_month

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
ALL_CUSTOMERS = ("all", "All customers")
API_VERSION = "1"


@dataclass(frozen=True)
class ApiSettings:
    """Settings of the results API, read from ``COHORTINTEL_API_*`` variables."""

    # Airflow connection the API reads with. A login in the cohortintel_reader role
    # is enough. Empty means the warehouse connection (COHORTINTEL_WAREHOUSE_CONN_ID).
    conn_id: str = ""
    statement_timeout_ms: int = 5000

    @classmethod
    def from_env(cls) -> ApiSettings:
        raw_timeout = os.environ.get("COHORTINTEL_API_STATEMENT_TIMEOUT_MS", "5000").strip()
        try:
            timeout = int(raw_timeout)
        except ValueError:
            timeout = -1
        if timeout < 1:
            raise ConfigError(
                f"COHORTINTEL_API_STATEMENT_TIMEOUT_MS is {raw_timeout!r}; set it to a whole "
                f"number of milliseconds of 1 or more, such as 5000."
            )
        return cls(
            conn_id=os.environ.get("COHORTINTEL_API_CONN_ID", "").strip(),
            statement_timeout_ms=timeout,
        )


class DatabaseUnavailable(RuntimeError):
    """Raised when the warehouse is unreachable or rejects the query."""


class Table(BaseModel):
    """Rows of one result, with the as-of month they belong to where there is one."""

    as_of_month: dt.date | None = None
    row_count: int
    rows: list[dict[str, Any]]


class Health(BaseModel):
    status: str
    latest: dict[str, dt.date | None]


def _plain(value: Any) -> Any:
    # JSON has no decimal type, and the marts' numeric columns are rates and money.
    return float(value) if isinstance(value, Decimal) else value


class Reader:
    """Runner of the queries in include/sql/api/, each in a read-only transaction."""

    def __init__(self, dsn: Callable[[], str], statement_timeout_ms: int, source: str):
        self._dsn = dsn
        self._timeout = statement_timeout_ms
        # Errors name this instead of the DSN, because the DSN may contain a password.
        self._source = source

    def rows(self, query_file: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        try:
            conn = db.connect(self._dsn(), application_name="cohortintel-api")
        except psycopg2.OperationalError as exc:
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise DatabaseUnavailable(
                f"Cannot connect to the warehouse through {self._source}: {first_line}"
            ) from None
        try:
            conn.set_session(readonly=True)
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                cur.execute("set local statement_timeout = %s", (self._timeout,))
                cur.execute(db.read_sql(f"api/{query_file}"), params or {})
                result = [{key: _plain(value) for key, value in row.items()} for row in cur]
            conn.rollback()
            return result
        except psycopg2.errors.QueryCanceled:
            raise DatabaseUnavailable(
                f"The query {query_file} ran longer than {self._timeout} ms and was cancelled; "
                f"raise COHORTINTEL_API_STATEMENT_TIMEOUT_MS or narrow the request."
            ) from None
        except psycopg2.errors.UndefinedTable as exc:
            raise DatabaseUnavailable(
                f"The warehouse behind {self._source} has no result tables yet "
                f"({str(exc).strip().splitlines()[0]}); run the cohort_monthly DAG once to "
                f"create them."
            ) from None
        except psycopg2.errors.InsufficientPrivilege as exc:
            raise DatabaseUnavailable(
                f"The login of {self._source} may not read the marts "
                f"({str(exc).strip().splitlines()[0]}); grant it the cohortintel_reader role."
            ) from None
        finally:
            conn.close()


def _month_param(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return parse_month(value)
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=f"{name}: {exc}") from None


def create_app(
    dsn: Callable[[], str],
    *,
    source: str = "the warehouse connection",
    statement_timeout_ms: int = 5000,
    dependencies: Sequence[Any] = (),
) -> FastAPI:
    """Build the results application.

    Args:
        dsn: returns the libpq connection string to read with; called per request,
            so a changed Airflow connection takes effect without a restart.
        source: how errors name the connection, such as "Airflow connection
            cohortintel_warehouse"; never the DSN itself.
        statement_timeout_ms: each query is cancelled after this long.
        dependencies: FastAPI dependencies run before every route, such as
            Airflow's permission check.
    """
    reader = Reader(dsn, statement_timeout_ms, source)
    templates = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(["html"])
    )
    app = FastAPI(
        title="Cohort Intelligence results",
        version=API_VERSION,
        description=(
            "Read-only access to the cohort retention, retention projection, at-risk "
            "cohorts and sales forecasts that the cohort_monthly DAG writes to the "
            "warehouse marts. Months are written YYYY-MM."
        ),
        dependencies=[Depends(dependency) for dependency in dependencies],
    )

    @app.exception_handler(DatabaseUnavailable)
    def _unavailable(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        log.warning("Results API request %s failed: %s", request.url.path, exc)
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    def latest() -> dict[str, dt.date | None]:
        return reader.rows("latest_as_of.sql")[0]

    def as_of_or_latest(value: str | None, table: str) -> dt.date | None:
        month = _month_param(value, "as_of_month")
        return month if month is not None else latest()[table]

    @app.get("/api/v1/health", response_model=Health, summary="Whether the warehouse answers")
    def health() -> Health:
        return Health(status="ok", latest=latest())

    @app.get("/api/v1/segments", response_model=Table, summary="Segments with cohorts")
    def segments() -> Table:
        rows = reader.rows("segments.sql")
        return Table(row_count=len(rows), rows=rows)

    @app.get(
        "/api/v1/retention",
        response_model=Table,
        summary="Observed retention cells of one segment",
    )
    def retention(
        segment_type: str = Query(ALL_CUSTOMERS[0], max_length=100),
        segment: str = Query(ALL_CUSTOMERS[1], max_length=200),
    ) -> Table:
        params = {"segment_type": segment_type, "segment": segment}
        rows = reader.rows("retention.sql", params)
        if not rows:
            _no_segment(reader, segment_type, segment)
        return Table(row_count=len(rows), rows=rows)

    @app.get(
        "/api/v1/retention/projection",
        response_model=Table,
        summary="Observed and projected retention of one segment, with 80% and 95% bands",
    )
    def projection(
        as_of_month: str | None = Query(None, description="YYYY-MM; the newest when left out"),
        segment_type: str = Query(ALL_CUSTOMERS[0], max_length=100),
        segment: str = Query(ALL_CUSTOMERS[1], max_length=200),
    ) -> Table:
        month = as_of_or_latest(as_of_month, "retention_projection")
        params = {"as_of_month": month, "segment_type": segment_type, "segment": segment}
        rows = reader.rows("projection.sql", params) if month else []
        return Table(as_of_month=month, row_count=len(rows), rows=rows)

    @app.get(
        "/api/v1/retention/at-risk",
        response_model=Table,
        summary="Cohorts flagged at risk, the largest shortfall first",
    )
    def at_risk(
        as_of_month: str | None = Query(None, description="YYYY-MM; the newest when left out"),
    ) -> Table:
        month = as_of_or_latest(as_of_month, "retention_at_risk")
        rows = reader.rows("at_risk.sql", {"as_of_month": month}) if month else []
        return Table(as_of_month=month, row_count=len(rows), rows=rows)

    @app.get(
        "/api/v1/forecasts/sales",
        response_model=Table,
        summary="Newest model of each sales series built from the transactions",
    )
    def sales_models(as_of_month: str | None = Query(None)) -> Table:
        month = _month_param(as_of_month, "as_of_month")
        rows = reader.rows("sales_models.sql", {"as_of_month": month})
        return Table(as_of_month=month, row_count=len(rows), rows=rows)

    @app.get(
        "/api/v1/forecasts/sales/{series_id}",
        response_model=Table,
        summary="One transaction series' forecast with actuals where they arrived",
    )
    def sales_forecast(series_id: str, as_of_month: str | None = Query(None)) -> Table:
        month = _series_month(reader, "sales_models.sql", series_id, as_of_month)
        rows = reader.rows("sales_forecast.sql", {"series_id": series_id, "as_of_month": month})
        return Table(as_of_month=month, row_count=len(rows), rows=rows)

    @app.get(
        "/api/v1/forecasts/monthly",
        response_model=Table,
        summary="Newest model of each external monthly sales series",
    )
    def monthly_models(as_of_month: str | None = Query(None)) -> Table:
        month = _month_param(as_of_month, "as_of_month")
        rows = reader.rows("monthly_models.sql", {"as_of_month": month})
        return Table(as_of_month=month, row_count=len(rows), rows=rows)

    @app.get(
        "/api/v1/forecasts/monthly/{series_id}",
        response_model=Table,
        summary="One monthly series' forecast with actuals where they arrived",
    )
    def monthly_forecast(series_id: str, as_of_month: str | None = Query(None)) -> Table:
        month = _series_month(reader, "monthly_models.sql", series_id, as_of_month)
        rows = reader.rows("monthly_forecast.sql", {"series_id": series_id, "as_of_month": month})
        return Table(as_of_month=month, row_count=len(rows), rows=rows)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page(
        segment: str = Query(
            f"{ALL_CUSTOMERS[0]}/{ALL_CUSTOMERS[1]}",
            max_length=300,
            description="segment_type/segment, as in country/France",
        ),
    ) -> HTMLResponse:
        segment_type, _, segment = segment.partition("/")
        newest = latest()
        cells = reader.rows("retention.sql", {"segment_type": segment_type, "segment": segment})
        risk_month = newest["retention_at_risk"]
        context = {
            "segment_type": segment_type,
            "segment": segment,
            "segments": reader.rows("segments.sql"),
            "latest": newest,
            "triangle": retention_triangle(cells),
            "at_risk": reader.rows("at_risk.sql", {"as_of_month": risk_month})
            if risk_month
            else [],
            "at_risk_month": risk_month,
            "sales_models": reader.rows("sales_models.sql", {"as_of_month": None}),
            "monthly_models": reader.rows("monthly_models.sql", {"as_of_month": None}),
        }
        return HTMLResponse(templates.get_template("results.html").render(**context))

    return app


def _no_segment(reader: Reader, segment_type: str, segment: str) -> None:
    known = [(row["segment_type"], row["segment"]) for row in reader.rows("segments.sql")]
    if known and (segment_type, segment) not in known:
        examples = ", ".join(f"{kind}/{name}" for kind, name in known[:5])
        raise HTTPException(
            status_code=404,
            detail=(
                f"No cohorts in segment_type={segment_type!r}, segment={segment!r}; "
                f"/api/v1/segments lists the segments, such as {examples}."
            ),
        )


def _series_month(
    reader: Reader, models_file: str, series_id: str, as_of_month: str | None
) -> dt.date:
    month = _month_param(as_of_month, "as_of_month")
    models = [row for row in reader.rows(models_file, {"as_of_month": month})]
    known = [row["series_id"] for row in models]
    if series_id not in known:
        when = f" as of {month:%Y-%m}" if month else ""
        listed = ", ".join(known[:10]) or "none"
        raise HTTPException(
            status_code=404,
            detail=f"No forecast of series {series_id!r}{when}; the series with one are: {listed}.",
        )
    return next(row["as_of_month"] for row in models if row["series_id"] == series_id)


@dataclass(frozen=True)
class TriangleRow:
    cohort_month: dt.date
    cohort_size: int
    rates: list[float | None]


def retention_triangle(cells: list[dict[str, Any]]) -> list[TriangleRow]:
    """Arrange retention cells as one row per cohort and one column per month since.

    A month the cohort has not lived is None, never 0.
    """
    width = 1 + max((cell["months_since_first_purchase"] for cell in cells), default=-1)
    by_cohort: dict[dt.date, TriangleRow] = {}
    for cell in cells:
        row = by_cohort.get(cell["cohort_month"])
        if row is None:
            row = TriangleRow(cell["cohort_month"], cell["cohort_size"], [None] * width)
            by_cohort[cell["cohort_month"]] = row
        row.rates[cell["months_since_first_purchase"]] = cell["retention_rate"]
    return [by_cohort[month] for month in sorted(by_cohort)]


def airflow_dsn_provider(conn_id: str) -> Callable[[], str]:
    """Return a function that resolves an Airflow connection to a DSN at call time."""

    def resolve() -> str:
        from airflow.sdk import BaseHook

        try:
            conn = BaseHook.get_connection(conn_id)
        except Exception as exc:
            raise DatabaseUnavailable(
                f"Airflow connection {conn_id!r} is not defined ({type(exc).__name__}); "
                f"define it (AIRFLOW_CONN_{conn_id.upper()}) or set COHORTINTEL_API_CONN_ID."
            ) from None
        return db.dsn_from_parts(conn.host, conn.port, conn.login, conn.password, conn.schema)

    return resolve
