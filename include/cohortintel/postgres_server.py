"""Find the configured PostgreSQL server, or start an embedded one when it refuses connections."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.extensions

from cohortintel import db
from cohortintel.config import PROJECT_ROOT

log = logging.getLogger(__name__)

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
EMBEDDED_DATA_DIR = PROJECT_ROOT / ".pgdata"


@dataclass(frozen=True)
class PostgresServer:
    """An admin connection string to a server, and whether this project started it."""

    admin_dsn: str
    embedded: bool

    def database_dsn(self, dbname: str) -> str:
        """Return the connection string of another database on the same server."""
        parts = psycopg2.extensions.parse_dsn(self.admin_dsn)
        parts["dbname"] = dbname
        return psycopg2.extensions.make_dsn(**parts)

    def database_parts(self, dbname: str) -> dict[str, str | None]:
        parts = psycopg2.extensions.parse_dsn(self.database_dsn(dbname))
        return {key: parts.get(key) for key in ("host", "port", "user", "password", "dbname")}


def is_reachable(dsn: str, timeout_seconds: int = 3) -> bool:
    """Tell whether a connection to ``dsn`` succeeds within the timeout."""
    try:
        conn = psycopg2.connect(dsn, connect_timeout=timeout_seconds)
    except psycopg2.OperationalError as error:
        log.info("PostgreSQL at %s is not reachable: %s", db.redact_dsn(dsn), str(error).strip())
        return False
    conn.close()
    return True


def start_embedded(data_dir: Path = EMBEDDED_DATA_DIR) -> PostgresServer:
    """Start (or reuse) the embedded PostgreSQL of the pgserver package in ``data_dir``.

    The server keeps running after this process exits, so the warehouse stays
    readable; stop it with ``pg_ctl -D <data_dir> stop`` from the package's bin folder.
    """
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode=None)
    uri = server.get_uri()
    log.warning(
        "No PostgreSQL accepted connections at the configured address, so an embedded one was started in %s",
        data_dir,
    )
    return PostgresServer(admin_dsn=uri, embedded=True)


def find_or_start(url: str | None, allow_embedded: bool = True) -> PostgresServer:
    """Return the server at ``url`` (default 127.0.0.1:5432), or an embedded one if it is unreachable."""
    dsn = url or DEFAULT_POSTGRES_URL
    if is_reachable(dsn):
        return PostgresServer(admin_dsn=dsn, embedded=False)
    if not allow_embedded:
        raise ConnectionError(
            f"PostgreSQL at {db.redact_dsn(dsn)} is not reachable. Start it, set "
            f"COHORTINTEL_POSTGRES_URL to a reachable server, or allow the embedded server."
        )
    return start_embedded()


def ensure_database(server: PostgresServer, dbname: str) -> bool:
    """Create ``dbname`` on the server unless it exists; return True when it was created."""
    conn = psycopg2.connect(server.admin_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (dbname,))
            if cur.fetchone():
                return False
            cur.execute(db.sql.SQL("create database {}").format(db.sql.Identifier(dbname)))
            log.info("Created database %s", dbname)
            return True
    finally:
        conn.close()


def drop_database(server: PostgresServer, dbname: str) -> None:
    """Drop ``dbname`` if it exists, ending its other sessions first."""
    conn = psycopg2.connect(server.admin_dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                db.sql.SQL("drop database if exists {} with (force)").format(
                    db.sql.Identifier(dbname)
                )
            )
    finally:
        conn.close()
