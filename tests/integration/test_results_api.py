"""The read-only results API against a real warehouse, with hand-computed values."""

from __future__ import annotations

import datetime as dt
import socket

import psycopg2
import psycopg2.extensions
import pytest
from fastapi.testclient import TestClient

from cohortintel import db
from cohortintel.api import create_app
from tests.integration.helpers import set_month_status

pytestmark = pytest.mark.postgres

# (segment_type, segment, cohort, months since, cohort size, active, unbounded active, revenue)
CELLS = [
    ("all", "All customers", "2011-01-01", 0, 200, 200, 200, 1000),
    ("all", "All customers", "2011-01-01", 1, 200, 60, 120, 300),
    ("all", "All customers", "2011-01-01", 2, 200, 50, 100, 250),
    ("all", "All customers", "2011-02-01", 0, 80, 80, 80, 400),
    ("all", "All customers", "2011-02-01", 1, 80, 20, 30, 90),
    ("country", "France", "2011-01-01", 0, 4, 4, 4, 40),
    ("country", "<b>Atlantis</b>", "2011-02-01", 0, 2, 2, 2, 10),
]


def insert_cells(dsn: str) -> None:
    with db.transaction(dsn) as cur:
        for kind, segment, cohort, since, size, active, unbounded, revenue in CELLS:
            cohort_month = dt.date.fromisoformat(cohort)
            activity = dt.date(cohort_month.year, cohort_month.month + since, 1)
            cur.execute(
                "insert into marts.cohort_cell values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (kind, segment, cohort_month, since, activity, size, active, unbounded, revenue),
            )
    set_month_status(dsn, {"2011-01": True, "2011-02": True, "2011-03": False})


def insert_monthly_forecast(dsn: str) -> None:
    """A model as of 2011-02 forecasting March and April; March's actual has arrived."""
    with db.transaction(dsn) as cur:
        cur.execute(
            "insert into marts.sales_monthly (series_id, period_start, value, is_filled,"
            " copied_by_run_id) values ('shop', '2011-02-01', 100, false, 'test'),"
            " ('shop', '2011-03-01', 130, false, 'test')"
        )
        cur.execute(
            "insert into marts.monthly_forecast_model (series_id, as_of_month, status,"
            " model_kind, model_spec, selection, n_obs, run_id, data_interval_start,"
            " data_interval_end, fitted_at, champion_mape, seasonal_naive_mape)"
            " values ('shop', '2011-02-01', 'forecast', 'naive', 'naive', 'none', 2, 'run-1',"
            " '2011-02-01', '2011-03-01', now(), 12.5, 20.0)"
        )
        cur.execute(
            "insert into marts.monthly_sales_forecast values"
            " ('shop', '2011-02-01', '2011-03-01', 1, 100, 80, 120, 70, 130),"
            " ('shop', '2011-02-01', '2011-04-01', 2, 100, 75, 125, 60, 140)"
        )


@pytest.fixture
def client(warehouse_dsn):
    insert_cells(warehouse_dsn)
    insert_monthly_forecast(warehouse_dsn)
    return TestClient(create_app(lambda: warehouse_dsn, source="Airflow connection 'wh'"))


def test_retention_rates_match_hand_computation(client):
    response = client.get("/api/v1/retention")
    assert response.status_code == 200
    rows = {
        (row["cohort_month"], row["months_since_first_purchase"]): row
        for row in response.json()["rows"]
    }
    assert len(rows) == 5
    # 60 of 200 bought in the second month; 120 of 200 bought then or later.
    assert rows[("2011-01-01", 1)]["retention_rate"] == pytest.approx(0.30)
    assert rows[("2011-01-01", 1)]["unbounded_retention_rate"] == pytest.approx(0.60)
    assert rows[("2011-02-01", 1)]["retention_rate"] == pytest.approx(0.25)
    # Revenue retention: 250 against the first month's 1000.
    assert rows[("2011-01-01", 2)]["net_revenue_retention"] == pytest.approx(0.25)
    assert rows[("2011-02-01", 1)]["is_complete"] is False
    assert rows[("2011-01-01", 1)]["is_complete"] is True


