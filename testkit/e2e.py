"""Stacks for the end-to-end tests: settings that show behaviour quickly (where a
benchmark keeps the service's defaults), and stacks that run for a `with` block."""

import contextlib
import sys
from pathlib import Path

from app.secrets.sealing import generate_key
from testkit.services import scheduler_environ
from testkit.stack import Stack, free_port


def stack_environ(database: str, broker_url: str, **extra: str) -> dict[str, str]:
    """SCHEDULER_* settings of a test stack: fast ticks, short locks and timeouts."""
    defaults = {
        "SCHEDULER_DB_NAME": database,
        "SCHEDULER_BROKER_URL": broker_url,
        "SCHEDULER_WEB_API_HOST": f"127.0.0.1:{free_port()}",
        "SCHEDULER_SCHEDULER_INTERVAL": "100ms",
        "SCHEDULER_SCHEDULER_MAX_JOB_LOCK_TIME": "10s",
        "SCHEDULER_WORKER_PROCESSES": "2",
        "SCHEDULER_WORKER_THREADS": "8",
        "SCHEDULER_JOB_TIMEOUT": "5s",
        "SCHEDULER_SECRET_KEY": generate_key(),
        # Several ticks and workers share this host: a test that scrapes gives ports.
        "SCHEDULER_TICK_METRICS_HOST": "off",
        "SCHEDULER_WORKER_METRICS_HOST": "off",
    }
    return scheduler_environ(**{**defaults, **extra})


@contextlib.contextmanager
def running_web(database: str, logs: Path, api_key: str, **settings: str):
    """`scheduler web` alone over `database`, wanting `api_key` (and `settings`, more
    SCHEDULER_* variables), until the block ends."""
    environ = scheduler_environ(
        SCHEDULER_DB_NAME=database,
        SCHEDULER_API_KEYS=api_key,
        SCHEDULER_SECRET_KEY=generate_key(),
        **settings,
    )
    with Stack(environ, logs) as web:
        web.start_web()
        yield web


@contextlib.contextmanager
def running_stack(environ: dict, logs: Path, ticks=("tick-a", "tick-b"), worker_args=()):
    """web, the given ticks and a worker, until the block ends; their logs are
    printed when they stop, for a failing test to show."""
    running = Stack(environ, logs)
    running.start("web", "web")
    for tick in ticks:
        running.start_tick(tick)
    running.start("worker", "worker", *worker_args)
    try:
        running.wait_healthy()
        yield running
    finally:
        codes = running.stop()
        for name in running.processes:
            sys.stderr.write(f"--- {name} (exit {codes[name]})\n{running.log_tail(name)}\n")
