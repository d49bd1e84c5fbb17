"""PostgreSQL access: connections, SQL files from include/sql, and schema migrations."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions
from psycopg2 import sql

from cohortintel.config import SQL_DIR, ConfigError

log = logging.getLogger(__name__)

# Serialises migrations when several workers start at once; any constant
# bigint works, this one spells "cohort" in hex-ish digits.
MIGRATION_LOCK_ID = 0x00C0_4027
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def connect(dsn: str, application_name: str = "cohortintel") -> psycopg2.extensions.connection:
    """Open a connection; ``dsn`` is a libpq connection string or URI."""
    return psycopg2.connect(dsn, application_name=application_name)


@contextlib.contextmanager
def transaction(dsn: str) -> Iterator[psycopg2.extensions.cursor]:
    """Yield a cursor inside one transaction that commits on success and rolls back on error."""
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            yield cur
        conn.commit()
    except BaseException:
        # A connection that the server terminated is closed already, and rolling it
        # back would replace the server's error with "connection already closed".
        if not conn.closed:
            conn.rollback()
        raise
    finally:
        conn.close()


def identifier(name: str) -> sql.Composable:
    """Quote a possibly schema-qualified name after checking it is a plain identifier."""
    parts = name.split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.match(part) for part in parts):
        raise ConfigError(
            f"Invalid SQL identifier {name!r}; use letters, digits and underscores, "
            f"optionally as schema.table."
        )
    return sql.Identifier(*parts)


def read_sql(relative_path: str) -> str:
    """Return the text of a file under include/sql."""
    path = (SQL_DIR / relative_path).resolve()
    if SQL_DIR.resolve() not in path.parents:
        raise ConfigError(f"SQL file {relative_path!r} is outside {SQL_DIR}.")
    if not path.is_file():
        raise ConfigError(f"SQL file {relative_path!r} not found under {SQL_DIR}.")
    return path.read_text(encoding="utf-8")


def render_sql(relative_path: str, **identifiers: str) -> sql.Composed:
    """Load a SQL file and fill its ``{name}`` placeholders with quoted identifiers.

    Only identifiers are templated; values are passed as bound parameters by
    the caller, so nothing from configuration or data is pasted into the text.
    """
    text = read_sql(relative_path)
    return sql.SQL(text).format(**{key: identifier(value) for key, value in identifiers.items()})


def execute_file(
    cur: psycopg2.extensions.cursor,
    relative_path: str,
    params: Mapping[str, Any] | None = None,
    **identifiers: str,
) -> None:
    """Run a SQL file with bound parameters in the cursor's transaction."""
    cur.execute(render_sql(relative_path, **identifiers), params)


def migrate(dsn: str, migrations_dir: Path | None = None) -> list[str]:
    """Apply the versioned SQL migrations not yet recorded in ``ops.schema_migration``.

    Each file runs in its own transaction together with its bookkeeping row,
    under an advisory lock, so concurrent callers apply each version once.
    Returns the versions applied by this call.
    """
    folder = migrations_dir or SQL_DIR / "migrations"
    applied_now: list[str] = []
    conn = connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("select pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
            cur.execute("create schema if not exists ops")
            cur.execute(
                "create table if not exists ops.schema_migration ("
                " version text primary key,"
                " applied_at timestamptz not null default now())"
            )
        try:
            for path in sorted(folder.glob("*.sql")):
                version = path.stem
                with conn, conn.cursor() as cur:
                    cur.execute("select 1 from ops.schema_migration where version = %s", (version,))
                    if cur.fetchone():
                        continue
                    log.info("Applying warehouse migration %s", version)
                    cur.execute(path.read_text(encoding="utf-8"))
                    cur.execute(
                        "insert into ops.schema_migration (version) values (%s)", (version,)
                    )
                applied_now.append(version)
        finally:
            with conn, conn.cursor() as cur:
                cur.execute("select pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
    finally:
        conn.close()
    return applied_now


def dsn_from_parts(
    host: str | None,
    port: int | None,
    user: str | None,
    password: str | None,
    dbname: str | None,
) -> str:
    """Build a libpq connection string, quoting each value; ``host`` may be a socket folder."""
    parts = {"host": host, "port": port, "user": user, "password": password, "dbname": dbname}
    return psycopg2.extensions.make_dsn(**{key: value for key, value in parts.items() if value})


def redact_dsn(dsn: str) -> str:
    """Return the connection string without its password, for logs and messages."""
    parts = psycopg2.extensions.parse_dsn(dsn)
    parts.pop("password", None)
    return psycopg2.extensions.make_dsn(**parts)


def sqlalchemy_url(dsn: str) -> str:
    """Convert a libpq connection string into a SQLAlchemy URL for psycopg2 (password included)."""
    from sqlalchemy.engine import URL

    parts = psycopg2.extensions.parse_dsn(dsn)
    host = parts.get("host")
    query = {}
    if host and host.startswith("/"):
        # A socket folder travels as the host query argument, which psycopg2 uses
        # in place of the URL's host. The URL still names a host because GX's
        # Postgres data source rejects URLs without one.
        query["host"] = host
        host = "localhost"
    url = URL.create(
        "postgresql+psycopg2",
        username=parts.get("user"),
        password=parts.get("password") or None,
        host=host,
        port=int(parts["port"]) if parts.get("port") else None,
        database=parts.get("dbname"),
        query=query,
    )
    return url.render_as_string(hide_password=False)
