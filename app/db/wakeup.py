"""Waking the tick early: PostgreSQL LISTEN/NOTIFY on one channel.

The API notifies when a job may have become due sooner (created, rescheduled,
resumed, run now); the tick, sleeping out its interval, wakes and claims at once.
A notification only wakes: polling every interval stays the safety net, so a
lost notification (or a dropped listening connection) costs latency, never a job.
"""

import logging
import select
import threading

import psycopg2

from app.config import Config
from app.db.database import connect_params

log = logging.getLogger(__name__)

# Ticks LISTEN here; a change that may make a job due sooner than they would look
# NOTIFYs: the API's (app/jobs/store.py), a finish or a give-back (app/claims/statements.py).
WAKE_CHANNEL = "scheduler_wake"
LISTEN = f"LISTEN {WAKE_CHANNEL}"
WAKE = f"NOTIFY {WAKE_CHANNEL}"

# Longest stretch of waiting before `stop` is looked at again, in seconds.
_SLICE = 0.25


class Waker:
    """A listening connection of its own; reopened on the next wait after a failure."""

    def __init__(self, config: Config):
        self.config = config
        self._connection = None

    def _listening(self):
        if self._connection is None or self._connection.closed:
            connection = psycopg2.connect(dbname=self.config.db_name, **connect_params(self.config))
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(LISTEN)
            self._connection = connection
        return self._connection

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Sleep up to `seconds`, less if notified or stopped; True if notified."""
        try:
            connection = self._listening()
        except psycopg2.Error as error:
            log.warning("cannot listen for wake-ups, polling only: %s", str(error).strip())
            stop.wait(seconds)
            return False
        remaining = seconds
        while remaining > 0 and not stop.is_set():
            step = min(_SLICE, remaining)
            try:
                ready, _, _ = select.select([connection], [], [], step)
                if ready:
                    connection.poll()
            except (OSError, psycopg2.Error) as error:
                log.warning("wake-up connection lost, polling meanwhile: %s", error)
                self.close()
                stop.wait(remaining)
                return False
            if connection.notifies:
                connection.notifies.clear()  # any number of them means one more claim
                return True
            remaining -= step
        return False

    def close(self) -> None:
        if self._connection is not None and not self._connection.closed:
            self._connection.close()
        self._connection = None
