"""Applies migrations/NNNN_name.sql in order, each once, each in its own transaction.

A session-level advisory lock serialises concurrent runs: a second instance that
starts at the same time waits, then finds everything applied.
"""

import logging
from importlib import resources

import psycopg2

from app.config import Config
from app.db.database import connect_params

log = logging.getLogger(__name__)

# Arbitrary constant shared by every instance: "sched" in ASCII.
_LOCK_KEY = 0x7363686564


def available_migrations() -> list[tuple[str, str]]:
    """(version, sql) of every migration file, in order of version."""
    files = resources.files("migrations")
    return sorted(
        (entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8"))
        for entry in files.iterdir()
        if entry.name.endswith(".sql")
    )


def migrate(config: Config) -> list[str]:
    """Apply what is missing; return the versions applied by this call."""
    connection = psycopg2.connect(dbname=config.db_name, **connect_params(config))
    try:
        return _apply(connection)
    finally:
        connection.close()


def _apply(connection) -> list[str]:
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            cursor.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in cursor.fetchall()}
            applied = []
            for version, sql in available_migrations():
                if version in done:
                    continue
                connection.autocommit = False
                with connection:  # one transaction: the file and its record
                    cursor.execute(sql)
                    cursor.execute(
                        "INSERT INTO schema_migrations (version) VALUES (%s)", (version,)
                    )
                connection.autocommit = True
                log.info("migration applied", extra={"version": version})
                applied.append(version)
            return applied
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def pending(db) -> list[str]:
    """Versions not yet applied to `db` (a peewee database), in order."""
    with db.connection_context():
        if not db.table_exists("schema_migrations"):
            return [version for version, _ in available_migrations()]
        done = {row[0] for row in db.execute_sql("SELECT version FROM schema_migrations")}
    return [version for version, _ in available_migrations() if version not in done]
