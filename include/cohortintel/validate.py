"""Validate a staged batch with a Great Expectations (GX Core 1.x) suite.

GX evaluates the suite inside PostgreSQL on the staging table, or, with
``COHORTINTEL_VALIDATION_ENGINE=pandas``, on the batch read into a pandas
DataFrame. Both engines report failing rows by ``staging_row_id`` and feed
the same marking and quarantine steps, so they quarantine the same rows.

Every rule has a severity. Row-level rules mark failing rows, which go to
``quarantine.transactions`` with the rule and the offending value. Their GX
severity is "warning" because the run goes on without those rows. Rules on
the whole batch are "critical": a failure stops the run. The share of rows
quarantined is itself a critical rule, so a broken source cannot quietly
empty the fact table.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2.extensions

from cohortintel import db
from cohortintel.config import Settings
from cohortintel.months import add_months, month_start

log = logging.getLogger(__name__)

MAX_ABS_AMOUNT = 1e9  # larger quantities or prices are treated as corrupt, as are NaN and infinity


class DataQualityError(RuntimeError):
    """A critical data-quality rule failed; the message lists the failed rules."""


class ValidationCheckError(RuntimeError):
    """A rule could not be evaluated: an error of the check, never a verdict on the data."""


@dataclass(frozen=True)
class Rule:
    """One data-quality rule: a GX expectation plus what a failure means."""

    name: str
    expectation: Any
    severity: str  # "critical" stops the run, "warning" is recorded
    row_level: bool  # failing rows are quarantined
    description: str  # completes the sentence "<column> <value> ..."
    column: str | None = None


@dataclass
class RuleOutcome:
    rule: str
    expectation_type: str
    severity: str
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    observed_value: str | None = None
    exception_message: str | None = None
    unexpected_ids: list[int] = field(default_factory=list)


def build_rules(
    settings: Settings, window_start: dt.datetime, window_end: dt.datetime
) -> list[Rule]:
    """Return the data-quality rules of a batch whose rows must fall in ``[window_start, window_end)``."""
    import great_expectations.expectations as gxe

    def not_null(column: str) -> Rule:
        return Rule(
            name=f"{column}_not_null",
            expectation=gxe.ExpectColumnValuesToNotBeNull(column=column, severity="warning"),
            severity="warning",
            row_level=True,
            description=f"{column} is missing; every transaction needs it",
            column=column,
        )

    def customer_id_format(pattern: str) -> Rule:
        return Rule(
            name="customer_id_format",
            expectation=gxe.ExpectColumnValuesToMatchRegex(
                column="customer_id", regex=pattern, severity="warning"
            ),
            severity="warning",
            row_level=True,
            description=(
                f"does not match COHORTINTEL_CUSTOMER_ID_PATTERN {pattern}; a source whose "
                f"customer column changed type (such as 17850.0 for 17850) would split one "
                f"customer in two. Map the column to the canonical id in the extract SQL, or "
                f"change the pattern when the shop's ids have another form"
            ),
            column="customer_id",
        )

    rules = [
        Rule(
            name="batch_not_empty",
            expectation=gxe.ExpectTableRowCountToBeBetween(min_value=1, severity="critical"),
            severity="critical",
            row_level=False,
            description="the source returned no rows for the batch",
        ),
        *(
            not_null(column)
            for column in (
                "source_row_id",
                "order_id",
                "occurred_at",
                "quantity",
                "unit_price",
                "currency",
            )
        ),
        Rule(
            name="occurred_at_in_window",
            expectation=gxe.ExpectColumnValuesToBeBetween(
                column="occurred_at",
                min_value=window_start,
                max_value=window_end,
                strict_max=True,
                severity="warning",
            ),
            severity="warning",
            row_level=True,
            description=f"is outside the batch window {window_start.isoformat()} to {window_end.isoformat()}",
            column="occurred_at",
        ),
        Rule(
            name="unit_price_valid",
            expectation=gxe.ExpectColumnValuesToBeBetween(
                column="unit_price", min_value=0, max_value=MAX_ABS_AMOUNT, severity="warning"
            ),
            severity="warning",
            row_level=True,
            description=f"is negative, NaN or above {MAX_ABS_AMOUNT:g}",
            column="unit_price",
        ),
        Rule(
            name="quantity_finite",
            expectation=gxe.ExpectColumnValuesToBeBetween(
                column="quantity",
                min_value=-MAX_ABS_AMOUNT,
                max_value=MAX_ABS_AMOUNT,
                severity="warning",
            ),
            severity="warning",
            row_level=True,
            description=f"is NaN, infinite or beyond +/-{MAX_ABS_AMOUNT:g}",
            column="quantity",
        ),
        Rule(
            name="currency_accepted",
            expectation=gxe.ExpectColumnValuesToBeInSet(
                column="currency", value_set=list(settings.accepted_currencies), severity="warning"
            ),
            severity="warning",
            row_level=True,
            description=(
                f"is not an accepted currency ({', '.join(settings.accepted_currencies)}); "
                f"set COHORTINTEL_ACCEPTED_CURRENCIES to accept it"
            ),
            column="currency",
        ),
        *(
            [customer_id_format(settings.customer_id_pattern)]
            if settings.customer_id_pattern
            else []
        ),
        Rule(
            name="customer_id_mostly_present",
            expectation=gxe.ExpectColumnValuesToNotBeNull(
                column="customer_id",
                mostly=round(1.0 - settings.max_missing_customer_share, 6),
                severity="warning",
            ),
            severity="warning",
            row_level=False,
            description="rows without a customer id are kept for sales and left out of cohorts",
            column="customer_id",
        ),
    ]
    return rules


def run_expectations(
    warehouse_dsn: str,
    staging_table: str,
    rules: list[Rule],
    docs_dir: Path | None = None,
    run_id: str | None = None,
    engine: str = "database",
) -> list[RuleOutcome]:
    """Run the rules as one GX suite on the staging table and return one outcome per rule.

    ``engine`` "database" runs the suite inside PostgreSQL through GX's
    Postgres data source. "pandas" reads the batch into a DataFrame
    (``read_batch_frame``) and runs the same suite through GX's pandas data
    source. Both report failing rows by ``staging_row_id``.

    With ``docs_dir``, GX also renders the suite and this run's results as
    Data Docs there, replacing what the folder held.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    schema, table = staging_table.split(".")
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    batch_parameters = None
    if engine == "database":
        source = context.data_sources.add_postgres(
            "warehouse", connection_string=db.sqlalchemy_url(warehouse_dsn)
        )
        asset = source.add_table_asset(name=table, table_name=table, schema_name=schema)
        batch_definition = asset.add_batch_definition_whole_table("batch")
        with db.transaction(warehouse_dsn) as cur:
            cur.execute(db.sql.SQL("select count(*) from {}").format(db.identifier(staging_table)))
            (row_count,) = cur.fetchone()
    elif engine == "pandas":
        asset = context.data_sources.add_pandas("warehouse").add_dataframe_asset(name=table)
        batch_definition = asset.add_batch_definition_whole_dataframe("batch")
        frame = read_batch_frame(warehouse_dsn, staging_table)
        batch_parameters = {"dataframe": frame}
        row_count = len(frame)
    else:
        raise ValueError(
            f"Unknown validation engine {engine!r}; set COHORTINTEL_VALIDATION_ENGINE to "
            f"database or pandas."
        )
    suite = context.suites.add(gx.ExpectationSuite(name=f"{table}_suite"))
    for rule in rules:
        suite.add_expectation(rule.expectation)
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{table}_validation", data=batch_definition, suite=suite)
    )
    if docs_dir is not None:
        context.add_data_docs_site(
            "cohortintel",
            {
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name=f"{table}_checkpoint",
            validation_definitions=[validation],
            result_format=result_format(row_count),
        )
    )
    checkpoint_result = checkpoint.run(
        batch_parameters=batch_parameters, run_id=RunIdentifier(run_name=run_id or table)
    )
    ((identifier, result),) = checkpoint_result.run_results.items()
    if docs_dir is not None:
        # The docs are a view of results already stored in ops.validation_result,
        # so a failure to write them is logged and never fails the validation.
        try:
            context.build_data_docs(site_names=["cohortintel"], resource_identifiers=[identifier])
            log.info("GX Data Docs of %s: %s", staging_table, docs_dir / "index.html")
        except Exception as error:  # GX raises many types; none of them concerns the data
            log.warning("Could not write GX Data Docs to %s: %s", docs_dir, error)
    results = _results_in_rule_order(result, rules)
    return [
        _outcome(rule, expectation_result)
        for rule, expectation_result in zip(rules, results, strict=True)
    ]


