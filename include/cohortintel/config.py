"""Settings of the pipeline, read from ``COHORTINTEL_*`` environment variables.

Every business rule that differs between shops (time zone, what counts as a
return, which weekdays the shop trades) is a setting here rather than a
constant in the SQL, so the same pipeline serves another source by changing
the environment. The README lists every variable with its default.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import holidays

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = PROJECT_ROOT / "include" / "sql"

# Columns that can split cohorts into segments; "none" keeps only all customers.
SEVERITIES = ("warning", "critical")
# Engines GX can evaluate the rules with: inside PostgreSQL, or on the batch read into pandas.
VALIDATION_ENGINES = ("database", "pandas")
SEGMENT_COLUMNS = ("country", "none")
# Period of the sales series built from the transactions and of their forecasts.
SALES_GRAINS = ("day", "week", "month")
# Forecast horizon in periods of each grain when COHORTINTEL_FORECAST_HORIZON is unset:
# about five weeks of trading days, a quarter of weeks, a year of months.
DEFAULT_FORECAST_HORIZONS = {"day": 26, "week": 13, "month": 12}
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_QUALIFIED_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")


DEFAULT_DATABASE_PREFIX = "cohortintel"


def project_path_for_prefix(name: str) -> Path:
    """Return the project folder ``name``, suffixed with a non-default COHORTINTEL_DATABASE_PREFIX.

    A second database prefix in the same checkout then gets its own charts and
    Airflow home (``output-shop2``, ``.airflow-shop2``) next to the default ones.
    """
    prefix = os.environ.get("COHORTINTEL_DATABASE_PREFIX", DEFAULT_DATABASE_PREFIX).strip()
    if prefix == DEFAULT_DATABASE_PREFIX:
        return PROJECT_ROOT / name
    return PROJECT_ROOT / f"{name}-{prefix}"


def default_output_dir() -> Path:
    """Return COHORTINTEL_OUTPUT_DIR, or the project's output folder of the database prefix."""
    return Path(_env("OUTPUT_DIR", str(project_path_for_prefix("output"))))


class ConfigError(ValueError):
    """A setting has a value the pipeline cannot use."""


def _env(name: str, default: str) -> str:
    return os.environ.get(f"COHORTINTEL_{name}", default).strip()


def _env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = _env(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"COHORTINTEL_{name}={raw!r} is not an integer; set it to a whole number "
            f"such as {default}."
        ) from None
    if value < minimum:
        raise ConfigError(f"COHORTINTEL_{name}={value} is below the minimum of {minimum}.")
    return value


