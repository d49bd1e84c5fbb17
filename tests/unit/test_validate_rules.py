"""The rule set and the GX result format, without a database."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

from cohortintel import validate
from cohortintel.config import Settings
from cohortintel.validate import _row_ids, build_rules, result_format

WINDOW = (
    dt.datetime(2011, 6, 30, 23, tzinfo=dt.UTC),
    dt.datetime(2011, 7, 31, 23, tzinfo=dt.UTC),
)


def test_default_rules_check_currency_and_customer():
    names = [rule.name for rule in build_rules(Settings(), *WINDOW)]
    assert "currency_not_null" in names
    assert "customer_id_format" in names


def test_empty_pattern_drops_customer_rule():
    settings = dataclasses.replace(Settings(), customer_id_pattern="")
    names = [rule.name for rule in build_rules(settings, *WINDOW)]
    assert "customer_id_format" not in names


def test_result_format_lists_every_row():
    assert result_format(84711)["partial_unexpected_count"] == 84711
    # An empty batch gets a count of 1, never a SQL LIMIT 0.
    assert result_format(0)["partial_unexpected_count"] == 1
    assert result_format(10)["unexpected_index_column_names"] == ["staging_row_id"]
    assert result_format(10)["exclude_unexpected_values"] is True


def test_row_ids_read_both_shapes():
    assert _row_ids([{"staging_row_id": [3, np.int64(5)]}]) == [3, 5]
    assert _row_ids([{"staging_row_id": 3, "unit_price": -1}, {"staging_row_id": 7}]) == [3, 7]
    assert _row_ids([]) == []
    assert all(type(row_id) is int for row_id in _row_ids([{"staging_row_id": [np.int64(9)]}]))


def test_table_rule_message_without_counts():
    outcomes = [
        validate.RuleOutcome(
            "month_not_empty",
            "expect_table_row_count",
            "critical",
            False,
            observed_value="0 rows in 2015-01",
        ),
        validate.RuleOutcome(
            "quantity_finite",
            "expect_column_values",
            "critical",
            False,
            element_count=10,
            unexpected_count=2,
            observed_value="2",
        ),
    ]

    message = validate._failure_message(
        outcomes, "staging.transactions_2015_01", dt.date(2015, 1, 1), "run"
    )

    assert "- month_not_empty: observed 0 rows in 2015-01" in message
    assert "- quantity_finite: 2 unexpected of 10 rows, observed 2" in message
    assert "None" not in message
