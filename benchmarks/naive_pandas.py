"""The naive way to compute cohorts, shared by the benchmarks: every row in pandas."""

from __future__ import annotations

import pandas as pd


def purchase_lines(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop exact duplicates (ignoring the line id) and keep purchases with a customer id.

    The rules are the pipeline's defaults: quantity > 0, unit price > 0, and an
    order id that starts with neither the return prefix C nor the adjustment prefix A.
    """
    content = [column for column in frame.columns if column != "invoice_line_id"]
    frame = frame.drop_duplicates(subset=content)
    return frame[
        (frame["quantity"] > 0)
        & (frame["unit_price"] > 0)
        & ~frame["invoice_no"].str.startswith(("C", "A"))
        & frame["customer_id"].notna()
    ]
