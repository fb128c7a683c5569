"""Real processes: `scheduler web`, two `scheduler tick`s and `scheduler worker` (two
processes), over this session's PostgreSQL database and RabbitMQ vhost, calling a
real HTTP target that records what it receives."""

import sys
import threading
from http.server import ThreadingHTTPServer

import pytest

from app.sealing import generate_key
from tests.e2e.stack import Stack, Target, free_port, handler_for
from tests.services import database_copy, scheduler_environ


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
    environ = scheduler_environ(
        SCHEDULER_DB_NAME=e2e_database,
        SCHEDULER_BROKER_URL=rabbit_vhost,
        SCHEDULER_WEB_API_HOST=f"127.0.0.1:{free_port()}",
        SCHEDULER_SCHEDULER_INTERVAL="100ms",
        SCHEDULER_SCHEDULER_MAX_JOB_LOCK_TIME="10s",
        SCHEDULER_WORKER_PROCESSES="2",
        SCHEDULER_WORKER_THREADS="8",
        SCHEDULER_JOB_TIMEOUT="5s",
        SCHEDULER_SECRET_KEY=generate_key(),
    )
    running = Stack(environ, tmp_path_factory.mktemp("logs"))
    running.start("web", "web")
    running.start("tick-a", "tick", "--scheduler-id", "tick-a")
    running.start("tick-b", "tick", "--scheduler-id", "tick-b")
    running.start("worker", "worker")
    try:
        running.wait_healthy()
        yield running
    finally:
        codes = running.stop()
        for name in running.processes:
            sys.stderr.write(f"--- {name} (exit {codes[name]})\n{running.log_tail(name)}\n")
