"""Command-line arguments are checked before anything is set up."""

from __future__ import annotations

import pytest

from cohortintel.cli import build_parser, main


def test_demo_month_arguments_normalised():
    args = build_parser().parse_args(["demo", "--first", "2011-01-01", "--last", "2011-03"])
    assert args.first == "2011-01"
    assert args.last == "2011-03"


def test_invalid_month_argument_rejected(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--first", "2011-13"])
    assert "Invalid month '2011-13'" in capsys.readouterr().err


def test_subcommand_required(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([])
    assert "demo" in capsys.readouterr().err


def test_demo_monthly_sales_folder_option():
    args = build_parser().parse_args(["demo", "--monthly-sales-data", "series"])
    assert args.monthly_sales_data == "series"
    assert build_parser().parse_args(["demo"]).monthly_sales_data is None


@pytest.mark.postgres
def test_run_month_without_databases_says_run_demo(monkeypatch, capsys):
    monkeypatch.setenv("COHORTINTEL_DATABASE_PREFIX", "cohortintel_test_absent")
    assert main(["run-month", "2011-01"]) == 2
    error = capsys.readouterr().err
    assert "cohortintel_test_absent_warehouse" in error
    assert "cohortintel demo" in error
