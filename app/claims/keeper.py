"""Keeps the claims of running attempts alive (docs/design.md, "The claim lifecycle").

One thread per worker process renews every held claim in one statement each
third of the lock time, so a slow target never lets its claim expire, while a
dead worker's claims do expire and are claimed again.
"""

import contextlib
import logging
import threading
import uuid

from app import claims
from app.claims import Claim
from app.outage import DATABASE_DOWN, Outage

log = logging.getLogger(__name__)


class ClaimKeeper:
    def __init__(self, db, lock_seconds: float, outage: Outage):
        self.db = db
        self.lock_seconds = lock_seconds
        self.outage = outage
        self._held: dict[uuid.UUID, Claim] = {}
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @contextlib.contextmanager
    def holding(self, claim: Claim):
        """Renew `claim` for as long as the block runs."""
        with self._mutex:
            self._held[claim.job_id] = claim
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._renew_forever, name="claim-keeper", daemon=True
                )
                self._thread.start()
        try:
            yield
        finally:
            with self._mutex:
                self._held.pop(claim.job_id, None)

    def stop(self) -> None:
        self._stop.set()

    def abandon(self) -> None:
        """Give back the claims of attempts still running, as the process goes away
        without finishing them: the jobs are claimed again at once, not after the
        lock time. (A cut-off attempt may have reached its target: its slot may
        then be delivered twice, with the same delivery id.)"""
        with self._mutex:
            held = list(self._held.values())
            self._held.clear()
        if held:
            claims.release(self.db, held)
            log.warning("gave back %d claim(s) of attempts cut off by shutdown", len(held))

    def _renew_forever(self) -> None:
        while not self._stop.wait(self.lock_seconds / 3):
            with self._mutex:
                held = list(self._held.values())
            if not held:
                continue
            try:
                kept = claims.renew(self.db, held, self.lock_seconds)
            except DATABASE_DOWN as error:
                self.outage.failed(error)
                continue
            except Exception:  # nothing may end this thread: the claims depend on it
                log.exception("claim renewal failed")
                continue
            self.outage.recovered()
            with self._mutex:  # an attempt that finished meanwhile released its claim
                lost = [c for c in held if c.job_id not in kept and self._held.get(c.job_id) == c]
            for claim in lost:
                log.warning(
                    "claim lost: the job was deleted or its claim expired",
                    extra={"job_id": str(claim.job_id)},
                )
