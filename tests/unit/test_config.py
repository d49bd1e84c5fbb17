"""Settings read from COHORTINTEL_* environment variables."""

from __future__ import annotations

import datetime as dt

import pytest

from cohortintel.config import PROJECT_ROOT, ConfigError, Settings, parse_weekdays
from cohortintel.environment import DatabaseNames, airflow_environment
from cohortintel.postgres_server import PostgresServer


def test_defaults_match_online_retail(monkeypatch):
    for name in ("BUSINESS_TIMEZONE", "NON_TRADING_WEEKDAYS", "LOOKBACK_MONTHS", "START_MONTH"):
        monkeypatch.delenv(f"COHORTINTEL_{name}", raising=False)
    settings = Settings.from_env()
    assert settings.business_timezone == "Europe/London"
    assert settings.non_trading_weekdays == (5,)
    assert settings.season_length == 6
    assert settings.lookback_months == 1
    assert settings.start_month == dt.date(2010, 12, 1)


def test_closures_default_to_england(monkeypatch):
    monkeypatch.delenv("COHORTINTEL_HOLIDAY_CALENDAR", raising=False)
    monkeypatch.delenv("COHORTINTEL_ANNUAL_CLOSURES", raising=False)
    settings = Settings.from_env()
    assert settings.holiday_calendar == "GB-ENG"
    assert settings.annual_closures == (((12, 24), (1, 2)),)


def test_empty_closure_settings_turn_closures_off(monkeypatch):
    monkeypatch.setenv("COHORTINTEL_HOLIDAY_CALENDAR", "")
    monkeypatch.setenv("COHORTINTEL_ANNUAL_CLOSURES", "")
    settings = Settings.from_env()
    assert settings.holiday_calendar == ""
    assert settings.annual_closures == ()


def test_annual_closures_parsed(monkeypatch):
    monkeypatch.setenv("COHORTINTEL_ANNUAL_CLOSURES", "12-24..01-02, 02-29")
    assert Settings.from_env().annual_closures == (((12, 24), (1, 2)), ((2, 29), (2, 29)))


def test_settings_object_reads_output_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("COHORTINTEL_OUTPUT_DIR", str(tmp_path))
    assert Settings().output_dir == tmp_path


def test_weekday_names_parsed():
    assert parse_weekdays("sat, Sunday") == (5, 6)
    assert parse_weekdays("") == ()


def test_invalid_weekday_named():
    with pytest.raises(ConfigError) as caught:
        parse_weekdays("sat,funday")
    assert "'funday'" in str(caught.value)


def test_every_weekday_rejected():
    with pytest.raises(ConfigError):
        parse_weekdays("mon,tue,wed,thu,fri,sat,sun")


def test_season_follows_trading_week(monkeypatch):
    monkeypatch.setenv("COHORTINTEL_NON_TRADING_WEEKDAYS", "sat,sun")
    assert Settings.from_env().season_length == 5


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("BUSINESS_TIMEZONE", "Mars/Olympus", "IANA time zone"),
        ("SOURCE_TABLE", "public.lines; drop table x", "not a valid table name"),
        ("LOOKBACK_MONTHS", "one", "not an integer"),
        ("LOOKBACK_MONTHS", "-1", "below the minimum"),
        ("MAX_QUARANTINE_SHARE", "5", "between 0 and 1"),
        ("START_MONTH", "Dec 2010", "YYYY-MM"),
        ("VOLUME_MIN_RATIO", "-0.5", "ratio of 0 or more"),
        ("VOLUME_MAX_RATIO", "lots", "ratio of 0 or more"),
        ("VOLUME_SEVERITY", "fatal", "warning, critical"),
        ("FRESHNESS_DAYS", "-2", "below the minimum"),
        ("MONTHLY_SALES_TABLE", "sales-monthly", "not a valid table name"),
        ("MONTHLY_FORECAST_HORIZON", "0", "below the minimum"),
        ("MONTHLY_ERROR_ALERT_FACTOR", "0.5", "factor of 1 or more"),
        ("MONTHLY_ERROR_ALERT_FACTOR", "many", "factor of 1 or more"),
        ("VALIDATION_ENGINE", "spark", "database, pandas"),
        ("CUSTOMER_ID_PATTERN", "^[0-9+$", "not a valid regular expression"),
        ("SALES_GRAIN", "quarter", "day, week, month"),
        ("SALES_TOP_COUNTRIES", "-1", "below the minimum"),
        ("SALES_TOP_COUNTRIES", "five", "not an integer"),
        ("HOLIDAY_CALENDAR", "ZZ", "is not a country"),
        ("HOLIDAY_CALENDAR", "GB-XX", "GB-ENG"),
        ("HOLIDAY_CALENDAR", "GB-ENG,GB-SCT", "more than one calendar"),
        ("ANNUAL_CLOSURES", "12-24..13-02", "'13-02' is not a month and day"),
        ("ANNUAL_CLOSURES", "christmas", "MM-DD..MM-DD"),
    ],
)
def test_invalid_setting_named(monkeypatch, name, value, fragment):
    monkeypatch.setenv(f"COHORTINTEL_{name}", value)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env()
    assert f"COHORTINTEL_{name}" in str(caught.value)
    assert fragment in str(caught.value)


