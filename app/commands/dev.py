"""`scheduler dev`: API, tick and worker threads in one process, for trying it out.

PostgreSQL is the configured one if db-host is given, else an embedded server
with its data under dev-data-dir. The broker is RabbitMQ if broker-url is given,
else Dramatiq's in-process broker. Where not given, dev listens on 127.0.0.1:8000
and looks for due jobs every second.
"""

import contextlib
import ipaddress
import logging
import signal
import socket
import sys
import threading
from dataclasses import replace
from pathlib import Path

import dramatiq

from actors.broker import drain_queued, in_process_broker, rabbitmq_broker
from actors.messages import claims_of, sender
from actors.run import Runner, declare
from api.server import web_server
from app import claims
from app.claims.tick import TickSettings, run_tick
from app.commands.embedded import DATABASE, USER, EmbeddedUnavailable, embedded_postgres
from app.config import Config
from app.db.database import open_database
from app.db.migrate import migrate
from app.db.wakeup import Waker
from app.retention import start_pruner
from app.secrets.redaction import redact_url
from app.secrets.sealing import generate_key

log = logging.getLogger("scheduler.dev")

DEV_LISTEN = ("127.0.0.1", 8000)
DEV_INTERVAL = 1.0  # seconds


def dev_config(config: Config, database: tuple[str, int] | None, data_dir: Path) -> Config:
    """`config` with dev's defaults where the user gave nothing."""
    changes: dict = {}
    if "secret-key" not in config.given:
        changes["secret_key"] = (_local_key(data_dir),)
    if database is not None:
        changes.update(
            db_host=database, db_user=USER, db_password="", db_name=DATABASE, db_disable_tls=True
        )
    if "web-api-host" not in config.given:
        changes["web_api_host"] = DEV_LISTEN
    if "scheduler-interval" not in config.given:
        changes["scheduler_interval"] = DEV_INTERVAL
    if "db-max-open-conns" not in config.given:
        # Web's threads, and a few for the rest: the tick, the pruner, the claim keeper,
        # the worker's starts (one statement per run message), its group-commit
        # writer and its retry holds.
        changes["db_max_open_conns"] = config.web_threads + 6
    return replace(config, **changes)


def run_dev(config: Config) -> int:
    data_dir = Path(config.dev_data_dir).resolve()
    host = config.web_api_host[0] if "web-api-host" in config.given else DEV_LISTEN[0]
    keys = config.api_keys or config.api_read_keys
    if not keys and not ipaddress.ip_address(_resolve(host)).is_loopback:
        print(
            f"scheduler: dev without SCHEDULER_API_KEYS listens on loopback only, not {host}",
            file=sys.stderr,
        )
        return 2
    with contextlib.ExitStack() as stack:
        database = None
        if "db-host" not in config.given:
            try:
                database = stack.enter_context(embedded_postgres(data_dir))
            except EmbeddedUnavailable as error:
                print(f"scheduler: {error}", file=sys.stderr)
                return 1
        config = dev_config(config, database, data_dir)
        where = (
            data_dir / "pgdata"
            if database
            else "PostgreSQL at {}:{}/{}".format(*config.db_host, config.db_name)
        )
        return _serve(config, str(where))


def _local_key(data_dir: Path) -> str:
    """dev's own secret key, made once and kept (mode 600) beside its data."""
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(generate_key())
    return path.read_text().strip()


def _resolve(host: str) -> str:
    try:
        return socket.gethostbyname(host)
    except OSError:
        return host


def _serve(config: Config, where: str) -> int:
    migrate(config)
    external = "broker-url" in config.given
    broker = rabbitmq_broker(config) if external else in_process_broker()
    db = open_database(config)
    runner = Runner.from_config(db, broker, config)
    declare(runner, config.web_shutdown_timeout)
    worker = dramatiq.Worker(broker, worker_threads=config.worker_threads)
    worker.start()
    stop = threading.Event()
    waker = Waker(config)
    tick = threading.Thread(
        target=run_tick,
        args=(db, sender(broker), TickSettings.from_config(config), stop, waker.wait),
        name="tick",
    )
    tick.start()
    pruner = start_pruner(db, config, stop)
    server = web_server(config, db, in_process_broker=not external)
    # waitress leaves its loop and drains on SystemExit. SIGINT is set too: a process
    # started in the background by a script may begin with it ignored.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: sys.exit(0))
    _banner(config, where, redact_url(config.broker_url) if external else None)
    try:
        server.run()
    finally:
        log.info("stopping: no new claims, finishing executions in flight")
        stop.set()
        tick.join()
        waker.close()
        pruner.join()
        worker.stop(timeout=int(config.web_shutdown_timeout * 1000))
        if not external:
            # Give back what was claimed but never started, so it runs at next start.
            queued = [claims_of(message.args[0]) for message in drain_queued(broker)]
            claims.release(db, [claim for carried in queued for claim in carried])
        runner.keeper.stop()
        broker.close()
        db.close_all()
        log.info("stopped")
    return 0


def _banner(config: Config, where: str, broker_url: str | None) -> None:
    host, port = config.web_api_host
    api = f"http://{host}:{port}"
    example = (
        f'curl -s -X POST {api}/v1/jobs -d \'{{"type": "HTTP", "cron_schedule": "* * * * *", '
        '"http_job": {"url": "https://example.com/", "method": "GET"}}\''
    )
    broker = broker_url or f"in-process ({config.worker_threads} worker threads)"
    print(
        f"Scheduler dev\n"
        f"  API     {api}\n"
        f"  data    {where}\n"
        f"  broker  {broker}\n"
        f"  try     {example}\n"
        f"Ctrl-C stops it.",
        flush=True,
    )
