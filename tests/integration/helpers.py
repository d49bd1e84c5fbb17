"""Helpers that write tiny hand-made tables into a test warehouse."""

from __future__ import annotations

import datetime as dt

from cohortintel import db


def insert_transactions(dsn: str, rows: list[tuple]) -> None:
    """Insert rows of (source_row_id, order_id, customer_id, local_time, quantity, unit_price, line_kind[, country]).

    ``local_time`` is a naive ``YYYY-MM-DD HH:MM`` string in Europe/London;
    the month is derived in SQL the same way the load step derives it. The
    country defaults to United Kingdom.
    """
    with db.transaction(dsn) as cur:
        for row in rows:
            source_row_id, order_id, customer_id, local_time, quantity, unit_price, line_kind = row[
                :7
            ]
            country = row[7] if len(row) > 7 else "United Kingdom"
            cur.execute(
                "insert into core.transactions (source_row_id, order_id, customer_id, occurred_at,"
                " occurred_month, quantity, unit_price, amount, currency, country, line_kind,"
                " loaded_by_run_id)"
                " select %(id)s, %(order)s, %(customer)s, ts, date_trunc('month', ts at time zone"
                " 'Europe/London')::date, %(quantity)s, %(price)s, %(quantity)s * %(price)s, 'GBP',"
                " %(country)s, %(kind)s, 'test'"
                " from (select %(local)s::timestamp at time zone 'Europe/London' as ts) as t",
                {
                    "id": source_row_id,
                    "order": order_id,
                    "customer": customer_id,
                    "local": local_time,
                    "quantity": quantity,
                    "price": unit_price,
                    "kind": line_kind,
                    "country": country,
                },
            )


def set_month_status(dsn: str, statuses: dict[str, bool]) -> None:
    """Record months ("YYYY-MM") as closed (True) or not closed yet (False)."""
    with db.transaction(dsn) as cur:
        for month, is_complete in statuses.items():
            cur.execute(
                "insert into ops.month_status (month, is_complete, checked_by_run_id)"
                " values (%s, %s, 'test') on conflict (month) do update set is_complete = excluded.is_complete",
                (dt.date.fromisoformat(month + "-01"), is_complete),
            )


def fetch(dsn: str, query: str, params: tuple = ()) -> list[tuple]:
    with db.transaction(dsn) as cur:
        cur.execute(query, params)
        return cur.fetchall()
