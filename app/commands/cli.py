"""`scheduler <command>`: web, tick, worker, migrate, flags.

Every command accepts every option as a flag (see `scheduler flags`). This module
is the wiring: it builds real parts from the configuration and hands them over.
Each command imports only the parts it runs, so that `scheduler flags` or
`scheduler migrate` start without loading Falcon, Dramatiq and pika.
"""

import argparse
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading

from app.config import OPTIONS, Config, ConfigError, describe_options, load_config
from app.logs import configure_logging

log = logging.getLogger("scheduler")


def _web(config: Config) -> int:
    from api.server import web_server
    from app.db.database import open_database

    server = web_server(config, open_database(config))
    host, port = config.web_api_host
    # waitress leaves its loop and drains on SystemExit. SIGINT is set too: a process
    # started in the background by a script may begin with it ignored.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: sys.exit(0))
    log.info("API listening on http://%s:%d", host, port)
    server.run()
    log.info("web stopped")
    return 0


def _tick(config: Config) -> int:
    from actors.broker import rabbitmq_broker
    from actors.messages import sender
    from app.claims.tick import TickSettings, run_tick
    from app.db.database import open_database
    from app.db.wakeup import Waker
    from app.metrics import serve
    from app.retention import start_pruner

    broker = rabbitmq_broker(config)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    settings = TickSettings.from_config(config)
    serve(config.tick_metrics_host)
    log.info("tick %s started, every %gs", settings.owner, settings.interval)
    db = open_database(config)
    pruner = start_pruner(db, config, stop)
    waker = Waker(config)
    try:
        run_tick(db, sender(broker), settings, stop, waker.wait)
    finally:
        waker.close()
        pruner.join()
        broker.close()
    log.info("tick %s stopped", settings.owner)
    return 0


def _worker(config: Config) -> int:
    # The worker processes, forked from this one, record their metrics into one
    # directory, and this process serves them all (app/metrics.py).
    metrics_dir = tempfile.mkdtemp(prefix="scheduler-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        return _run_workers(config)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _run_workers(config: Config) -> int:
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    from app.metrics import all_processes, serve

    serve(config.worker_metrics_host, all_processes())
    # Worker processes read their configuration from the environment, so flags
    # given to this command reach them too.
    os.environ.update(config.environ())
    args = make_argument_parser().parse_args(
        [
            "actors.worker",
            "--processes",
            str(config.worker_processes),
            "--threads",
            str(config.worker_threads),
            "--worker-shutdown-timeout",
            str(round(config.worker_shutdown_timeout * 1000)),
            "--skip-logging",
        ]
    )
    return dramatiq_main(args)


def _dev(config: Config) -> int:
    from app.commands.dev import run_dev

    return run_dev(config)


def _keygen(config: Config) -> int:
    from app.secrets.sealing import generate_key

    print(generate_key())
    return 0


def _rotate_secrets(config: Config) -> int:
    from app.db.database import open_database
    from app.jobs.models import bind_models
    from app.jobs.store import reseal_all
    from app.secrets.sealing import SecretBox

    if not config.secret_key:
        print("scheduler: rotate-secrets needs SCHEDULER_SECRET_KEY", file=sys.stderr)
        return 2
    db = open_database(config)
    bind_models(db)
    with db.connection_context():
        resealed, sealed = reseal_all(db, SecretBox(config.secret_key))
    print(f"re-sealed {resealed} job(s) with the newest key, sealed {sealed} kept in clear")
    return 0


def _status(config: Config) -> int:
    from app.commands.status import run_status

    return run_status(config)


def _migrate(config: Config) -> int:
    from app.db.migrate import migrate

    applied = migrate(config)
    print(f"applied {len(applied)} migration(s){': ' + ', '.join(applied) if applied else ''}")
    return 0


def _flags(config: Config) -> int:
    rows = [("flag", "variable", "default", "meaning"), *describe_options()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[3]
        )
    return 0


COMMANDS = {
    "dev": (_dev, "all in one process: API, tick and workers, embedded PostgreSQL if none is set"),
    "web": (_web, "serve the management API"),
    "tick": (_tick, "claim due jobs and send them to the workers"),
    "worker": (_worker, "run Dramatiq worker processes that execute jobs"),
    "migrate": (_migrate, "apply database migrations"),
    "status": (_status, "summary for an operator: jobs, backlog, the last hour's executions"),
    "keygen": (_keygen, "print a new key for SCHEDULER_SECRET_KEY"),
    "rotate-secrets": (
        _rotate_secrets,
        "re-seal every job's secrets with the newest SCHEDULER_SECRET_KEY",
    ),
    "flags": (_flags, "print every option: flag, variable, default, meaning"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scheduler", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, (_, help_text) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        for option in OPTIONS:
            sub.add_argument(
                f"--{option.flag}",
                dest=option.attr,
                metavar="VALUE",
                help=f"{option.meaning} (env {option.env}, default {option.default!r})",
            )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {
        o.flag: getattr(args, o.attr) for o in OPTIONS if getattr(args, o.attr) is not None
    }
    try:
        config = load_config(overrides)
    except ConfigError as error:
        print(f"scheduler: {error}", file=sys.stderr)
        return 2
    configure_logging(config.log_level, config.log_format)
    command, _ = COMMANDS[args.command]
    return command(config)
