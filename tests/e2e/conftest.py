"""Real processes: `scheduler web`, two `scheduler tick`s and `scheduler worker` (two
processes), over this session's PostgreSQL database and RabbitMQ vhost, calling a
real HTTP target that records what it receives."""

import threading
from http.server import ThreadingHTTPServer

import pytest

from tests.e2e.stack import Target, handler_for, running_stack, stack_environ
from tests.services import database_copy


@pytest.fixture(scope="module")
def target():
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)
    recorder = Target(server)
    server.RequestHandlerClass = handler_for(recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield recorder
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def e2e_database(template_database):
    with database_copy(template_database) as name:
        yield name


@pytest.fixture(scope="module")
def stack(e2e_database, rabbit_vhost, tmp_path_factory):
    environ = stack_environ(e2e_database, rabbit_vhost)
    with running_stack(environ, tmp_path_factory.mktemp("logs")) as running:
        yield running
