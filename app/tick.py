"""The tick loop: claim due jobs, hand each claim to `send`, repeat every interval.

The tick is the only producer of run messages. A claim whose message could not be
sent is released at once; one whose message is lost later expires and is claimed
again (DESIGN.md, Claims).
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import peewee
import psycopg2

from app import claims
from app.claims import Claim
from app.config import Config

log = logging.getLogger(__name__)

# Wait after a database error before trying again, in seconds (doubling, capped).
_ERROR_BACKOFF = (0.5, 10.0)


@dataclass(frozen=True)
class TickSettings:
    owner: str  # scheduler-id, recorded as locked_by
    interval: float  # seconds between scans when nothing more is due
    max_jobs: int  # most unfinished claims this owner keeps
    lock_seconds: float  # lease of a new claim

    @classmethod
    def from_config(cls, config: Config) -> "TickSettings":
        return cls(
            owner=config.scheduler_id,
            interval=config.scheduler_interval,
            max_jobs=config.scheduler_max_concurrent_jobs,
            lock_seconds=config.scheduler_max_job_lock_time,
        )


def tick_once(db, send: Callable[[Claim], None], settings: TickSettings) -> list[Claim]:
    """Claim what is due and send it; the claims sent."""
    claimed = claims.claim_due(db, settings.owner, settings.max_jobs, settings.lock_seconds)
    sent, unsent = [], []
    for claim in claimed:
        try:
            send(claim)
        except Exception as error:  # the broker is down: give the claims back
            log.warning("could not send run message: %s", error, extra={"job_id": claim.job_id})
            unsent = claimed[len(sent) :]
            break
        sent.append(claim)
    if unsent:
        claims.release(db, unsent)
    return sent


def run_tick(
    db,
    send: Callable[[Claim], None],
    settings: TickSettings,
    stop: threading.Event,
    sleep: Callable[[float, threading.Event], object] | None = None,
) -> None:
    """Loop until `stop` is set; survives database outages.

    sleep(seconds, stop) waits between scans when nothing was due: by default
    `stop.wait`; a Waker (app/wakeup.py) also returns early when notified.
    """
    sleep = sleep or (lambda seconds, event: event.wait(seconds))
    delay = _ERROR_BACKOFF[0]
    failing = False
    while not stop.is_set():
        try:
            sent = tick_once(db, send, settings)
        except (peewee.DatabaseError, psycopg2.Error) as error:
            if not failing:
                log.error("database unavailable, tick paused: %s", str(error).strip())
            failing = True
            stop.wait(delay)
            delay = min(delay * 2, _ERROR_BACKOFF[1])
            continue
        if failing:
            log.info("database reachable again, tick resumed")
            failing, delay = False, _ERROR_BACKOFF[0]
        if sent:
            log.debug("claimed and sent", extra={"claimed": len(sent)})
            continue  # more may be due at once; the next claim says so
        sleep(settings.interval, stop)