def _env_fraction(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise ConfigError(
            f"COHORTINTEL_{name}={raw!r} is not a fraction between 0 and 1, for example {default}."
        )
    return value


def _env_ratio(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value < float("inf"):
        raise ConfigError(
            f"COHORTINTEL_{name}={raw!r} is not a ratio of 0 or more, for example {default}."
        )
    return value


def _volume_band() -> tuple[float, float]:
    low = _env_ratio("VOLUME_MIN_RATIO", 0.5)
    high = _env_ratio("VOLUME_MAX_RATIO", 2.0)
    if low > high:
        raise ConfigError(
            f"COHORTINTEL_VOLUME_MIN_RATIO={low} is above COHORTINTEL_VOLUME_MAX_RATIO={high}; "
            f"the band of a month's rows against the trailing months needs min <= max."
        )
    return low, high


def _env_factor(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 1.0 <= value < float("inf"):
        raise ConfigError(
            f"COHORTINTEL_{name}={raw!r} is not a factor of 1 or more; set it to a number "
            f"such as {default}."
        )
    return value


def _env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _env(name, default).lower()
    if value not in choices:
        raise ConfigError(
            f"COHORTINTEL_{name}={value!r} is not supported; use one of {', '.join(choices)}."
        )
    return value


def _env_month(name: str, default: str) -> dt.date:
    raw = _env(name, default)
    try:
        return dt.datetime.strptime(raw, "%Y-%m").date()
    except ValueError:
        raise ConfigError(
            f"COHORTINTEL_{name}={raw!r} is not a month; use the form YYYY-MM, as in {default}."
        ) from None


def _email_recipients() -> tuple[str, ...]:
    recipients = tuple(
        address.strip() for address in _env("ALERT_EMAIL_TO", "").split(",") if address.strip()
    )
    if _env("ALERT_SMTP_CONN_ID", "") and not recipients:
        raise ConfigError(
            "COHORTINTEL_ALERT_EMAIL_TO is not set, but COHORTINTEL_ALERT_SMTP_CONN_ID is; "
            "set it to the comma-separated addresses that receive alerts, "
            "such as 'oncall@example.com'."
        )
    invalid = [address for address in recipients if "@" not in address]
    if invalid:
        raise ConfigError(
            f"COHORTINTEL_ALERT_EMAIL_TO contains {', '.join(map(repr, invalid))}, which is not "
            f"an e-mail address; use addresses such as 'oncall@example.com'."
        )
    return recipients


def parse_weekdays(raw: str) -> tuple[int, ...]:
    """Parse a comma-separated list of weekday names ("sat,sun") into Python weekday numbers."""
    days = []
    for part in raw.split(","):
        name = part.strip().lower()[:3]
        if not name:
            continue
        if name not in WEEKDAY_NAMES:
            raise ConfigError(
                f"Invalid weekday {part.strip()!r} in COHORTINTEL_NON_TRADING_WEEKDAYS; "
                f"use names from {', '.join(WEEKDAY_NAMES)}."
            )
        days.append(WEEKDAY_NAMES.index(name))
    if len(set(days)) >= 7:
        raise ConfigError("COHORTINTEL_NON_TRADING_WEEKDAYS leaves no trading day in the week.")
    return tuple(sorted(set(days)))


def parse_annual_closures(raw: str) -> tuple[tuple[tuple[int, int], tuple[int, int]], ...]:
    """Parse "12-24..01-02,08-01" into closures of ((month, day), (month, day)), first and last day.

    A single MM-DD is a one-day closure. A range whose last day comes before its
    first in the calendar runs over the year end.
    """
    closures = []
    for part in raw.split(","):
        text = part.strip()
        if not text:
            continue
        first, separator, last = text.partition("..")
        bounds = []
        for bound in (first, last if separator else first):
            match = re.fullmatch(r"(\d{2})-(\d{2})", bound.strip())
            try:
                if match is None:
                    raise ValueError
                # 2000 is a leap year, so 02-29 is accepted.
                day = dt.date(2000, int(match[1]), int(match[2]))
            except ValueError:
                raise ConfigError(
                    f"Invalid closure {text!r} in COHORTINTEL_ANNUAL_CLOSURES: {bound.strip()!r} "
                    "is not a month and day; write MM-DD or MM-DD..MM-DD, as in '12-24..01-02'."
                ) from None
            bounds.append((day.month, day.day))
        closures.append((bounds[0], bounds[1]))
    return tuple(closures)


def holiday_dates(holiday_calendar: str, years: Sequence[int]) -> dict[dt.date, str]:
    """Return the public holidays of a calendar such as "GB-ENG" in the given years, with names.

    Raises:
        ValueError: the ``holidays`` package has no such country or subdivision.
    """
    if "," in holiday_calendar:
        raise ValueError(
            f"the holiday calendar {holiday_calendar!r} lists more than one calendar. Give "
            "one, such as 'GB-ENG', and add other closing days with COHORTINTEL_ANNUAL_CLOSURES."
        )
    country, _, subdivision = holiday_calendar.upper().partition("-")
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValueError(
            f"the holiday calendar {holiday_calendar!r} is not a country of the holidays "
            "package. Use an ISO 3166 country code such as 'GB' or 'DE'."
        )
    if subdivision and subdivision not in supported[country]:
        raise ValueError(
            f"the holiday calendar {holiday_calendar!r} is not a subdivision of {country} in "
            f"the holidays package. Use the country alone or one of "
            f"{', '.join(f'{country}-{code}' for code in supported[country])}."
        )
    return dict(holidays.country_holidays(country, subdiv=subdivision or None, years=years))


def validate_holiday_calendar(value: str, setting: str) -> str:
    """Check a holiday calendar such as "GB-ENG" against the holidays package; empty turns it off."""
    if not value:
        return value
    try:
        holiday_dates(value, [2000])
    except ValueError as error:
        raise ConfigError(f"Invalid {setting}: {error}") from None
    return value.upper()


def validate_qualified_name(value: str, setting: str) -> str:
    """Check that a table name from configuration is a plain ``[schema.]table`` identifier."""
    if not _QUALIFIED_NAME.match(value):
        raise ConfigError(
            f"{setting}={value!r} is not a valid table name; use letters, digits and "
            f"underscores, optionally qualified by a schema as in 'public.invoice_lines'."
        )
    return value


def validate_pattern(value: str, setting: str) -> str:
    """Check that a regular expression from configuration compiles; empty turns its rule off."""
    try:
        re.compile(value)
    except re.error as error:
        raise ConfigError(
            f"{setting}={value!r} is not a valid regular expression ({error}); use a pattern "
            f"such as '^[0-9]+$', or leave it empty to turn the check off."
        ) from None
    return value


def validate_timezone(value: str, setting: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{setting}={value!r} is not an IANA time zone name; use one such as 'Europe/London'."
        ) from None
    return value


@dataclass(frozen=True)
class Settings:
    """Pipeline settings; ``Settings.from_env()`` reads them from the environment."""

    business_timezone: str = "Europe/London"
    start_month: dt.date = dt.date(2010, 12, 1)
    end_month: dt.date | None = None
    source_conn_id: str = "cohortintel_source"
    warehouse_conn_id: str = "cohortintel_warehouse"
    source_table: str = "public.invoice_lines"
    source_timezone: str = "Europe/London"
    extract_sql: str = "extract/online_retail.sql"
    currency: str = "GBP"
    accepted_currencies: tuple[str, ...] = ("GBP",)
    lookback_months: int = 1
    # The extract drops the staging tables of batch months more than this many
    # months before the run's month.
    staging_keep_months: int = 3
    return_order_prefix: str = "C"
    adjustment_order_prefix: str = "A"
    segment_column: str = "country"
    non_trading_weekdays: tuple[int, ...] = (5,)
    season_length: int = 6
    # Days the shop is known in advance to be closed: public holidays of a
    # calendar of the holidays package, and yearly closures as (month, day) ranges.
    holiday_calendar: str = "GB-ENG"
    annual_closures: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (((12, 24), (1, 2)),)
    # Sales series of the transactions: their grain, and how many of the countries
    # with the most net revenue get a series of their own next to the total.
    sales_grain: str = "day"
    sales_top_countries: int = 0
    # Periods forecast ahead, at the sales grain.
    forecast_horizon: int = 26
    max_quarantine_share: float = 0.05
    max_missing_customer_share: float = 0.5
    # A present customer id must match this regular expression (empty: no check).
    customer_id_pattern: str = "^[0-9]+$"
    validation_engine: str = "database"
    # A month's rows against the mean of the trailing months that were loaded.
    volume_trailing_months: int = 3
    volume_min_ratio: float = 0.5
    volume_max_ratio: float = 2.0
    volume_severity: str = "warning"
    # The newest row of a month may lie this many days before the month's end.
    freshness_days: int = 10
    # A run still unfinished this long after it was queued sends a warning; 0 is off.
    run_deadline_minutes: int = 360
    task_retries: int = 2
    retry_delay_seconds: int = 300
    # Alert channels: each is off while its Airflow connection id is empty.
    alert_smtp_conn_id: str = ""
    alert_slack_conn_id: str = ""
    alert_webhook_conn_id: str = ""
    alert_email_from: str = "cohortintel@localhost"
    alert_email_to: tuple[str, ...] = ()
    alert_timeout_seconds: int = 10
    alert_warning_period_seconds: int = 86400
    output_dir: Path = field(default_factory=default_output_dir)
    # Monthly sales series from outside the order system, forecast one mapped task each.
    monthly_sales_table: str = "public.monthly_sales"
    monthly_forecast_horizon: int = 18
    monthly_min_months: int = 12
    monthly_error_alert_factor: float = 3.0

    @classmethod
    def from_env(cls) -> Settings:
        non_trading = parse_weekdays(_env("NON_TRADING_WEEKDAYS", "sat"))
        currencies = tuple(
            code.strip().upper()
            for code in _env("ACCEPTED_CURRENCIES", _env("CURRENCY", "GBP")).split(",")
            if code.strip()
        )
        sales_grain = _env_choice("SALES_GRAIN", "day", SALES_GRAINS)
        return cls(
            business_timezone=validate_timezone(
                _env("BUSINESS_TIMEZONE", "Europe/London"), "COHORTINTEL_BUSINESS_TIMEZONE"
            ),
            start_month=_env_month("START_MONTH", "2010-12"),
            # Unset means the schedule has no end; "2011-12" is only the example in errors.
            end_month=_env_month("END_MONTH", "2011-12") if _env("END_MONTH", "") else None,
            source_conn_id=_env("SOURCE_CONN_ID", "cohortintel_source"),
            warehouse_conn_id=_env("WAREHOUSE_CONN_ID", "cohortintel_warehouse"),
            source_table=validate_qualified_name(
                _env("SOURCE_TABLE", "public.invoice_lines"), "COHORTINTEL_SOURCE_TABLE"
            ),
            source_timezone=validate_timezone(
                _env("SOURCE_TIMEZONE", "Europe/London"), "COHORTINTEL_SOURCE_TIMEZONE"
            ),
            extract_sql=_env("EXTRACT_SQL", "extract/online_retail.sql"),
            currency=_env("CURRENCY", "GBP").upper(),
            accepted_currencies=currencies,
            lookback_months=_env_int("LOOKBACK_MONTHS", 1),
            staging_keep_months=_env_int("STAGING_KEEP_MONTHS", 3),
            return_order_prefix=_env("RETURN_ORDER_PREFIX", "C"),
            adjustment_order_prefix=_env("ADJUSTMENT_ORDER_PREFIX", "A"),
            segment_column=_env_choice("SEGMENT_COLUMN", "country", SEGMENT_COLUMNS),
            non_trading_weekdays=non_trading,
            season_length=7 - len(non_trading),
            holiday_calendar=validate_holiday_calendar(
                _env("HOLIDAY_CALENDAR", "GB-ENG"), "COHORTINTEL_HOLIDAY_CALENDAR"
            ),
            annual_closures=parse_annual_closures(_env("ANNUAL_CLOSURES", "12-24..01-02")),
            sales_grain=sales_grain,
            sales_top_countries=_env_int("SALES_TOP_COUNTRIES", 0),
            forecast_horizon=_env_int(
                "FORECAST_HORIZON", DEFAULT_FORECAST_HORIZONS[sales_grain], minimum=1
            ),
            max_quarantine_share=_env_fraction("MAX_QUARANTINE_SHARE", 0.05),
            max_missing_customer_share=_env_fraction("MAX_MISSING_CUSTOMER_SHARE", 0.5),
            customer_id_pattern=validate_pattern(
                _env("CUSTOMER_ID_PATTERN", "^[0-9]+$"), "COHORTINTEL_CUSTOMER_ID_PATTERN"
            ),
            validation_engine=_env_choice("VALIDATION_ENGINE", "database", VALIDATION_ENGINES),
            volume_trailing_months=_env_int("VOLUME_TRAILING_MONTHS", 3),
            volume_min_ratio=_volume_band()[0],
            volume_max_ratio=_volume_band()[1],
            volume_severity=_env_choice("VOLUME_SEVERITY", "warning", SEVERITIES),
            freshness_days=_env_int("FRESHNESS_DAYS", 10),
            run_deadline_minutes=_env_int("RUN_DEADLINE_MINUTES", 360),
            task_retries=_env_int("TASK_RETRIES", 2),
            retry_delay_seconds=_env_int("RETRY_DELAY_SECONDS", 300),
            alert_smtp_conn_id=_env("ALERT_SMTP_CONN_ID", ""),
            alert_slack_conn_id=_env("ALERT_SLACK_CONN_ID", ""),
            alert_webhook_conn_id=_env("ALERT_WEBHOOK_CONN_ID", ""),
            alert_email_from=_env("ALERT_EMAIL_FROM", "cohortintel@localhost"),
            alert_email_to=_email_recipients(),
            alert_timeout_seconds=_env_int("ALERT_TIMEOUT_SECONDS", 10, minimum=1),
            alert_warning_period_seconds=_env_int("ALERT_WARNING_PERIOD_SECONDS", 86400),
            output_dir=default_output_dir(),
            monthly_sales_table=validate_qualified_name(
                _env("MONTHLY_SALES_TABLE", "public.monthly_sales"),
                "COHORTINTEL_MONTHLY_SALES_TABLE",
            ),
            monthly_forecast_horizon=_env_int("MONTHLY_FORECAST_HORIZON", 18, minimum=1),
            monthly_min_months=_env_int("MONTHLY_MIN_MONTHS", 12, minimum=1),
            monthly_error_alert_factor=_env_factor("MONTHLY_ERROR_ALERT_FACTOR", 3.0),
        )
