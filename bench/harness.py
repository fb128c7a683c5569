"""Shared parts of the benchmarks: a private database and vhost (or a private
PostgreSQL instance and RabbitMQ node of their own), the scheduler processes, a
recording HTTP target, memory and CPU sampling, bulk inserts, tables.

Unlike tests/e2e/stack.py, which shortens intervals and locks to test behaviour
quickly, this starts the processes with the service's own defaults unless a
benchmark asks otherwise, since defaults are what gets measured.
"""

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg2
import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # this checkout's code even without an editable install

from app.config import load_config  # noqa: E402
from app.db.migrate import migrate  # noqa: E402
from app.secrets.sealing import generate_key  # noqa: E402

PG_HOST = "127.0.0.1:5432"
PG_USER = "postgres"
RABBIT_HOST = "127.0.0.1:5672"
SCHEDULER = str(Path(sys.executable).parent / "scheduler")
# Server binaries for a PostgreSQL instance and a RabbitMQ node of a run's own.
PG_BIN = Path(os.environ.get("BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
# The scripts themselves: /usr/sbin's wrappers switch to the rabbitmq user, whose
# HOME (and so Erlang cookie) is the shared node's.
RABBITMQ_BIN = Path(os.environ.get("BENCH_RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))


def run(main) -> None:
    """Run a benchmark's main; Ctrl-C ends it with one line once it has cleaned up."""
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the service logs (their directory is shown)"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- private servers ----------------------------------------------------------------


class Unavailable(RuntimeError):
    """A private server cannot be run on this machine."""


def server_port() -> int:
    """A free port below the ephemeral range, for a server that will be restarted.

    While a server is down its clients reconnect in a loop, and a connection to a
    port of the ephemeral range can be given that same port as its source: it then
    connects to itself and holds the port, and the server cannot listen again.
    """
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(10000, low), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise Unavailable(f"no free port between 10000 and {low}")


def _run_tool(command: list[str], **kwargs) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)
    if done.returncode:
        output = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise RuntimeError(f"{Path(command[0]).name} {command[1:]}: {' | '.join(output[-5:])}")
    return done.stdout


def kill_group(pid: int) -> None:
    """SIGKILL what is left of the process group of `pid`, a process started in a
    session of its own: forked children outlive a parent killed with SIGKILL."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class SharedRabbit:
    """The machine's RabbitMQ, of which a run only uses a vhost."""

    host = RABBIT_HOST

    def ctl(self, *args: str) -> str:
        return _run_tool(["rabbitmqctl", "-q", *args])


class PrivatePostgres:
    """A PostgreSQL instance of its own in `directory`: 127.0.0.1 at a free port, trust
    auth, fsync on. initdb refuses root, so as root the server runs as the postgres
    OS user, which then owns `directory`."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.data = directory / "data"
        self.port = server_port()
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
            self._tool("initdb", "-D", str(self.data), "-A", "trust", "-U", PG_USER, "--no-sync")
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
        port = server_port()
        self.host = f"127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None
        self.env = {
            **os.environ,
            "HOME": str(directory),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(server_port()),
            "ERL_EPMD_PORT": str(server_port()),
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


# --- private services ---------------------------------------------------------------


def _admin(pg_host: str):
    host, port = pg_host.rsplit(":", 1)
    connection = psycopg2.connect(host=host, port=port, user=PG_USER, dbname="postgres")
    connection.autocommit = True
    return connection


@dataclass
class Services:
    """This run's database, vhost and log directory, and the servers holding them."""

    name: str
    workdir: Path
    secret_key: str = field(default_factory=generate_key)  # one for every process of the run
    # With a key the API runs as in production (and web logs no warning about it).
    api_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    pg_host: str = PG_HOST
    rabbit: SharedRabbit | PrivateRabbit = field(default_factory=SharedRabbit)
    postgres: PrivatePostgres | None = None  # set when the run has a server of its own

    @property
    def broker_url(self) -> str:
        return f"amqp://guest:guest@{self.rabbit.host}/{self.name}"

    def environ(self, **extra: str) -> dict[str, str]:
        """SCHEDULER_* settings of a process of this run; nothing inherited."""
        environ = {
            "SCHEDULER_DB_HOST": self.pg_host,
            "SCHEDULER_DB_USER": PG_USER,
            "SCHEDULER_DB_NAME": self.name,
            "SCHEDULER_BROKER_URL": self.broker_url,
            "SCHEDULER_SECRET_KEY": self.secret_key,
            "SCHEDULER_API_KEYS": self.api_key,
            "SCHEDULER_LOG_LEVEL": "WARNING",
        }
        environ.update(extra)
        return environ

    def session(self) -> requests.Session:
        """A keep-alive HTTP session carrying the API key."""
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.api_key}"
        return session

    @contextlib.contextmanager
    def connect(self):
        """An autocommit psycopg2 connection to this run's database, closed on exit."""
        host, port = self.pg_host.rsplit(":", 1)
        connection = psycopg2.connect(host=host, port=port, user=PG_USER, dbname=self.name)
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
            services.pg_host = services.postgres.host
            services.rabbit = PrivateRabbit(services.workdir / "rabbitmq")
            cleanup.callback(services.rabbit.close)
            services.rabbit.create()
        admin = _admin(services.pg_host)
        cleanup.callback(admin.close)
        if not own_servers:  # a server of the run's own goes as a whole
            drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
            cleanup.callback(admin.cursor().execute, drop)
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        migrate(load_config(environ=services.environ()))
        services.rabbit.ctl("add_vhost", name)
        if not own_servers:
            cleanup.callback(services.rabbit.ctl, "delete_vhost", name)
        services.rabbit.ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield services


# --- the recording target -----------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    job_id: str | None
    delivery_id: str | None
    scheduled_for: str | None
    at: float  # time.time() when the request arrived
    attempt: str | None = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the workers' sessions expect
    # Headers and body go out in two writes; with Nagle the second could wait for
    # the client's delayed ACK (up to 40 ms) and pollute every figure.
    disable_nagle_algorithm = True

    def _serve(self):
        at = time.time()
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        receipt = Receipt(
            self.headers.get("X-Scheduler-Job-Id"),
            self.headers.get("X-Scheduler-Delivery-Id"),
            self.headers.get("X-Scheduler-Scheduled-For"),
            at,
            self.headers.get("X-Scheduler-Attempt"),
        )
        self.server.receive(receipt, self.connection)
        try:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except ConnectionError:  # the caller is gone (a worker killed mid-call)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, *args):
        pass


class Target(ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 answering 200 to everything and recording each
    request (list.append is atomic, so the handler threads need no lock)."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.receipts: list[Receipt] = []
        threading.Thread(target=self.serve_forever, name="target", daemon=True).start()

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a caller killed meanwhile
            super().handle_error(request, client_address)

    def receive(self, receipt: Receipt, connection: socket.socket) -> None:
        """Record a request before it is answered; a subclass may hold it here."""
        self.receipts.append(receipt)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/bench"

    def __exit__(self, *exc):
        self.shutdown()
        super().__exit__(*exc)


@dataclass
class Deliveries:
    """What the target received for a set of expected jobs."""

    received: int
    distinct: int
    duplicates: int  # receipts beyond the first per job
    lost: int  # expected jobs never received
    lateness: list[float]  # seconds, first receipt of each job minus its slot
    last_at: float | None


def deliveries(receipts: list[Receipt], slots: dict[str, float]) -> Deliveries:
    """Match receipts to `slots` (job id -> slot as a Unix time)."""
    first: dict[str, float] = {}
    mine = [r for r in receipts if r.job_id in slots]
    for receipt in mine:
        first[receipt.job_id] = min(receipt.at, first.get(receipt.job_id, receipt.at))
    return Deliveries(
        received=len(mine),
        distinct=len(first),
        duplicates=len(mine) - len(first),
        lost=len(slots) - len(first),
        lateness=[at - slots[job_id] for job_id, at in first.items()],
        last_at=max((r.at for r in mine), default=None),
    )


# --- the scheduler processes --------------------------------------------------------


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc (a snapshot)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        kids = sorted(tree.get(todo.pop(), []))
        found.extend(kids)
        todo.extend(kids)
    return found


_TICKS = os.sysconf("SC_CLK_TCK")


def _usage(pid: int) -> tuple[int, int, float] | None:
    """(VmHWM kB, VmRSS kB, CPU seconds so far), None once the process is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    values = dict(line.split(":", 1) for line in lines if ":" in line)
    if "VmHWM" not in values:  # a zombie has no memory lines
        return None
    cpu = (int(stat[11]) + int(stat[12])) / _TICKS  # utime + stime, fields 14 and 15
    return int(values["VmHWM"].split()[0]), int(values["VmRSS"].split()[0]), cpu


def backend_cpu_seconds(connection, database: str) -> float:
    """CPU seconds of the PostgreSQL sessions now open on `database` (this one
    included), read from /proc: the database's share of a run on this machine."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,))
        samples = [_usage(pid) for (pid,) in cursor.fetchall()]
    return sum(sample[2] for sample in samples if sample)


@dataclass
class Usage:
    label: str
    hwm_kb: int = 0  # the kernel's own peak resident size
    rss_kb: int = 0  # highest resident size seen by a sample
    cpu_seconds: float = 0.0  # at the last sample


class ResourceSampler:
    """Samples each started process and its descendants every `interval` seconds:
    peak memory and CPU time.

    VmHWM is the kernel's peak, so it catches peaks between samples; it must be
    read before the process exits, hence the sampling. Descendants are labelled
    <name>.<n> in order of discovery; forked children share pages with their
    parent, so a sum of their sizes would overstate the total (each is shown).
    """

    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self.roots: dict[str, int] = {}
        self.usage: dict[int, Usage] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._thread.start()

    def sample(self) -> None:
        for name, root in list(self.roots.items()):
            pids = [root, *descendants(root)]
            for pid in pids:
                sample = _usage(pid)
                if sample is None:
                    continue
                if pid not in self.usage:
                    seen = sum(1 for p in self.usage if p in pids)
                    self.usage[pid] = Usage(name if pid == root else f"{name}.{seen}")
                usage = self.usage[pid]
                usage.hwm_kb = max(usage.hwm_kb, sample[0])
                usage.rss_kb = max(usage.rss_kb, sample[1])
                usage.cpu_seconds = sample[2]

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def rows(self) -> list[tuple[str, str, str]]:
        """(label, peak MB, CPU seconds) of every process seen, in order of first sight."""
        return [
            (u.label, f"{max(u.hwm_kb, u.rss_kb) / 1024:.0f}", f"{u.cpu_seconds:.1f}")
            for u in self.usage.values()
        ]


_PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback")


class Stack:
    """scheduler web / tick / worker processes of one run, stopped on exit.

    Each gets the run's environment plus its own settings; its output goes to
    <workdir>/<name>.log. Children start in a session of their own so that a
    Ctrl-C reaches only the benchmark, which then stops them in order.
    """

    def __init__(self, services: Services):
        self.services = services
        self.processes: dict[str, subprocess.Popen] = {}
        self.launches: dict[str, tuple[str, dict[str, str]]] = {}  # name -> command, settings
        self.resources = ResourceSampler()
        self.api = None
        self._consumers = 0  # worker processes started, each one consumer of the run queue

    def start(self, name: str, command: str, **settings: str) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
        env.update(self.services.environ(**settings))
        with open(self.services.workdir / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                [SCHEDULER, command],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        self.launches[name] = (command, settings)
        self.resources.roots[name] = process.pid
        return process

    def restart(self, name: str) -> subprocess.Popen:
        """Start `name` again as it was first started (its log goes on)."""
        command, settings = self.launches[name]
        return self.start(name, command, **settings)

    def start_web(self, **settings: str) -> str:
        host = f"127.0.0.1:{free_port()}"
        self.start("web", "web", SCHEDULER_WEB_API_HOST=host, **settings)
        self.api = f"http://{host}"
        self._wait_healthy()
        return self.api

    def start_tick(self, name: str = "tick", **settings: str) -> None:
        self.start(name, "tick", SCHEDULER_SCHEDULER_ID=f"bench-{name}", **settings)

    def start_worker(
        self, processes: int, threads: int, name: str = "worker", **settings: str
    ) -> None:
        # A connection per thread, so no attempt waits for the pool (README, Scaling).
        self.start(
            name,
            "worker",
            SCHEDULER_WORKER_PROCESSES=str(processes),
            SCHEDULER_WORKER_THREADS=str(threads),
            SCHEDULER_DB_MAX_OPEN_CONNS=str(threads + 2),
            **settings,
        )
        self._consumers += processes
        self._wait_consumers(name)

    def _wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.api}/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"web did not become healthy:\n{self.log_tail('web')}")

    def _wait_consumers(self, name: str, timeout: float = 60) -> None:
        """Until each worker process started consumes the run queue, so that a
        measured slot does not include the workers' start-up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            listing = self.services.rabbit.ctl(
                "list_queues", "-p", self.services.name, "name", "consumers"
            )
            consumers = dict(
                line.split("\t") for line in listing.splitlines()[1:] if line.count("\t") == 1
            )
            if int(consumers.get("scheduler", 0)) >= self._consumers:
                return
            time.sleep(0.5)
        raise RuntimeError(f"workers did not start consuming:\n{self.log_tail(name)}")

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode}:\n{self.log_tail(name)}"
                )

    def log_tail(self, name: str, lines: int = 30) -> str:
        text = (self.services.workdir / f"{name}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def problems(self) -> dict[str, list[str]]:
        """Warning, error and traceback lines of each process's log."""
        found = {}
        for name in self.processes:
            text = (self.services.workdir / f"{name}.log").read_text(errors="replace")
            found[name] = [line for line in text.splitlines() if _PROBLEM.search(line)]
        return found

    def stop(self, timeout: float = 30) -> dict[str, int]:
        """SIGTERM to each process, SIGKILL to its process group after `timeout`, and
        to whatever is left of the group (children of a parent that was killed)."""
        self.resources.sample()
        self.resources.stop()
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_group(process.pid)
                codes[name] = process.wait()
            kill_group(process.pid)
        return codes

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def print_problems(stack: Stack, shown: int = 5) -> None:
    """The first warning and error lines of each process, below a table."""
    for name, lines in stack.problems().items():
        if lines:
            print(f"{name}: {len(lines)} warning/error line(s), first {min(shown, len(lines))}:")
            for line in lines[:shown]:
                print(f"    {line[:300]}")


# --- jobs ----------------------------------------------------------------------------


def http_job(url: str) -> dict:
    """An HTTP payload as the API stores it (app/jobs/spec.py, _http_job)."""
    return {
        "url": url,
        "method": "POST",
        "headers": {},
        "secret_headers": [],
        "body": "",
        "valid_response_codes": [200],
        "auth": {"type": "none"},
        "follow_redirects": False,
    }


INSERT_JOBS = """
INSERT INTO jobs (id, type, status, execute_at, timezone, http_job, next_run,
                  created_at, updated_at)
SELECT gen_random_uuid(), 'HTTP', 'RUNNING', slot, 'UTC', %(http_job)s, slot,
       created, created
FROM (
    SELECT %(first)s::timestamptz + make_interval(secs => i * %(step)s) AS slot,
           -- distinct creation times, in the order of i, as the API would give them
           now() - make_interval(secs => (%(count)s - i) * 0.001) AS created
    FROM generate_series(0, %(count)s - 1) AS i
) AS s
"""


def insert_jobs(connection, count: int, url: str, first: datetime, step: float = 0.0) -> None:
    """`count` one-off HTTP jobs to `url`, the i-th due at `first` + i * `step` seconds,
    inserted in one statement (API-shaped rows, no NOTIFY: the tick is not woken)."""
    params = {
        "http_job": json.dumps(http_job(url)),
        "first": first,
        "step": step,
        "count": count,
    }
    with connection.cursor() as cursor:
        cursor.execute(INSERT_JOBS, params)


# What the API sends when it creates a job, on the channel the tick LISTENs on
# (app/db/wakeup.py): a bulk insert sends it too, to be seen as the API's jobs are.
WAKE = "NOTIFY scheduler_wake"


def execution_counts(connection) -> tuple[int, int, int]:
    """(rows, distinct jobs, rows not SUCCESSFUL) of the executions table."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT job_id), count(*) FILTER "
            "(WHERE status <> 'SUCCESSFUL') FROM executions"
        )
        return cursor.fetchone()


def rfc3339(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat()


@dataclass
class Spread:
    """One-off jobs created through the API, slots spread evenly over a window."""

    slots: dict[str, float] = field(default_factory=dict)  # job id -> slot (Unix time)
    create_seconds: list[float] = field(default_factory=list)
    margin: float = 0.0  # seconds from the last creation to the first slot; < 0: late


def create_spread(
    session: requests.Session,
    api: str,
    url: str,
    count: int,
    spread: float,
    lead: float,
    clients: int = 1,
) -> Spread:
    """`count` jobs, the first due `lead` seconds from now, then one every spread/count s,
    created in slot order over `clients` concurrent keep-alive connections."""
    result = Spread()
    first = time.time() + lead
    local = threading.local()

    def create(i: int) -> tuple[str, float, float]:
        if not hasattr(local, "session"):
            local.session = session if clients == 1 else requests.Session()
            local.session.headers.update(session.headers)
        slot = first + i * spread / count
        body = {"type": "HTTP", "execute_at": rfc3339(slot), "http_job": http_job(url)}
        started = time.perf_counter()
        response = local.session.post(f"{api}/v1/jobs", json=body, timeout=30)
        if response.status_code != 201:
            raise RuntimeError(f"POST /v1/jobs answered {response.status_code}: {response.text}")
        return response.json()["id"], slot, time.perf_counter() - started

    with ThreadPoolExecutor(clients) as pool:
        for job_id, slot, seconds in pool.map(create, range(count)):
            result.slots[job_id] = slot
            result.create_seconds.append(seconds)
    result.margin = first - time.time()
    return result


def wait_received(target: Target, slots: dict[str, float], until: float) -> None:
    """Until every job of `slots` has reached the target, or the Unix time `until`."""
    while time.time() < until:
        if not deliveries(target.receipts, slots).lost:
            return
        time.sleep(0.2)


# --- figures -------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile, interpolated between closest ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f}"


def print_table(title: str, settings: dict, header: list[str], rows: list[list]) -> None:
    """A title, the settings used, and left/right-aligned columns."""
    print(title)
    print("settings: " + " ".join(f"{key}={value}" for key, value in settings.items()))
    table = [header, *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for index, row in enumerate(table):
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        print("  ".join(cells).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
