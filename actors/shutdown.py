"""Dramatiq middleware of the worker: what happens to claims when a worker stops."""

import logging

import dramatiq

from app.claims.keeper import ClaimKeeper

log = logging.getLogger(__name__)


class GiveBackOnShutdown(dramatiq.Middleware):
    """When a worker stops, after its threads had their shutdown timeout to finish
    what they were running, it gives back the claims of attempts still running."""

    def __init__(self, keeper: ClaimKeeper):
        self.keeper = keeper

    def after_worker_shutdown(self, broker, worker):
        try:
            self.keeper.abandon()
        except Exception as error:  # they expire after the lock time instead
            log.warning("could not give back the claims of cut-off attempts: %s", error)
