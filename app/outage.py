"""Riding out a database outage: retry with capped backoff, and say so once.

An outage is logged when it starts and when it ends, however many threads of the
process are retrying meanwhile (not a traceback per attempt).
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import peewee
import psycopg2

# What a lost or refused connection raises, through peewee or straight from psycopg2.
DATABASE_DOWN = (
    peewee.OperationalError,
    peewee.InterfaceError,
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
)

# Wait between attempts, in seconds: doubling from the first to the cap. The tick
# waits so too after a database or broker error.
BACKOFF = (0.5, 10.0)

T = TypeVar("T")


class Outage:
    """Whether this process finds the database unreachable, shared by its threads."""

    def __init__(self, log: logging.Logger):
        self.log = log
        self._down = False
        self._mutex = threading.Lock()

    def failed(self, error: Exception) -> None:
        with self._mutex:
            started, self._down = not self._down, True
        if started:
            self.log.error("database unavailable, retrying: %s", str(error).strip())

    def recovered(self) -> None:
        with self._mutex:
            ended, self._down = self._down, False
        if ended:
            self.log.info("database reachable again")


def retry_through(
    call: Callable[[], T],
    outage: Outage,
    patience: float,
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """`call()`, tried again while the database is down, for up to `patience`
    seconds; then the last error is raised."""
    deadline = time.monotonic() + patience
    delay = BACKOFF[0]
    while True:
        try:
            result = call()
        except DATABASE_DOWN as error:
            outage.failed(error)
            if time.monotonic() + delay > deadline:
                raise
            sleep(delay)
            delay = min(delay * 2, BACKOFF[1])
            continue
        outage.recovered()
        return result