def result_format(row_count: int) -> dict[str, Any]:
    """Return the GX result format that lists every failing row of a batch by staging_row_id.

    Both engines then return ``unexpected_index_list`` as one dict per failing
    row holding its ``staging_row_id``. Without the id column, the pandas
    engine would list DataFrame positions, which are not row ids. GX 1.24's
    SQL engine caps that list at ``partial_unexpected_count`` (20 by default)
    even with COMPLETE, while the pandas engine returns every row, so the cap
    is raised to the batch's row count. The values are left out: the
    quarantine reads them from the staging row, and GX sorts the values it
    returns, which raises on a NaN numeric from PostgreSQL.
    """
    return {
        "result_format": "COMPLETE",
        "unexpected_index_column_names": ["staging_row_id"],
        "partial_unexpected_count": max(row_count, 1),
        "exclude_unexpected_values": True,
    }


# Staging columns the rules read, in table order; quarantine_rules is left out.
FRAME_COLUMNS = (
    "staging_row_id",
    "source_row_id",
    "order_id",
    "product_id",
    "product_description",
    "customer_id",
    "occurred_at",
    "quantity",
    "unit_price",
    "currency",
    "country",
)
_NUMERIC_COLUMNS = ("quantity", "unit_price")


def _numeric_as_float(value: str | None, cur: Any) -> float | None:
    # float() maps PostgreSQL's 'NaN' and 'Infinity' to their float values.
    return None if value is None else float(value)


