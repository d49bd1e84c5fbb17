"""Command-line arguments are checked before anything is set up."""

from __future__ import annotations

import pytest

from cohortintel.cli import build_parser


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