ALERT_VARIABLES = (
    "ALERT_SMTP_CONN_ID",
    "ALERT_SLACK_CONN_ID",
    "ALERT_WEBHOOK_CONN_ID",
    "ALERT_EMAIL_FROM",
    "ALERT_EMAIL_TO",
    "ALERT_TIMEOUT_SECONDS",
    "ALERT_WARNING_PERIOD_SECONDS",
)


def test_alert_defaults_send_nothing(monkeypatch):
    for name in ALERT_VARIABLES:
        monkeypatch.delenv(f"COHORTINTEL_{name}", raising=False)
    settings = Settings.from_env()
    assert settings.alert_smtp_conn_id == ""
    assert settings.alert_slack_conn_id == ""
    assert settings.alert_webhook_conn_id == ""
    assert settings.alert_email_to == ()
    assert settings.alert_timeout_seconds == 10
    assert settings.alert_warning_period_seconds == 86400


def test_alert_recipients_parsed(monkeypatch):
    monkeypatch.setenv("COHORTINTEL_ALERT_SMTP_CONN_ID", "alert_smtp")
    monkeypatch.setenv("COHORTINTEL_ALERT_EMAIL_TO", "oncall@example.com, data@example.com")
    settings = Settings.from_env()
    assert settings.alert_email_to == ("oncall@example.com", "data@example.com")


def test_smtp_without_recipients_rejected(monkeypatch):
    monkeypatch.setenv("COHORTINTEL_ALERT_SMTP_CONN_ID", "alert_smtp")
    monkeypatch.delenv("COHORTINTEL_ALERT_EMAIL_TO", raising=False)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env()
    assert "COHORTINTEL_ALERT_EMAIL_TO is not set" in str(caught.value)


def test_invalid_recipient_named(monkeypatch):
    monkeypatch.setenv("COHORTINTEL_ALERT_EMAIL_TO", "oncall@example.com,oncall")
    with pytest.raises(ConfigError) as caught:
        Settings.from_env()
    assert "'oncall'" in str(caught.value)


def test_zero_alert_timeout_rejected(monkeypatch):
    monkeypatch.setenv("COHORTINTEL_ALERT_TIMEOUT_SECONDS", "0")
    with pytest.raises(ConfigError):
        Settings.from_env()


def test_volume_band_must_be_ordered(monkeypatch):
    monkeypatch.setenv("COHORTINTEL_VOLUME_MIN_RATIO", "3")
    monkeypatch.setenv("COHORTINTEL_VOLUME_MAX_RATIO", "2")
    with pytest.raises(ConfigError) as caught:
        Settings.from_env()
    assert "COHORTINTEL_VOLUME_MIN_RATIO=3.0 is above COHORTINTEL_VOLUME_MAX_RATIO=2.0" in str(
        caught.value
    )


MONTHLY_VARIABLES = (
    "MONTHLY_SALES_TABLE",
    "MONTHLY_FORECAST_HORIZON",
    "MONTHLY_MIN_MONTHS",
    "MONTHLY_ERROR_ALERT_FACTOR",
)