def test_segment_filter_and_list(client):
    segments = client.get("/api/v1/segments").json()["rows"]
    assert [(row["segment_type"], row["segment"], row["customers"]) for row in segments] == [
        ("all", "All customers", 280),
        ("country", "France", 4),
        ("country", "<b>Atlantis</b>", 2),
    ]
    france = client.get(
        "/api/v1/retention", params={"segment_type": "country", "segment": "France"}
    )
    assert [row["cohort_size"] for row in france.json()["rows"]] == [4]


def test_unknown_segment_names_the_known_ones(client):
    response = client.get("/api/v1/retention", params={"segment": "Narnia"})
    assert response.status_code == 404
    assert "'Narnia'" in response.json()["detail"]
    assert "all/All customers" in response.json()["detail"]


@pytest.mark.parametrize("month", ["2011-13", "2011-1", "last month", "2011-02-15"])
def test_invalid_month_names_value_and_format(client, month):
    response = client.get("/api/v1/retention/projection", params={"as_of_month": month})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert repr(month) in detail
    assert "as_of_month" in detail


def test_monthly_forecast_joins_arrived_actuals(client):
    models = client.get("/api/v1/forecasts/monthly").json()
    assert [
        (row["series_id"], row["model_spec"], row["champion_mape"]) for row in models["rows"]
    ] == [("shop", "naive", 12.5)]
    forecast = client.get("/api/v1/forecasts/monthly/shop").json()
    assert forecast["as_of_month"] == "2011-02-01"
    assert [(row["period_start"], row["forecast"], row["actual"]) for row in forecast["rows"]] == [
        ("2011-03-01", 100.0, 130.0),
        ("2011-04-01", 100.0, None),
    ]


def insert_projection(dsn: str, as_of: dt.date, rates: dict[int, float]) -> None:
    """Cells of the January cohort as of ``as_of``: observed up to it, projected after."""
    with db.transaction(dsn) as cur:
        for since, rate in rates.items():
            activity = dt.date(2011, 1 + since, 1)
            projected = activity > as_of
            band = (rate - 0.05, rate + 0.05) if projected else (None, None)
            cur.execute(
                "insert into marts.retention_projection (as_of_month, segment_type, segment,"
                " cohort_month, months_since_first_purchase, activity_month, is_projected,"
                " cohort_size, retention_rate, retention_rate_lower_80, retention_rate_upper_80,"
                " retention_rate_lower_95, retention_rate_upper_95, unbounded_retention_rate,"
                " unbounded_lower_80, unbounded_upper_80, unbounded_lower_95, unbounded_upper_95,"
                " model_name, model_parameters, run_id)"
                " values (%s, 'all', 'All customers', '2011-01-01', %s, %s, %s, 200, %s, %s, %s,"
                " %s, %s, 0.6, %s, %s, %s, %s, 'test_model', '{}', 'run-1')",
                (as_of, since, activity, projected, rate, *band, *band, *band, *band),
            )


def insert_at_risk(dsn: str, as_of: dt.date) -> None:
    with db.transaction(dsn) as cur:
        cur.execute(
            "insert into marts.retention_at_risk (as_of_month, segment_type, segment, cohort_month,"
            " rule, months_since_first_purchase, activity_month, cohort_size, observed_rate,"
            " expected_rate, band_lower, band_upper, shortfall, reference_cohorts, run_id)"
            " values (%s, 'all', 'All customers', '2011-01-01', 'below_older_cohorts', 1,"
            " '2011-02-01', 200, 0.30, 0.40, 0.35, 0.45, 0.05, 3, 'run-1')",
            (as_of,),
        )