def read_batch_frame(warehouse_dsn: str, staging_table: str) -> Any:
    """Read a staging table into a pandas DataFrame for GX's pandas engine.

    NaN and NULL stay apart, as they are in PostgreSQL: numeric columns become
    pandas' nullable Float64, whose mask marks NULL while a NaN stays a value.
    In a plain float64 column pandas takes NaN for missing, so a NaN price
    would fail the not-null rule instead of the range rule.
    """
    import numpy as np
    import pandas as pd

    float_numeric = psycopg2.extensions.new_type(
        psycopg2.extensions.DECIMAL.values, "COHORTINTEL_NUMERIC_FLOAT", _numeric_as_float
    )
    with db.transaction(warehouse_dsn) as cur:
        psycopg2.extensions.register_type(float_numeric, cur)
        cur.execute(
            db.sql.SQL("select {} from {} order by staging_row_id").format(
                db.sql.SQL(", ").join(db.sql.Identifier(name) for name in FRAME_COLUMNS),
                db.identifier(staging_table),
            )
        )
        rows = cur.fetchall()
    by_column = dict(zip(FRAME_COLUMNS, zip(*rows, strict=True), strict=True)) if rows else {}
    data: dict[str, Any] = {}
    for name in FRAME_COLUMNS:
        values = list(by_column.get(name, ()))
        if name == "staging_row_id":
            data[name] = np.array(values, dtype=np.int64)
        elif name == "source_row_id":
            data[name] = pd.array(values, dtype="Int64")
        elif name == "occurred_at":
            data[name] = pd.to_datetime(pd.Series(values, dtype=object), utc=True)
        elif name in _NUMERIC_COLUMNS:
            mask = np.array([value is None for value in values], dtype=bool)
            numbers = np.array([0.0 if value is None else value for value in values], dtype=float)
            data[name] = pd.arrays.FloatingArray(numbers, mask)
        else:
            data[name] = pd.Series(values, dtype=object)
    frame = pd.DataFrame({name: pd.Series(column) for name, column in data.items()})
    log.info("Read %s rows of %s into pandas for validation", len(frame), staging_table)
    return frame


