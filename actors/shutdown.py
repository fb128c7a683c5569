"""Dramatiq middleware of the worker: what happens to claims when a worker stops."""

import logging
import time

import dramatiq

from app.claims.keeper import ClaimKeeper

log = logging.getLogger(__name__)


class GiveBackOnShutdown(dramatiq.Middleware):
    """When a worker stops, running attempts get `patience` seconds (its shutdown
    timeout) to finish; then the claims of those still running are given back.

    The wait is kept here rather than left to Dramatiq's join of its threads:
    Dramatiq 2.2 takes the time already spent off the remaining timeout once per
    thread joined (dramatiq.common.join_all), so with a hundred threads the later
    ones are not waited for at all, and an attempt begun late would be cut off
    after a second, not after the timeout.
    """

    def __init__(self, keeper: ClaimKeeper, patience: float):
        self.keeper = keeper
        self.patience = patience
        self._stopping_since = 0.0

    def before_worker_shutdown(self, broker, worker):
        self._stopping_since = time.monotonic()

    def after_worker_shutdown(self, broker, worker):
        left = self.patience - (time.monotonic() - self._stopping_since)
        try:
            self.keeper.abandon(patience=max(left, 0.0))
        except Exception as error:  # they expire after the lock time instead
            log.warning("could not give back the claims of cut-off attempts: %s", error)