def test_projection_and_at_risk_default_to_newest_month(client, warehouse_dsn):
    insert_projection(warehouse_dsn, dt.date(2011, 2, 1), {1: 0.30, 2: 0.20})
    insert_projection(warehouse_dsn, dt.date(2011, 1, 1), {1: 0.35, 2: 0.10})
    insert_at_risk(warehouse_dsn, dt.date(2011, 2, 1))
    newest = client.get("/api/v1/retention/projection").json()
    assert newest["as_of_month"] == "2011-02-01"
    cells = [
        (
            row["months_since_first_purchase"],
            row["is_projected"],
            row["retention_rate"],
            row["retention_rate_lower_80"],
        )
        for row in newest["rows"]
    ]
    assert cells == [(1, False, 0.30, None), (2, True, 0.20, pytest.approx(0.15))]
    older = client.get("/api/v1/retention/projection", params={"as_of_month": "2011-01"}).json()
    assert [(row["is_projected"], row["retention_rate"]) for row in older["rows"]] == [
        (True, 0.35),
        (True, 0.10),
    ]
    risk = client.get("/api/v1/retention/at-risk").json()
    assert risk["as_of_month"] == "2011-02-01"
    assert [(row["rule"], row["shortfall"]) for row in risk["rows"]] == [
        ("below_older_cohorts", pytest.approx(0.05))
    ]
    page = client.get("/").text
    assert "below_older_cohorts" in page
    assert "5.0 points" in page


def test_unknown_series_lists_the_series(client):
    response = client.get("/api/v1/forecasts/monthly/nope")
    assert response.status_code == 404
    assert "'nope'" in response.json()["detail"]
    assert "shop" in response.json()["detail"]
    response = client.get("/api/v1/forecasts/monthly/shop", params={"as_of_month": "2010-01"})
    assert response.status_code == 404
    assert "as of 2010-01" in response.json()["detail"]


def test_empty_results_are_empty_not_errors(client):
    for path in (
        "/api/v1/retention/projection",
        "/api/v1/retention/at-risk",
        "/api/v1/forecasts/sales",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.json()["row_count"] == 0


def test_page_shows_triangle_and_escapes_names(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.text
    assert "2011-01" in page
    assert "30%" in page
    assert "25%" in page
    # The February cohort has not lived its third month: a blank cell, never 0%.
    assert page.count('class="unlived"') == 1
    assert "<b>Atlantis</b>" not in page
    assert "&lt;b&gt;Atlantis&lt;/b&gt;" in page
    france = client.get("/", params={"segment": "country/France"})
    assert "100%" in france.text
    assert "30%" not in france.text


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_warehouse_names_connection_not_password():
    dsn = f"host=127.0.0.1 port={closed_port()} user=postgres password=s3cret-value dbname=x"
    client = TestClient(create_app(lambda: dsn, source="Airflow connection 'wh'"))
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "Airflow connection 'wh'" in detail
    assert "s3cret-value" not in detail


def test_warehouse_without_tables_says_to_run_the_dag(make_database):
    dsn = make_database("empty")
    client = TestClient(create_app(lambda: dsn))
    response = client.get("/api/v1/segments")
    assert response.status_code == 503
    assert "run the cohort_monthly DAG" in response.json()["detail"]


def test_reader_role_serves_every_route(warehouse_dsn, reader_dsn):
    insert_cells(warehouse_dsn)
    insert_monthly_forecast(warehouse_dsn)
    client = TestClient(create_app(lambda: reader_dsn))
    for path in (
        "/",
        "/api/v1/health",
        "/api/v1/segments",
        "/api/v1/retention",
        "/api/v1/retention/projection",
        "/api/v1/retention/at-risk",
        "/api/v1/forecasts/sales",
        "/api/v1/forecasts/monthly",
        "/api/v1/forecasts/monthly/shop",
    ):
        assert client.get(path).status_code == 200, path


def test_statement_timeout_cancels_and_explains(warehouse_dsn, postgres_server):
    insert_cells(warehouse_dsn)
    locker = psycopg2.connect(warehouse_dsn)
    try:
        # An exclusive lock held elsewhere makes the API's read wait past its timeout.
        with locker.cursor() as cur:
            cur.execute("lock table marts.cohort_cell in access exclusive mode")
        client = TestClient(create_app(lambda: warehouse_dsn, statement_timeout_ms=200))
        response = client.get("/api/v1/segments")
        assert response.status_code == 503
        assert "200 ms" in response.json()["detail"]
        assert "COHORTINTEL_API_STATEMENT_TIMEOUT_MS" in response.json()["detail"]
    finally:
        locker.rollback()
        locker.close()
