"""Shared fixtures: a private PostgreSQL database and RabbitMQ vhost per test session.

Tests never touch data they did not create: each session migrates a template
database of its own, each test that asks for `db_config` gets a fresh copy of it,
and broker traffic goes to a vhost created for the session and deleted after it.
A service that does not answer skips the tests that need it, except under CI=true,
where it fails them (testkit.services.unavailable).
"""

import os
import shutil
import socket
import uuid

import pika
import pytest

from app.config import Config, load_config
from app.db.database import open_database
from app.jobs.models import bind_models
from testkit.services import (
    RABBIT_HOST,
    RUN,
    database_copy,
    private_database,
    private_vhost,
    scheduler_environ,
    shared_or_embedded_postgres,
    unavailable,
)
from testkit.target import Target


@pytest.fixture(autouse=True)
def _no_inherited_scheduler_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("SCHEDULER_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def template_database(tmp_path_factory):
    """Name of a migrated database that each test copies.

    Without a PostgreSQL server at TEST_PG_HOST the session starts the embedded
    one of `scheduler dev` and runs against it.
    """
    with (
        shared_or_embedded_postgres(tmp_path_factory.mktemp("pg")),
        private_database(f"scheduler_test_{RUN}_template") as name,
    ):
        yield name


@pytest.fixture
def database_name(template_database):
    """A fresh migrated database of this test's own, dropped afterwards."""
    with database_copy(template_database) as name:
        yield name


@pytest.fixture
def db_config(database_name) -> Config:
    return load_config(environ=scheduler_environ(SCHEDULER_DB_NAME=database_name))


@pytest.fixture
def db(db_config):
    database = open_database(db_config)
    bind_models(database)
    yield database
    database.close_all()


@pytest.fixture(scope="session")
def rabbit_vhost():
    """A RabbitMQ vhost of this session's own; returns an AMQP URL into it."""
    host, port = RABBIT_HOST.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as error:
        unavailable(f"RabbitMQ at {RABBIT_HOST} does not answer: {error}")
    if shutil.which("rabbitmqctl") is None:
        unavailable("rabbitmqctl is needed to create a private vhost for the tests")
    with private_vhost(f"scheduler-test-{RUN}") as url:
        yield url


@pytest.fixture
def bound_queue(rabbit_vhost):
    """A queue bound to amq.direct (its name the routing key) in the session's
    vhost, and a channel to read what reached it."""
    name = "queue-" + uuid.uuid4().hex[:8]
    connection = pika.BlockingConnection(pika.URLParameters(rabbit_vhost))
    channel = connection.channel()
    channel.queue_declare(name, auto_delete=True)
    channel.queue_bind(name, "amq.direct", routing_key=name)
    yield name, channel
    connection.close()


@pytest.fixture(scope="module")
def target():
    """A local HTTP target recording what it receives (testkit.target), for jobs to call."""
    with Target() as recorder:
        yield recorder