def _results_in_rule_order(result: Any, rules: list[Rule]) -> list[Any]:
    """Match GX results back to rules by expectation id, since GX may reorder them."""
    by_id = {r.expectation_config.id: r for r in result.results}
    return [by_id[rule.expectation.id] for rule in rules]


def _row_ids(index_list: list[dict[str, Any]]) -> list[int]:
    """Return the staging_row_id values of GX's unexpected_index_list as Python ints.

    With ``exclude_unexpected_values`` GX 1.24 returns one dict whose
    staging_row_id is the list of every id; without it, one dict per row.
    Both shapes are read. The pandas engine returns numpy integers, which
    psycopg2 cannot bind, so every id is converted.
    """
    ids: list[int] = []
    for item in index_list:
        value = item["staging_row_id"]
        ids.extend(int(row_id) for row_id in (value if isinstance(value, list) else [value]))
    return ids


def _outcome(rule: Rule, expectation_result: Any) -> RuleOutcome:
    details = expectation_result.result or {}
    exception = expectation_result.exception_info or {}
    exception_message = None
    if exception.get("raised_exception"):
        exception_message = str(exception.get("exception_message"))
    else:
        # GX 1.x nests exception details per metric when a metric failed to compute.
        for info in exception.values() if isinstance(exception, dict) else []:
            if isinstance(info, dict) and info.get("raised_exception"):
                exception_message = str(info.get("exception_message"))
                break
    index_list = details.get("unexpected_index_list") or []
    observed = details.get("observed_value")
    if observed is None and details.get("unexpected_percent") is not None:
        observed = f"{details['unexpected_percent']:.3f}% unexpected"
    return RuleOutcome(
        rule=rule.name,
        expectation_type=expectation_result.expectation_config.type,
        severity=rule.severity,
        success=bool(expectation_result.success) and exception_message is None,
        element_count=details.get("element_count"),
        unexpected_count=details.get("unexpected_count"),
        observed_value=None if observed is None else str(observed),
        exception_message=exception_message,
        unexpected_ids=_row_ids(index_list),
    )


def mark_duplicates(cur: psycopg2.extensions.cursor, staging_table: str) -> RuleOutcome:
    """Mark every copy of an exactly duplicated row except the first as quarantined."""
    db.execute_file(cur, "validate/mark_duplicates.sql", staging_table=staging_table)
    duplicates = cur.rowcount
    cur.execute(db.sql.SQL("select count(*) from {}").format(db.identifier(staging_table)))
    (rows,) = cur.fetchone()
    return RuleOutcome(
        rule="duplicate_row",
        expectation_type="sql: exact duplicate rows (include/sql/validate/mark_duplicates.sql)",
        severity="warning",
        success=duplicates == 0,
        element_count=rows,
        unexpected_count=duplicates,
        observed_value=f"{duplicates} extra copies",
    )


def mark_repeated_ids(cur: psycopg2.extensions.cursor, staging_table: str) -> RuleOutcome:
    """Mark every row whose source id another row of the batch carries too."""
    db.execute_file(cur, "validate/mark_repeated_ids.sql", staging_table=staging_table)
    repeated = cur.rowcount
    return RuleOutcome(
        rule="source_row_id_unique",
        expectation_type="sql: ids carried by more than one row (include/sql/validate/mark_repeated_ids.sql)",
        severity="warning",
        success=repeated == 0,
        unexpected_count=repeated,
        observed_value=f"{repeated} rows share their id with another row",
    )


