"""Command-line arguments are checked before anything is set up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cohortintel.cli import build_parser, check_within_source, first_error_lines, main


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


def test_sigterm_reaches_child_process(tmp_path):
    pid_file = tmp_path / "child.pid"
    child_code = (
        "import os, pathlib, time; "
        f"pathlib.Path({str(pid_file)!r}).write_text(str(os.getpid())); time.sleep(120)"
    )
    parent_code = textwrap.dedent(
        f"""
        import sys
        from cohortintel.cli import run_child
        result = run_child([sys.executable, "-c", {child_code!r}])
        print(result.returncode)
        """
    )
    include = str(Path(__file__).resolve().parents[2] / "include")
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": include},
    )
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the child process never started"
            time.sleep(0.1)
        child_pid = int(pid_file.read_text())

        parent.send_signal(signal.SIGTERM)
        stdout, _ = parent.communicate(timeout=60)
    finally:
        if parent.poll() is None:
            parent.kill()

    # The parent survived the signal, passed it on, and saw the child end on it.
    assert parent.returncode == 0
    assert stdout.strip() == str(-signal.SIGTERM)
    with pytest.raises(ProcessLookupError):
        os.kill(child_pid, 0)


@pytest.mark.parametrize("month", ["2010-11", "2015-01"])
def test_month_outside_source_rejected(month):
    with pytest.raises(ValueError) as caught:
        check_within_source("--first", month, "2010-12", "2011-12")

    message = str(caught.value)
    assert f"--first {month} is outside the source data" in message
    assert "covers 2010-12 to 2011-12" in message


def test_month_inside_source_accepted():
    check_within_source("month", "2011-06", "2010-12", "2011-12")
    check_within_source("--last", None, "2010-12", "2011-12")


def test_first_error_found_before_later_output():
    lines = [
        "[2026-12-05] INFO - Extracted 0 rows",
        "cohortintel.validate.DataQualityError: Data-quality check of 2015-01 failed",
        "- batch_not_empty: observed 0",
        *[f"[2026-12-05] INFO - monthly series {k} fitted" for k in range(60)],
    ]

    found = first_error_lines(lines, following=1)

    assert found == lines[1:3]
    assert first_error_lines(["INFO - all fine", "ErrorCount: 0 is not an exception"]) == []
