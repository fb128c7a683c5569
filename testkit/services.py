"""Where PostgreSQL and RabbitMQ are, and how a test session or a benchmark run gets
a corner of them of its own: a database and a vhost, or whole servers.

The shared servers are on 127.0.0.1 unless TEST_PG_HOST, TEST_PG_USER and
TEST_RABBIT_HOST say otherwise. Nothing here touches what it did not create.
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import requests

from app.commands.embedded import embedded_postgres
from app.config import load_config
from app.db.migrate import migrate
from app.secrets.sealing import generate_key
from testkit.stack import Stack, free_port, kill_group

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1:5432")
PG_USER = os.environ.get("TEST_PG_USER", "postgres")
RABBIT_HOST = os.environ.get("TEST_RABBIT_HOST", "127.0.0.1:5672")
RUN = uuid.uuid4().hex[:8]
# Server binaries for a PostgreSQL instance and a RabbitMQ node of a run's own.
PG_BIN = Path(os.environ.get("BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
# The scripts themselves: /usr/sbin's wrappers switch to the rabbitmq user, whose
# HOME (and so Erlang cookie) is the shared node's.
RABBITMQ_BIN = Path(os.environ.get("BENCH_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))


def unavailable(reason: str):
    """Skip the test that needs a missing service; fail it under CI=true, where
    services must be there (Dramatiq's test suite does the same)."""
    import pytest  # here: the benchmarks use this module without pytest

    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: services must be available)")
    pytest.skip(reason)


# --- PostgreSQL -----------------------------------------------------------------------


def use_embedded(socket_and_port: tuple[str, int]) -> None:
    """Point every later connection of this process at an embedded server."""
    global PG_HOST, PG_USER
    socket_dir, port = socket_and_port
    PG_HOST, PG_USER = f"{socket_dir}:{port}", "postgres"


@contextlib.contextmanager
def shared_or_embedded_postgres(directory: Path) -> Iterator[None]:
    """The shared PostgreSQL; when none answers at PG_HOST, the embedded server of
    `scheduler dev` in `directory`, used by every later connection until the end."""
    try:
        admin_connection().close()
        answers = True
    except psycopg2.OperationalError:
        answers = False
    with contextlib.ExitStack() as stack:
        if not answers:
            use_embedded(stack.enter_context(embedded_postgres(directory)))
        yield


def scheduler_environ(**extra: str) -> dict[str, str]:
    """SCHEDULER_* settings for a test's process on the shared services; nothing inherited."""
    environ = {
        "SCHEDULER_DB_HOST": PG_HOST,
        "SCHEDULER_DB_USER": PG_USER,
        "SCHEDULER_DB_MAX_OPEN_CONNS": "4",
        "SCHEDULER_LOG_LEVEL": "INFO",
    }
    environ.update(extra)
    return environ


def connect(environ: dict[str, str]):
    """psycopg2 on the database an environment's SCHEDULER_DB_* settings name."""
    host, port = environ["SCHEDULER_DB_HOST"].rsplit(":", 1)
    return psycopg2.connect(
        host=host, port=port, user=environ["SCHEDULER_DB_USER"], dbname=environ["SCHEDULER_DB_NAME"]
    )


def run_sql(environ: dict[str, str], statement: str, *params) -> list[tuple]:
    """A statement on the database of `environ` (to simulate downtime, or to look at
    what the API does not show), committed; its rows, if it returns any."""
    connection = connect(environ)
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(statement, params)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def admin_connection(host: str | None = None, user: str | None = None):
    """An autocommit connection to the server's postgres database (by default the
    shared server's, or the embedded one's), for CREATE and DROP DATABASE."""
    environ = {
        "SCHEDULER_DB_HOST": host or PG_HOST,
        "SCHEDULER_DB_USER": user or PG_USER,
        "SCHEDULER_DB_NAME": "postgres",
    }
    connection = connect(environ)
    connection.autocommit = True
    return connection


@contextlib.contextmanager
def private_database(
    name: str | None = None,
    template: str | None = None,
    host: str | None = None,
    user: str | None = None,
    keep: bool = False,
) -> Iterator[str]:
    """A new database, a copy of `template` or else created and migrated; dropped on
    exit unless `keep` (its server goes as a whole). Yields its name."""
    name = name or f"scheduler_test_{RUN}_{uuid.uuid4().hex[:8]}"
    admin = admin_connection(host, user)
    try:
        with admin.cursor() as cursor:
            copy = f' TEMPLATE "{template}"' if template else ""
            cursor.execute(f'CREATE DATABASE "{name}"{copy}')
        try:
            if template is None:
                where = {"SCHEDULER_DB_HOST": host or PG_HOST, "SCHEDULER_DB_USER": user or PG_USER}
                migrate(load_config(environ={**where, "SCHEDULER_DB_NAME": name}))
            yield name
        finally:
            if not keep:
                with admin.cursor() as cursor:
                    cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def database_copy(template: str):
    """A copy of `template` of this session's own, dropped on exit; yields its name."""
    return private_database(template=template)