def month_outcomes(
    cur: psycopg2.extensions.cursor,
    staging_table: str,
    batch_month: dt.date,
    settings: Settings,
) -> list[RuleOutcome]:
    """Check the run's own month: not empty, volume within band of the trailing months, fresh.

    A batch can hold rows of a look-back month only, so the batch-level
    row count alone would let an empty month pass.
    """
    month_begin = month_start(batch_month, settings.business_timezone)
    month_end = month_start(add_months(batch_month, 1), settings.business_timezone)
    cur.execute(
        db.sql.SQL(
            "select count(*), max(occurred_at) from {} where occurred_at >= %s and occurred_at < %s"
        ).format(db.identifier(staging_table)),
        (month_begin, month_end),
    )
    month_rows, newest = cur.fetchone()
    outcomes = [
        RuleOutcome(
            rule="month_not_empty",
            expectation_type="sql: dated rows of the run's month",
            severity="critical",
            success=month_rows > 0,
            element_count=month_rows,
            observed_value=f"{month_rows} rows in {batch_month:%Y-%m}",
        )
    ]
    cur.execute(
        "select count(*), avg(source_rows) from ops.loaded_month"
        " where month >= %s and month < %s and source_rows > 0",
        (add_months(batch_month, -settings.volume_trailing_months), batch_month),
    )
    trailing, mean = cur.fetchone()
    if trailing:
        ratio = month_rows / float(mean)
        observed = (
            f"{month_rows} rows, {ratio:.2f} times the mean of the {trailing} trailing "
            f"month(s) loaded ({float(mean):.0f}); band {settings.volume_min_ratio:g} to "
            f"{settings.volume_max_ratio:g}"
        )
        in_band = settings.volume_min_ratio <= ratio <= settings.volume_max_ratio
    else:
        observed = f"{month_rows} rows; no trailing month loaded yet to compare with"
        in_band = True
    outcomes.append(
        RuleOutcome(
            rule="row_volume_within_band",
            expectation_type="sql: month rows against the mean of ops.loaded_month",
            severity=settings.volume_severity,
            success=in_band,
            element_count=month_rows,
            observed_value=observed,
        )
    )
    if newest is None:
        fresh, observed = True, "no dated rows to judge by"
    else:
        gap_days = (month_end - newest).total_seconds() / 86400
        fresh = gap_days <= settings.freshness_days
        observed = (
            f"newest row {newest.isoformat()}, {gap_days:.1f} days before the month's end "
            f"(limit {settings.freshness_days})"
        )
    outcomes.append(
        RuleOutcome(
            rule="source_fresh",
            expectation_type="sql: newest row of the run's month against its end",
            severity="warning",
            success=fresh,
            element_count=month_rows,
            observed_value=observed,
        )
    )
    return outcomes


def currency_outcome(cur: psycopg2.extensions.cursor, staging_table: str) -> RuleOutcome:
    """Warn when the accepted rows of a batch carry more than one currency.

    Revenue sums amounts as they are, with no conversion, so a batch whose
    accepted rows switch currency (say GBP, then EUR within a month) mixes
    units in every sum. Each currency is accepted on its own by
    ``currency_accepted``; this rule makes the mix visible.
    """
    cur.execute(
        db.sql.SQL(
            "select currency, count(*) from {} where cardinality(quarantine_rules) = 0"
            " and currency is not null group by currency order by currency"
        ).format(db.identifier(staging_table))
    )
    counts = cur.fetchall()
    listed = ", ".join(f"{currency} {rows} rows" for currency, rows in counts) or "no rows"
    mixed = len(counts) > 1
    return RuleOutcome(
        rule="single_currency",
        expectation_type="sql: currencies of the accepted rows",
        severity="warning",
        success=not mixed,
        element_count=sum(rows for _, rows in counts),
        observed_value=(
            f"{listed}; revenue sums these amounts without conversion" if mixed else listed
        ),
    )


def _mark_rule(cur, staging_table: str, rule: Rule, outcome: RuleOutcome) -> None:
    cur.execute(
        db.sql.SQL(
            "update {} set quarantine_rules = array_append(quarantine_rules, %(rule)s)"
            " where staging_row_id = any(%(ids)s::bigint[])"
        ).format(db.identifier(staging_table)),
        {"rule": rule.name, "ids": outcome.unexpected_ids},
    )


