"""Flag cohorts whose newest closed month fell below what was expected of them.

Two rules, each checked on a cohort's cell in the as-of month (month 1 or later
since the first purchase):

- ``below_projected_band``: the active rate is under the lower end of the 80 %
  interval that the previous as-of month's projection gave that cell.
- ``below_older_cohorts``: the active rate is under the lowest rate of every
  older cohort of the segment at the same month since first purchase, when at
  least ``min_reference_cohorts`` older cohorts exist.

``at_risk_cohorts`` returns the stored flags of an as-of month. It is the one
entry point meant for alerting.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from cohortintel import db

RULE_BELOW_BAND = "below_projected_band"
RULE_BELOW_OLDER = "below_older_cohorts"

AT_RISK_COLUMNS = (
    "cohort_month",
    "rule",
    "months_since_first_purchase",
    "activity_month",
    "cohort_size",
    "observed_rate",
    "expected_rate",
    "band_lower",
    "band_upper",
    "shortfall",
    "reference_as_of_month",
    "reference_cohorts",
)


def _newest_cells(observed: pd.DataFrame, as_of_month: dt.date) -> pd.DataFrame:
    newest = observed[
        (observed["activity_month"] == as_of_month) & (observed["months_since_first_purchase"] >= 1)
    ]
    return newest[
        [
            "cohort_month",
            "months_since_first_purchase",
            "activity_month",
            "cohort_size",
            "retention_rate",
        ]
    ].rename(columns={"retention_rate": "observed_rate"})


def below_projected_band(newest: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Return the newest cells under the lower 80 % bound of the previous projection."""
    if newest.empty or previous.empty:
        return pd.DataFrame(columns=AT_RISK_COLUMNS)
    joined = newest.merge(
        previous[
            [
                "cohort_month",
                "months_since_first_purchase",
                "as_of_month",
                "retention_rate",
                "retention_rate_lower_80",
                "retention_rate_upper_80",
            ]
        ],
        on=["cohort_month", "months_since_first_purchase"],
    )
    flagged = joined[joined["observed_rate"] < joined["retention_rate_lower_80"]]
    return pd.DataFrame(
        {
            "cohort_month": flagged["cohort_month"],
            "rule": RULE_BELOW_BAND,
            "months_since_first_purchase": flagged["months_since_first_purchase"],
            "activity_month": flagged["activity_month"],
            "cohort_size": flagged["cohort_size"],
            "observed_rate": flagged["observed_rate"],
            "expected_rate": flagged["retention_rate"],
            "band_lower": flagged["retention_rate_lower_80"],
            "band_upper": flagged["retention_rate_upper_80"],
            "shortfall": flagged["retention_rate_lower_80"] - flagged["observed_rate"],
            "reference_as_of_month": flagged["as_of_month"],
            "reference_cohorts": None,
        },
        columns=AT_RISK_COLUMNS,
    )


def below_older_cohorts(
    newest: pd.DataFrame, observed: pd.DataFrame, min_reference_cohorts: int
) -> pd.DataFrame:
    """Return the newest cells under every older cohort's rate at the same age."""
    rows = []
    for cell in newest.itertuples(index=False):
        older = observed[
            (observed["cohort_month"] < cell.cohort_month)
            & (observed["months_since_first_purchase"] == cell.months_since_first_purchase)
        ]
        if len(older) < min_reference_cohorts:
            continue
        lowest = float(older["retention_rate"].min())
        if cell.observed_rate >= lowest:
            continue
        weighted = float(
            (older["retention_rate"] * older["cohort_size"]).sum() / older["cohort_size"].sum()
        )
        rows.append(
            {
                "cohort_month": cell.cohort_month,
                "rule": RULE_BELOW_OLDER,
                "months_since_first_purchase": cell.months_since_first_purchase,
                "activity_month": cell.activity_month,
                "cohort_size": cell.cohort_size,
                "observed_rate": cell.observed_rate,
                "expected_rate": weighted,
                "band_lower": lowest,
                "band_upper": float(older["retention_rate"].max()),
                "shortfall": lowest - cell.observed_rate,
                "reference_as_of_month": None,
                "reference_cohorts": len(older),
            }
        )
    return pd.DataFrame(rows, columns=AT_RISK_COLUMNS)


def flag_at_risk(
    observed: pd.DataFrame,
    previous: pd.DataFrame,
    as_of_month: dt.date,
    min_reference_cohorts: int = 3,
) -> pd.DataFrame:
    """Return one row per at-risk cohort of a segment and rule that fired.

    ``observed`` has one segment's closed cells (``cohort_month``,
    ``months_since_first_purchase``, ``activity_month``, ``cohort_size``,
    ``retention_rate``). ``previous`` has the previous as-of month's projected rows of
    the same segment for the cells ``as_of_month`` closes (the columns of
    ``marts.retention_projection``), and may be empty.
    """
    if min_reference_cohorts < 1:
        raise ValueError(
            f"min_reference_cohorts must be 1 or more, got {min_reference_cohorts}; the default is 3."
        )
    newest = _newest_cells(observed, as_of_month)
    frames = [
        frame
        for frame in (
            below_projected_band(newest, previous),
            below_older_cohorts(newest, observed, min_reference_cohorts),
        )
        if not frame.empty
    ]
    if not frames:
        return pd.DataFrame(columns=AT_RISK_COLUMNS)
    return pd.concat(frames, ignore_index=True).sort_values(
        ["cohort_month", "rule"], ignore_index=True
    )


def at_risk_cohorts(warehouse_dsn: str, as_of_month: dt.date | None = None) -> list[dict]:
    """Return the at-risk cohorts stored for ``as_of_month`` (default: the newest as-of month).

    Each row is a dict with the columns of ``marts.retention_at_risk``, ordered by
    shortfall, largest first. The list is empty when nothing was flagged.
    """
    with db.transaction(warehouse_dsn) as cur:
        if as_of_month is None:
            cur.execute("select max(as_of_month) from marts.retention_projection")
            (as_of_month,) = cur.fetchone()
            if as_of_month is None:
                return []
        cur.execute(
            "select * from marts.retention_at_risk where as_of_month = %s"
            " order by shortfall desc, segment_type, segment, cohort_month, rule",
            (as_of_month,),
        )
        columns = [column.name for column in cur.description]
        return [dict(zip(columns, row, strict=True)) for row in cur.fetchall()]