def test_monthly_defaults(monkeypatch):
    for name in MONTHLY_VARIABLES:
        monkeypatch.delenv(f"COHORTINTEL_{name}", raising=False)
    settings = Settings.from_env()
    assert settings.monthly_sales_table == "public.monthly_sales"
    assert settings.monthly_forecast_horizon == 18
    assert settings.monthly_min_months == 12
    assert settings.monthly_error_alert_factor == 3.0


def test_monthly_settings_read(monkeypatch):
    monkeypatch.setenv("COHORTINTEL_MONTHLY_SALES_TABLE", "sales.by_month")
    monkeypatch.setenv("COHORTINTEL_MONTHLY_ERROR_ALERT_FACTOR", "2.5")
    settings = Settings.from_env()
    assert settings.monthly_sales_table == "sales.by_month"
    assert settings.monthly_error_alert_factor == 2.5


def test_validation_defaults(monkeypatch):
    for name in ("VALIDATION_ENGINE", "CUSTOMER_ID_PATTERN"):
        monkeypatch.delenv(f"COHORTINTEL_{name}", raising=False)
    settings = Settings.from_env()
    assert settings.validation_engine == "database"
    assert settings.customer_id_pattern == "^[0-9]+$"


def test_validation_settings_read(monkeypatch):
    monkeypatch.setenv("COHORTINTEL_VALIDATION_ENGINE", "Pandas")
    monkeypatch.setenv("COHORTINTEL_CUSTOMER_ID_PATTERN", "")
    settings = Settings.from_env()
    assert settings.validation_engine == "pandas"
    # Empty turns the customer id check off.
    assert settings.customer_id_pattern == ""


def test_sales_defaults_keep_daily_total(monkeypatch):
    for name in ("SALES_GRAIN", "SALES_TOP_COUNTRIES", "FORECAST_HORIZON"):
        monkeypatch.delenv(f"COHORTINTEL_{name}", raising=False)
    settings = Settings.from_env()
    assert settings.sales_grain == "day"
    assert settings.sales_top_countries == 0
    assert settings.forecast_horizon == 26


@pytest.mark.parametrize(("grain", "horizon"), [("day", 26), ("week", 13), ("month", 12)])
def test_horizon_default_follows_grain(monkeypatch, grain, horizon):
    monkeypatch.delenv("COHORTINTEL_FORECAST_HORIZON", raising=False)
    monkeypatch.setenv("COHORTINTEL_SALES_GRAIN", grain.upper())
    settings = Settings.from_env()
    assert settings.sales_grain == grain
    assert settings.forecast_horizon == horizon


def test_horizon_setting_wins_over_grain(monkeypatch):
    monkeypatch.setenv("COHORTINTEL_SALES_GRAIN", "month")
    monkeypatch.setenv("COHORTINTEL_FORECAST_HORIZON", "18")
    monkeypatch.setenv("COHORTINTEL_SALES_TOP_COUNTRIES", "5")
    settings = Settings.from_env()
    assert settings.forecast_horizon == 18
    assert settings.sales_top_countries == 5


def test_database_prefix_moves_output_and_airflow_home(monkeypatch):
    monkeypatch.delenv("COHORTINTEL_OUTPUT_DIR", raising=False)
    server = PostgresServer("host=127.0.0.1 port=5432 user=postgres dbname=postgres", False)
    names = DatabaseNames.with_prefix("shop2")

    monkeypatch.setenv("COHORTINTEL_DATABASE_PREFIX", "shop2")
    assert Settings.from_env().output_dir == PROJECT_ROOT / "output-shop2"
    assert airflow_environment(server, names)["AIRFLOW_HOME"] == str(
        PROJECT_ROOT / ".airflow-shop2"
    )

    monkeypatch.setenv("COHORTINTEL_DATABASE_PREFIX", "cohortintel")
    assert Settings.from_env().output_dir == PROJECT_ROOT / "output"
    assert airflow_environment(server, names)["AIRFLOW_HOME"] == str(PROJECT_ROOT / ".airflow")