def write_quarantine(
    cur: psycopg2.extensions.cursor,
    staging_table: str,
    batch_month: dt.date,
    window_first_month: dt.date,
    rules: list[Rule],
    run_id: str,
    settings: Settings,
) -> dict[str, int]:
    """Replace the quarantine rows of the batch's months with the rows marked in staging."""
    # A missing value needs no quoting in the reason, so not-null rules name no column.
    descriptions = {
        rule.name: (None if rule.name.endswith("_not_null") else rule.column, rule.description)
        for rule in rules
    }
    descriptions["duplicate_row"] = (
        "source_row_id",
        "is an exact copy of an earlier row of the batch; the first copy was loaded",
    )
    descriptions["source_row_id_unique"] = (
        "source_row_id",
        "is the id of more than one row of the batch; all of them are quarantined because "
        "the correct row is unknown. Fix the ids in the source and rerun the month",
    )
    columns, texts = zip(*descriptions.values(), strict=True)
    db.execute_file(
        cur,
        "validate/write_quarantine.sql",
        {
            "window_first_month": window_first_month,
            "batch_month": batch_month,
            "business_timezone": settings.business_timezone,
            "run_id": run_id,
            "rule_names": list(descriptions),
            "rule_columns": [column or "" for column in columns],
            "rule_descriptions": list(texts),
        },
        staging_table=staging_table,
    )
    cur.execute(
        "select rule, count(*) from quarantine.transactions"
        " where run_id = %s and (occurred_month between %s and %s or occurred_month is null)"
        " group by rule order by rule",
        (run_id, window_first_month, batch_month),
    )
    return dict(cur.fetchall())


def record_outcomes(
    cur: psycopg2.extensions.cursor,
    run_id: str,
    batch_month: dt.date,
    outcomes: list[RuleOutcome],
    engine: str,
) -> None:
    cur.execute(
        "delete from ops.validation_result where run_id = %s and batch_month = %s",
        (run_id, batch_month),
    )
    for outcome in outcomes:
        cur.execute(
            "insert into ops.validation_result (run_id, batch_month, rule, expectation_type, severity,"
            " success, element_count, unexpected_count, observed_value, exception_message,"
            " engine) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                run_id,
                batch_month,
                outcome.rule,
                outcome.expectation_type,
                outcome.severity,
                outcome.success,
                outcome.element_count,
                outcome.unexpected_count,
                outcome.observed_value,
                outcome.exception_message,
                engine,
            ),
        )


def validate_batch(
    warehouse_dsn: str,
    staging_table: str,
    batch_month: dt.date,
    window_first_month: dt.date,
    settings: Settings,
    run_id: str,
) -> dict[str, Any]:
    """Validate a staged batch, quarantine failing rows and stop on a critical failure.

    Returns the counts the run report needs. Raises DataQualityError, after the
    results are stored, when a critical rule fails.
    """
    window_start = month_start(window_first_month, settings.business_timezone)
    window_end = month_start(add_months(batch_month, 1), settings.business_timezone)
    rules = build_rules(settings, window_start, window_end)
    outcomes = run_expectations(
        warehouse_dsn,
        staging_table,
        rules,
        settings.output_dir / "data_docs" / f"{batch_month:%Y-%m}",
        run_id,
        settings.validation_engine,
    )
    with db.transaction(warehouse_dsn) as cur:
        # A second run of the month validating the same staging table waits here,
        # then clears and redoes the marks, instead of adding its marks to ours.
        cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"validate {staging_table}",))
        # Clears marks of an earlier attempt on the same batch. A fresh staging table
        # has none, and rewriting every row would cost more than the validation.
        cur.execute(
            db.sql.SQL(
                "update {} set quarantine_rules = '{{}}' where cardinality(quarantine_rules) > 0"
            ).format(db.identifier(staging_table))
        )
        cur.execute("set local work_mem = '64MB'")
        for rule, outcome in zip(rules, outcomes, strict=True):
            if rule.row_level and outcome.unexpected_ids:
                _mark_rule(cur, staging_table, rule, outcome)
        outcomes.append(mark_duplicates(cur, staging_table))
        outcomes.append(mark_repeated_ids(cur, staging_table))
        quarantined_by_rule = write_quarantine(
            cur, staging_table, batch_month, window_first_month, rules, run_id, settings
        )
        cur.execute(
            db.sql.SQL(
                "select count(*), count(*) filter (where cardinality(quarantine_rules) > 0) from {}"
            ).format(db.identifier(staging_table))
        )
        rows_read, rows_quarantined = cur.fetchone()
        share = rows_quarantined / rows_read if rows_read else 0.0
        outcomes.extend(month_outcomes(cur, staging_table, batch_month, settings))
        outcomes.append(currency_outcome(cur, staging_table))
        observed = f"{share:.4%} (limit {settings.max_quarantine_share:.2%})"
        if quarantined_by_rule:
            # Lists the rules behind the share, so the message of a stopped run names what to fix.
            by_rule = ", ".join(f"{rule} {count}" for rule, count in quarantined_by_rule.items())
            observed = f"{observed}; quarantine rows by rule: {by_rule}"
        outcomes.append(
            RuleOutcome(
                rule="quarantine_share_within_limit",
                expectation_type="sql: share of quarantined rows",
                severity="critical",
                success=share <= settings.max_quarantine_share,
                element_count=rows_read,
                unexpected_count=rows_quarantined,
                observed_value=observed,
            )
        )
        record_outcomes(cur, run_id, batch_month, outcomes, settings.validation_engine)
    _log_outcomes(outcomes, staging_table)
    broken = [o for o in outcomes if o.exception_message]
    if broken:
        raise ValidationCheckError(
            _check_error_message(broken, staging_table, batch_month, run_id, settings)
        )
    failed = [o for o in outcomes if o.severity == "critical" and not o.success]
    if failed:
        raise DataQualityError(_failure_message(failed, staging_table, batch_month, run_id))
    return {
        "rows_read": rows_read,
        "rows_quarantined": rows_quarantined,
        "quarantined_by_rule": quarantined_by_rule,
        "warnings": [o.rule for o in outcomes if o.severity == "warning" and not o.success],
    }


