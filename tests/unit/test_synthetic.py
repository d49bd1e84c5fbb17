"""Synthetic Online Retail transactions: format, determinism and the shape of the simulated shop."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import io
from pathlib import Path

import pandas as pd
import pytest

from cohortintel.source import EXPECTED_HEADER
from cohortintel.synthetic import (
    SyntheticConfig,
    expected_new_customers,
    main,
    write_transactions,
    write_transactions_file,
)

CONFIG = SyntheticConfig(rows=120_000, seed=7)


def generate(config: SyntheticConfig) -> tuple[bytes, int]:
    buffer = io.BytesIO()
    rows = write_transactions(config, buffer)
    return buffer.getvalue(), rows


def read_csv(data: bytes) -> pd.DataFrame:
    frame = pd.read_csv(
        io.BytesIO(data),
        dtype={"InvoiceNo": str, "StockCode": str, "Description": str, "Country": str},
        keep_default_na=False,
        na_values={"CustomerID": [""]},
    )
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"], format="%Y-%m-%d %H:%M:%S")
    frame["CustomerID"] = frame["CustomerID"].astype("Int64")
    first = CONFIG.first_month
    frame["month"] = (frame["InvoiceDate"].dt.year - first.year) * 12 + (
        frame["InvoiceDate"].dt.month - first.month
    )
    frame["cancellation"] = frame["InvoiceNo"].str.startswith("C")
    return frame


@pytest.fixture(scope="module")
def output() -> tuple[bytes, int]:
    return generate(CONFIG)


@pytest.fixture(scope="module")
def frame(output: tuple[bytes, int]) -> pd.DataFrame:
    return read_csv(output[0])


def test_header_matches_online_retail(output):
    data, _ = output
    header = data.split(b"\n", 1)[0].decode("ascii")
    assert header.split(",") == EXPECTED_HEADER
    assert (
        header
        == "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
    )


def test_row_formats_match_online_retail(output):
    data, _ = output
    lines = data.decode("ascii").splitlines()[1:]
    pattern = (
        r"^C?\d{6,},\d{5}[A-Z]?,[A-Z][A-Z -]*,-?\d+,"
        r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d+\.\d{1,2},\d*,[A-Za-z ]+$"
    )
    matches = pd.Series(lines).str.match(pattern)
    assert matches.all(), lines[int((~matches).idxmax())]


def test_returned_count_matches_written_rows(output, frame):
    _, rows = output
    assert rows == len(frame)


@pytest.mark.parametrize(
    "config",
    [
        CONFIG,
        SyntheticConfig(rows=100_000, seed=1),
        SyntheticConfig(rows=100_000, months=12, seed=2),
        SyntheticConfig(rows=100_000, months=60, seed=3, first_month=dt.date(2010, 12, 1)),
    ],
    ids=["default", "small", "one-year", "five-years"],
)
def test_row_count_near_target(config):
    _, rows = generate(config)
    assert abs(rows - config.rows) <= 0.1 * config.rows, rows


def test_same_seed_gives_same_bytes(output):
    data, _ = output
    again, _ = generate(CONFIG)
    other, _ = generate(dataclasses.replace(CONFIG, seed=8))
    assert again == data
    assert other != data


def test_text_stream_gets_same_text(output):
    data, _ = output
    text = io.StringIO()
    write_transactions(CONFIG, text)
    assert text.getvalue() == data.decode("ascii")


def test_gzip_file_holds_same_csv(output, tmp_path: Path):
    data, rows = output
    plain = tmp_path / "lines.csv"
    compressed = tmp_path / "lines.csv.gz"
    assert write_transactions_file(CONFIG, plain) == rows
    assert write_transactions_file(CONFIG, compressed) == rows
    assert plain.read_bytes() == data
    assert gzip.decompress(compressed.read_bytes()) == data
    # No modification time in the gzip header, so the compressed bytes repeat too.
    first_bytes = compressed.read_bytes()
    write_transactions_file(CONFIG, compressed)
    assert compressed.read_bytes() == first_bytes


def test_other_file_suffix_rejected(tmp_path: Path):
    with pytest.raises(ValueError, match=r"\.csv or \.csv\.gz"):
        write_transactions_file(CONFIG, tmp_path / "lines.txt")


def test_command_line_writes_file(tmp_path: Path, capsys):
    out = tmp_path / "cli.csv.gz"
    assert (
        main(["--rows", "5000", "--months", "6", "--first-month", "2016-03", "--out", str(out)])
        == 0
    )
    frame = read_csv(gzip.decompress(out.read_bytes()))
    assert frame["InvoiceDate"].min() >= pd.Timestamp("2016-03-01")
    assert frame["InvoiceDate"].max() < pd.Timestamp("2016-09-01")
    assert f"Wrote {len(frame)} rows (target 5000)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "change",
    [
        {"rows": 0},
        {"months": 0},
        {"first_month": dt.date(2015, 1, 2)},
        {"guest_share": 1.0},
        {"churn_probability": 1.5},
        {"return_decay": 0.0},
        {"seasonal_multipliers": (1.0,) * 11},
        {"countries": (("Spain, mainland", 1.0),)},
        {"first_invoice_no": 99_999},
    ],
    ids=lambda change: next(iter(change)),
)
def test_invalid_config_rejected(change):
    with pytest.raises(ValueError, match="Invalid"):
        SyntheticConfig(**change)


def test_dates_in_range_and_not_on_saturday(frame):
    assert (frame["InvoiceDate"].dt.day_of_week != 5).all()
    assert frame["InvoiceDate"].min() >= pd.Timestamp("2015-01-01")
    assert frame["InvoiceDate"].max() < pd.Timestamp("2018-01-01")


def test_cancellations_negative_and_others_positive(frame):
    cancelled = frame[frame["cancellation"]]
    orders = frame[~frame["cancellation"]]
    assert len(cancelled) > 0
    assert (cancelled["Quantity"] < 0).all()
    assert (orders["Quantity"] > 0).all()
    assert (frame["UnitPrice"] > 0).all()


def test_cancellation_share_near_configured(frame):
    invoices = frame.drop_duplicates("InvoiceNo")
    share = invoices["cancellation"].sum() / (~invoices["cancellation"]).sum()
    assert share == pytest.approx(CONFIG.cancel_share, abs=0.006)


def test_cancellation_negates_earlier_order(frame):
    # Every cancelled line matches a line of an earlier order of the same
    # customer with the same product and price and the opposite quantity.
    cancelled = frame[frame["cancellation"]].drop_duplicates(["InvoiceNo", "StockCode"])
    orders = frame[~frame["cancellation"]].drop_duplicates(["InvoiceNo", "StockCode"])
    matched = cancelled.assign(Quantity=-cancelled["Quantity"]).merge(
        orders,
        on=["StockCode", "Quantity", "UnitPrice", "CustomerID", "Country"],
        suffixes=("_cancel", "_order"),
    )
    delay = matched["InvoiceDate_cancel"] - matched["InvoiceDate_order"]
    matched = matched[(delay > pd.Timedelta(0)) & (delay < pd.Timedelta(days=28))]
    matched_lines = matched.drop_duplicates(["InvoiceNo_cancel", "StockCode"])
    assert len(matched_lines) == len(cancelled)


def test_invoice_numbers_increase_with_time(frame):
    invoices = frame.drop_duplicates("InvoiceNo").copy()
    invoices["number"] = invoices["InvoiceNo"].str.lstrip("C").astype(int)
    invoices = invoices.sort_values("number")
    assert invoices["number"].is_unique
    assert invoices["number"].min() >= 100_000
    assert invoices["InvoiceDate"].is_monotonic_increasing
    # One date, customer and country per invoice.
    per_invoice = frame.groupby("InvoiceNo")[["InvoiceDate", "Country"]].nunique()
    assert (per_invoice == 1).all().all()
    assert (frame.groupby("InvoiceNo")["CustomerID"].nunique(dropna=False) == 1).all()


def test_guest_share_near_configured(frame):
    orders = frame[~frame["cancellation"]].drop_duplicates("InvoiceNo")
    share = orders["CustomerID"].isna().mean()
    assert share == pytest.approx(CONFIG.guest_share, abs=0.02)


def test_duplicate_share_near_configured(frame):
    share = frame.drop(columns=["month", "cancellation"]).duplicated().mean()
    assert share == pytest.approx(CONFIG.duplicate_share, abs=0.002)


def test_customer_keeps_one_country(frame):
    countries = frame.dropna(subset=["CustomerID"]).groupby("CustomerID")["Country"].nunique()
    assert (countries == 1).all()
    # Country weights are skewed toward the United Kingdom.
    customer_country = frame.dropna(subset=["CustomerID"]).drop_duplicates("CustomerID")
    assert customer_country["Country"].value_counts(normalize=True)["United Kingdom"] > 0.75
    assert customer_country["Country"].nunique() > 3


def test_new_customers_every_month(frame):
    first_month = frame.dropna(subset=["CustomerID"]).groupby("CustomerID")["month"].min()
    assert set(first_month) == set(range(CONFIG.months))
    # New customers grow slowly: the last year brings more than the first.
    per_month = first_month.value_counts().sort_index()
    assert per_month.iloc[-12:].sum() > per_month.iloc[:12].sum()


def test_new_customer_means_grow_by_configured_rate():
    means = expected_new_customers(CONFIG)
    assert len(means) == CONFIG.months
    assert means[1] / means[0] == pytest.approx(1 + CONFIG.new_customer_growth)


def test_retention_decays_with_cohort_age(frame):
    # A customer is active in a month with at least one order that is not a cancellation.
    orders = frame[~frame["cancellation"]].dropna(subset=["CustomerID"])
    active = orders[["CustomerID", "month"]].drop_duplicates()
    first = active.groupby("CustomerID")["month"].min().rename("first")
    # Cohorts old enough to be seen 12 months after their first purchase.
    cohort = first[first <= CONFIG.months - 13]
    active = active.join(cohort, on="CustomerID", how="inner")
    age = active["month"] - active["first"]
    after_1 = (age == 1).sum() / len(cohort)
    after_12 = (age == 12).sum() / len(cohort)
    assert len(cohort) > 500
    # Without churn and decay both shares would be near return_probability.
    assert after_12 < 0.75 * after_1
    assert after_12 > 0


def test_revenue_per_customer_peaks_in_november_december(frame):
    lines = frame.dropna(subset=["CustomerID"])
    lines = lines[~lines["cancellation"]]
    revenue = (lines["Quantity"] * lines["UnitPrice"]).groupby(lines["month"]).sum()
    customers = lines.groupby("month")["CustomerID"].nunique()
    per_customer = revenue / customers
    calendar_month = (per_customer.index + CONFIG.first_month.month - 1) % 12 + 1
    peak = per_customer[(calendar_month == 11) | (calendar_month == 12)]
    rest = per_customer[(calendar_month != 11) & (calendar_month != 12)]
    assert peak.mean() > 1.1 * rest.mean()
    assert peak.min() > rest.median()
