"""The PostgreSQL connection pool of one process."""

import psycopg2.extras
from playhouse.pool import PooledPostgresqlDatabase

from app.config import Config

# Raw SQL passes uuid.UUID values; psycopg2 needs to be told how to send them.
psycopg2.extras.register_uuid()

# How long a thread waits for a pooled connection before giving up, in seconds.
POOL_WAIT_SECONDS = 30


def connect_params(config: Config) -> dict:
    """libpq keyword arguments for the configured server."""
    host, port = config.db_host
    return {
        "host": host,
        "port": port,
        "user": config.db_user,
        "password": config.db_password,
        "sslmode": "disable" if config.db_disable_tls else "require",
        "application_name": f"scheduler:{config.scheduler_id}",
    }


def open_database(config: Config) -> PooledPostgresqlDatabase:
    """A pool of at most db-max-open-conns connections, opened lazily per thread.

    Callers hold a connection only for a statement or a transaction
    (`with db.connection_context():`), never across a call to a job's target.
    """
    return PooledPostgresqlDatabase(
        config.db_name,
        max_connections=config.db_max_open_conns,
        timeout=POOL_WAIT_SECONDS,
        autoconnect=False,
        **connect_params(config),
    )