def _log_outcomes(outcomes: list[RuleOutcome], staging_table: str) -> None:
    for outcome in outcomes:
        if outcome.exception_message:
            log.error(
                "Rule %s could not be checked on %s: %s",
                outcome.rule,
                staging_table,
                outcome.exception_message,
            )
        elif not outcome.success and outcome.unexpected_count is None:
            log.warning(
                "Rule %s (%s) failed on %s: %s",
                outcome.rule,
                outcome.severity,
                staging_table,
                outcome.observed_value,
            )
        elif not outcome.success:
            log.warning(
                "Rule %s (%s) failed on %s: %s unexpected of %s, observed %s",
                outcome.rule,
                outcome.severity,
                staging_table,
                outcome.unexpected_count,
                outcome.element_count,
                outcome.observed_value,
            )
        else:
            log.info("Rule %s passed on %s", outcome.rule, staging_table)


def _check_error_message(
    broken: list[RuleOutcome],
    staging_table: str,
    batch_month: dt.date,
    run_id: str,
    settings: Settings,
) -> str:
    lines = [
        f"Validation of {batch_month:%Y-%m} ({settings.validation_engine} engine) could not "
        f"evaluate {len(broken)} rule(s); this is an error of the check, not of the data:"
    ]
    lines.extend(f"- {outcome.rule}: {outcome.exception_message}" for outcome in broken)
    lines.append(
        f"These rules quarantined no row and nothing was loaded. The results are in "
        f"ops.validation_result where run_id = {json.dumps(run_id)} and the batch is kept in "
        f"{staging_table}. Fix the cause above (a missing column, a type the rule cannot "
        f"compare, a lost connection) and rerun the month."
    )
    return "\n".join(lines)


def _failure_message(
    failed: list[RuleOutcome], staging_table: str, batch_month: dt.date, run_id: str
) -> str:
    lines = [f"Data-quality check of {batch_month:%Y-%m} failed ({len(failed)} critical rule(s)):"]
    for outcome in failed:
        if outcome.exception_message:
            lines.append(
                f"- {outcome.rule}: the check itself raised an error: {outcome.exception_message}"
            )
        elif outcome.unexpected_count is None:
            # Table-level rules such as a row count report only an observed value.
            lines.append(f"- {outcome.rule}: observed {outcome.observed_value}")
        else:
            lines.append(
                f"- {outcome.rule}: {outcome.unexpected_count} unexpected of {outcome.element_count} "
                f"rows, observed {outcome.observed_value}"
            )
    lines.append(
        f"Full results: ops.validation_result where run_id = {json.dumps(run_id)}; "
        f"the batch is kept in {staging_table} and failing rows in quarantine.transactions."
    )
    return "\n".join(lines)
