"""Real processes: `scheduler web`, two `scheduler tick`s and `scheduler worker` (two
processes), over this session's PostgreSQL database and RabbitMQ vhost, calling a
real HTTP target that records what it receives (`target`, in tests/conftest.py)."""

import pytest

from testkit.e2e import running_stack, stack_environ
from testkit.services import database_copy


@pytest.fixture(scope="module")
def e2e_database(template_database):
    with database_copy(template_database) as name:
        yield name


@pytest.fixture(scope="module")
def stack(e2e_database, rabbit_vhost, tmp_path_factory):
    environ = stack_environ(e2e_database, rabbit_vhost)
    with running_stack(environ, tmp_path_factory.mktemp("logs")) as running:
        yield running
