"""Monthly sales CSV files are checked line by line before anything is loaded."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from cohortintel.source import MonthlySalesFileError, monthly_series_id, read_monthly_sales_csv


def write(tmp_path: Path, text: str, name: str = "shop.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_monthly_csv_read_in_file_order(tmp_path):
    path = write(tmp_path, "period,value\n2011-02,12.5\n2011-01, 10\n")
    assert read_monthly_sales_csv(path) == [
        (dt.date(2011, 2, 1), "12.5"),
        (dt.date(2011, 1, 1), "10"),
    ]


def test_monthly_csv_byte_order_mark_accepted(tmp_path):
    path = tmp_path / "shop.csv"
    path.write_text("period,value\n2011-01,1\n", encoding="utf-8-sig")
    assert read_monthly_sales_csv(path) == [(dt.date(2011, 1, 1), "1")]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        # Month 13 does not exist.
        ("period,value\n2011-01,1\n2011-13,5\n", "line 3: invalid month '2011-13'"),
        # A full date is not the YYYY-MM form.
        ("period,value\n2011-01-01,5\n", "line 2: invalid month '2011-01-01'"),
        (
            "period,value\n2011-01,1\n2011-01,2\n",
            "line 3: duplicate period '2011-01', already on line 2",
        ),
        ("period,value\n2011-01,n/a\n", "line 2: invalid value 'n/a'"),
        ("period,value\n2011-01,\n", "line 2: invalid value ''"),
        # NaN parses as a float, but it is no sales figure.
        ("period,value\n2011-01,NaN\n", "line 2: invalid value 'NaN'"),
        ("period,value\n2011-01,1,2\n", "line 2: expected 2 fields (period,value), found 3"),
        ("period\n2011-01\n", "line 1: missing column(s) value; found period"),
        ("value,period\n1,2011-01\n", "line 1: unexpected header; found value, period"),
        ("", "line 1: missing column(s) period, value; found no column"),
    ],
)
def test_monthly_csv_error_names_line_and_value(tmp_path, text, fragment):
    path = write(tmp_path, text)
    with pytest.raises(MonthlySalesFileError) as caught:
        read_monthly_sales_csv(path)
    assert str(path) in str(caught.value)
    assert fragment in str(caught.value)


def test_series_id_is_file_stem():
    assert monthly_series_id(Path("data/fpp2_a10.csv")) == "fpp2_a10"


def test_invalid_series_id_rejected():
    with pytest.raises(MonthlySalesFileError, match="not a valid series id"):
        monthly_series_id(Path("data/shop sales.csv"))
