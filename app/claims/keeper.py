"""Keeps the claims of running attempts alive (docs/design.md, "The claim lifecycle").

One thread per worker process renews every held claim in one statement each
third of the lock time, so a slow target never lets its claim expire, while a
dead worker's claims do expire and are claimed again.
"""

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
        # By attempt key: a retry of a claim may start before its failed attempt has
        # let go, and each lets go of its own.
        self._held: dict[uuid.UUID, Claim] = {}
        self._mutex = threading.Lock()
        self._let_go = threading.Condition(self._mutex)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def hold(self, attempts: dict[uuid.UUID, Claim]) -> None:
        """Renew the claims of these attempts (by attempt key) until each is let go."""
        with self._mutex:
            self._held.update(attempts)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._renew_forever, name="claim-keeper", daemon=True
                )
                self._thread.start()

    def let_go(self, attempt_key: uuid.UUID) -> None:
        with self._mutex:
            self._held.pop(attempt_key, None)
            self._let_go.notify_all()

    def stop(self) -> None:
        self._stop.set()

    def abandon(self, patience: float = 0.0) -> None:
        """Give back the claims of attempts still running after `patience` seconds,
        as the process goes away without finishing them: the jobs are claimed again
        at once, not after the lock time. (A cut-off attempt may have reached its
        target: its slot may then be delivered twice, with the same delivery id.)"""
        with self._mutex:
            self._let_go.wait_for(lambda: not self._held, timeout=patience)
            held = set(self._held.values())
            self._held.clear()
        if held:
            claims.release(self.db, held)
            log.warning("gave back %d claim(s) of attempts cut off by shutdown", len(held))

    def _renew_forever(self) -> None:
        while not self._stop.wait(self.lock_seconds / 3):
            with self._mutex:
                held = set(self._held.values())
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
                still = set(self._held.values())
            lost = {c for c in held if c.job_id not in kept and c in still}
            for claim in lost:
                log.warning(
                    "claim lost: the job was deleted or its claim expired",
                    extra={"job_id": str(claim.job_id)},
                )