# --- RabbitMQ -------------------------------------------------------------------------


def _run_tool(command: list[str], **kwargs) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)
    if done.returncode:
        output = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise RuntimeError(f"{Path(command[0]).name} {command[1:]}: {' | '.join(output[-5:])}")
    return done.stdout


class SharedRabbit:
    """The machine's RabbitMQ, of which a session or a run only uses a vhost."""

    host = RABBIT_HOST

    def ctl(self, *args: str) -> str:
        return _run_tool(["rabbitmqctl", "-q", *args])


@contextlib.contextmanager
def private_vhost(name: str, rabbit=None, keep: bool = False) -> Iterator[str]:
    """A new vhost that guest may use, deleted on exit unless `keep` (its node goes as
    a whole); yields an AMQP URL into it."""
    rabbit = rabbit or SharedRabbit()
    rabbit.ctl("add_vhost", name)
    try:
        rabbit.ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{rabbit.host}/{name}"
    finally:
        if not keep:
            rabbit.ctl("delete_vhost", name)


# --- servers of a run's own -----------------------------------------------------------


class Unavailable(RuntimeError):
    """A private server cannot be run on this machine."""


class PrivatePostgres:
    """A PostgreSQL instance of its own in `directory`: 127.0.0.1 at a free port, trust
    auth, fsync on. initdb refuses root, so as root the server runs as the postgres
    OS user, which then owns `directory`."""

    user = "postgres"

    def __init__(self, directory: Path):
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _tool(self, name: str, *args: str) -> None:
        _run_tool([*self._as_owner, str(PG_BIN / name), *args])

    def create(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise Unavailable(f"no PostgreSQL server binaries in {PG_BIN} (BENCH_PG_BIN)")
        self.directory.mkdir()
        if self._as_owner:
            try:
                shutil.chown(self.directory, "postgres", "postgres")
            except LookupError:
                raise Unavailable("running as root needs a postgres OS user for initdb") from None
            # mkdtemp's 0700 would keep that user from reaching its own directory.
            self.directory.parent.chmod(self.directory.parent.stat().st_mode | 0o711)
        # --no-sync: only the server's own writes (fsync on) need to reach the disk.
        try:
            self._tool("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user, "--no-sync")
        except RuntimeError as error:
            raise Unavailable(str(error)) from None
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.directory}'\nfsync = on\n"
            )
        self.start()

    def start(self) -> None:
        log = str(self.directory / "postgres.log")
        self._tool("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """mode "immediate" ends every backend at once, as a crash would, and the next
        start recovers from the WAL."""
        self._tool("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-m", mode, "stop")

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # not running: nothing to stop
            self.stop("immediate")


class PrivateRabbit:
    """A RabbitMQ node of its own in `directory`: its own node name, AMQP and
    distribution ports on 127.0.0.1, epmd port, Erlang cookie (in HOME), data, and
    no plugins (the management and prometheus plugins would bind fixed ports)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.node = f"bench{uuid.uuid4().hex[:8]}@localhost"
        port = free_port()
        self.host = f"127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None
        self.env = {
            **os.environ,
            "HOME": str(directory),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "ERL_EPMD_PORT": str(free_port()),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(directory / "log"),
            "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq.conf"),
            # Empty: the machine's files name the shared node and its plugins.
            "RABBITMQ_CONF_ENV_FILE": str(directory / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
        }

    def ctl(self, *args: str) -> str:
        command = [str(RABBITMQ_BIN / "rabbitmqctl"), "-q", "-n", self.node, *args]
        return _run_tool(command, env=self.env)

    def create(self) -> None:
        if not (RABBITMQ_BIN / "rabbitmq-server").exists():
            raise Unavailable(f"no RabbitMQ scripts in {RABBITMQ_BIN} (BENCH_RABBITMQ_BIN)")
        self.directory.mkdir()
        (self.directory / "rabbitmq.conf").write_text(f"listeners.tcp.local = {self.host}\n")
        (self.directory / "rabbitmq-env.conf").write_text("")
        (self.directory / "enabled_plugins").write_text("")
        try:
            self.start()
        except (OSError, RuntimeError) as error:
            raise Unavailable(f"the private RabbitMQ node did not start: {error}") from None

    def start(self, timeout: float = 60) -> None:
        with open(self.directory / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [str(RABBITMQ_BIN / "rabbitmq-server")],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        host, port = self.host.rsplit(":", 1)
        while True:
            if self.process.poll() is not None:
                log = (self.directory / "server.log").read_text(errors="replace")
                raise RuntimeError(f"rabbitmq-server exited:\n{log[-2000:]}")
            # The listener opens late in the boot; each rabbitmqctl costs a CPU second.
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                self.ctl("await_startup")
                return
            except (OSError, RuntimeError, subprocess.TimeoutExpired):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        """A clean stop of the node: clients see their connections closed."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.ctl("stop")
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill_group(self.process.pid)
            self.process.wait()

    def close(self) -> None:
        self.stop()
        # The node started this epmd (its own port); it outlives the node otherwise.
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(
                ["epmd", "-port", self.env["ERL_EPMD_PORT"], "-kill"],
                capture_output=True,
                timeout=10,
            )


# --- a benchmark run's services -------------------------------------------------------


@dataclass
class Services:
    """A run's database, vhost and log directory, and the servers holding them."""

    name: str
    workdir: Path
    secret_key: str = field(default_factory=generate_key)  # one for every process of the run
    # With a key the API runs as in production (and web logs no warning about it).
    api_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    pg_host: str = field(default_factory=lambda: PG_HOST)
    pg_user: str = field(default_factory=lambda: PG_USER)
    rabbit: SharedRabbit | PrivateRabbit = field(default_factory=SharedRabbit)
    postgres: PrivatePostgres | None = None  # set when the run has a server of its own

    @property
    def broker_url(self) -> str:
        return f"amqp://guest:guest@{self.rabbit.host}/{self.name}"

    def environ(self, **extra: str) -> dict[str, str]:
        """SCHEDULER_* settings of a process of this run: the service's defaults, since
        defaults are what gets measured; nothing inherited."""
        environ = {
            "SCHEDULER_DB_HOST": self.pg_host,
            "SCHEDULER_DB_USER": self.pg_user,
            "SCHEDULER_DB_NAME": self.name,
            "SCHEDULER_BROKER_URL": self.broker_url,
            "SCHEDULER_SECRET_KEY": self.secret_key,
            "SCHEDULER_API_KEYS": self.api_key,
            "SCHEDULER_LOG_LEVEL": "WARNING",
        }
        environ.update(extra)
        return environ

    def stack(self) -> Stack:
        """The run's processes, logging into its directory; a worker counts as started
        once it consumes."""
        return Stack(self.environ(), self.workdir, consumers=self.consumers)

    def consumers(self, queue: str = "scheduler") -> int:
        listing = self.rabbit.ctl("list_queues", "-p", self.name, "name", "consumers")
        counts = dict(
            line.split("\t") for line in listing.splitlines()[1:] if line.count("\t") == 1
        )
        return int(counts.get(queue, 0))

    def session(self) -> requests.Session:
        """A keep-alive HTTP session carrying the API key."""
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.api_key}"
        return session

    @contextlib.contextmanager
    def connect(self):
        """An autocommit psycopg2 connection to this run's database, closed on exit."""
        connection = connect(self.environ())
        connection.autocommit = True
        try:
            yield connection
        finally:
            connection.close()


@contextlib.contextmanager
def private_services(keep_logs: bool = False, own_servers: bool = False) -> Iterator[Services]:
    """A migrated database and a vhost named scheduler_bench_<hex>, and a log
    directory; all removed on exit, also after Ctrl-C or SIGTERM.

    With `own_servers` they live on a PostgreSQL instance and a RabbitMQ node started
    for the run alone (in the log directory), which may then be restarted at will;
    Unavailable says why they cannot be.
    """
    # SIGTERM would otherwise end the process without running the cleanup below, and
    # SIGINT is ignored in a process started in the background by a shell script.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    name = f"scheduler_bench_{uuid.uuid4().hex[:8]}"
    services = Services(name, Path(tempfile.mkdtemp(prefix=f"{name}_")))
    # Each step registers its undoing, and every undoing runs even if another fails.
    with contextlib.ExitStack() as cleanup:
        if keep_logs:
            cleanup.callback(print, f"logs kept in {services.workdir}", file=sys.stderr)
        else:
            cleanup.callback(shutil.rmtree, services.workdir, ignore_errors=True)
        if own_servers:
            services.postgres = PrivatePostgres(services.workdir / "postgres")
            cleanup.callback(services.postgres.close)
            services.postgres.create()
            services.pg_host, services.pg_user = services.postgres.host, services.postgres.user
            services.rabbit = PrivateRabbit(services.workdir / "rabbitmq")
            cleanup.callback(services.rabbit.close)
            services.rabbit.create()
        # A server of the run's own goes as a whole: nothing in it to remove first.
        keep = own_servers
        host, user = services.pg_host, services.pg_user
        cleanup.enter_context(private_database(name, host=host, user=user, keep=keep))
        cleanup.enter_context(private_vhost(name, services.rabbit, keep=keep))
        yield services
