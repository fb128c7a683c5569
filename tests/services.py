"""Where the test services are, and how tests get their own corner of them."""

import contextlib
import os
import uuid

import psycopg2
import pytest

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1:5432")
PG_USER = os.environ.get("TEST_PG_USER", "postgres")
RABBIT_HOST = os.environ.get("TEST_RABBIT_HOST", "127.0.0.1:5672")
RUN = uuid.uuid4().hex[:8]


def use_embedded(socket_and_port: tuple[str, int]) -> None:
    """Point every later connection of this session at an embedded server."""
    global PG_HOST, PG_USER
    socket_dir, port = socket_and_port
    PG_HOST, PG_USER = f"{socket_dir}:{port}", "postgres"


def unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: services must be available)")
    pytest.skip(reason)


def scheduler_environ(**extra: str) -> dict[str, str]:
    """SCHEDULER_* settings for this session's private services; nothing inherited."""
    environ = {
        "SCHEDULER_DB_HOST": PG_HOST,
        "SCHEDULER_DB_USER": PG_USER,
        "SCHEDULER_DB_MAX_OPEN_CONNS": "4",
        "SCHEDULER_LOG_LEVEL": "INFO",
    }
    environ.update(extra)
    return environ


def admin_connection():
    host, port = PG_HOST.rsplit(":", 1)
    connection = psycopg2.connect(host=host, port=port, user=PG_USER, dbname="postgres")
    connection.autocommit = True
    return connection


@contextlib.contextmanager
def database_copy(template: str):
    """A new database copied from `template`, dropped on exit; yields its name."""
    name = f"scheduler_test_{RUN}_{uuid.uuid4().hex[:8]}"
    admin = admin_connection()
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
