"""The tick loop: claim due jobs, hand each claim to `send`, sleep until the next is due.

The tick is the only producer of run messages. Claims whose messages could not
be sent are released at once; one whose message is lost later expires and is claimed
again (docs/design.md, "The claim lifecycle").
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from app import claims, metrics
from app.claims import Claim, Claimed
from app.config import Config
from app.outage import BACKOFF

log = logging.getLogger(__name__)

# With every claim slot taken, the first look again, in seconds (doubling to the interval).
_SATURATED_POLL = 0.01
# After a claim cut short by capacity, the wait in seconds before the next, so that
# it claims what the workers freed meanwhile together, in full messages (at 1,000
# executions a second, 50 claims), rather than a few at a time in many.
_GATHER = 0.05
# How far ahead of a slot the tick claims it, in seconds: about what claiming,
# sending and starting take at light load, so that the worker is ready at the slot
# and fires at it (actors/run.py waits for it), rather than that much after.
CLAIM_AHEAD = 0.025
# Sleep this much past the next slot, in seconds, so that it has come by the
# database's clock too and the claim finds it.
_CLOCK_MARGIN = 0.001


@dataclass(frozen=True)
class TickSettings:
    owner: str  # scheduler-id, recorded as locked_by
    interval: float  # seconds between scans when nothing more is due
    max_jobs: int  # most unfinished claims this owner keeps
    lock_seconds: float  # how long a new claim lasts unless renewed
    ahead: float = CLAIM_AHEAD  # seconds before its slot a job is claimed

    @classmethod
    def from_config(cls, config: Config) -> "TickSettings":
        return cls(
            owner=config.scheduler_id,
            interval=config.scheduler_interval,
            max_jobs=config.scheduler_max_concurrent_jobs,
            lock_seconds=config.scheduler_max_job_lock_time,
        )


def tick_once(db, send: Callable[[list[Claim]], None], settings: TickSettings) -> Claimed:
    """Claim what is due and send it: jobs without a flow key, then, if any flow
    key exists, jobs with one, each sent before the next claim (an error in the second
    leaves the first on its way). If sending fails, the claims are given back (a
    message that did go out is then stale, and dropped by its worker) and the
    error is raised."""
    with metrics.CLAIM_DURATION.time():
        claimed = claims.claim_due(
            db, settings.owner, settings.max_jobs, settings.lock_seconds, settings.ahead
        )
    _send(db, send, claimed.claims)
    if claimed.flows and claimed.free > len(claimed.claims):
        with metrics.CLAIM_DURATION.time():
            keyed = claims.claim_flows(
                db,
                settings.owner,
                claimed.free - len(claimed.claims),
                settings.lock_seconds,
                settings.ahead,
            )
        _send(db, send, keyed.claims)
        claimed = claimed.and_then(keyed)
    if claimed.runs_expired and claimed.free > len(claimed.claims):
        rescued = claims.claim_expired_runs(
            db, settings.owner, claimed.free - len(claimed.claims), settings.lock_seconds
        )
        _send(db, send, rescued.claims)
        claimed = claimed.and_then(rescued)
    metrics.CLAIMED.observe(len(claimed.claims))
    return claimed


def _send(db, send: Callable[[list[Claim]], None], claimed: list[Claim]) -> None:
    if claimed:
        try:
            send(claimed)
        except Exception:
            claims.release(db, claimed)
            raise


def pause_after(claimed: Claimed, interval: float, saturated: int) -> float:
    """Seconds from a claim to the next one.

    Soon if the claim was cut short by capacity (more may be due); until the
    next slot, at most the interval, if nothing more is due. With no capacity
    left, soon, then less and less often the longer none frees (`saturated`: the
    claims in a row that found none): a burst is claimed as workers finish it.
    """
    if claimed.free == 0:
        return min(_SATURATED_POLL * 2**saturated, interval)
    if len(claimed.claims) == claimed.free:
        return min(_GATHER, interval)
    if claimed.next_due_in is None:
        return interval
    return min(claimed.next_due_in + _CLOCK_MARGIN, interval)


def run_tick(
    db,
    send: Callable[[list[Claim]], None],
    settings: TickSettings,
    stop: threading.Event,
    sleep: Callable[[float, threading.Event], object] | None = None,
) -> None:
    """Loop until `stop` is set; survives database and broker outages.

    sleep(seconds, stop) waits between claims: by default `stop.wait`; a Waker
    (app/db/wakeup.py) also returns early when notified.
    """
    sleep = sleep or (lambda seconds, event: event.wait(seconds))
    delay = BACKOFF[0]
    failing = False
    saturated = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            claimed = tick_once(db, send, settings)
        except Exception as error:  # the tick must outlive any outage
            if not failing:
                log.error("tick paused: %s", str(error).strip() or type(error).__name__)
            failing = True
            stop.wait(delay)
            delay = min(delay * 2, BACKOFF[1])
            continue
        if failing:
            log.info("tick resumed")
            failing, delay = False, BACKOFF[0]
        if claimed.claims:
            log.debug("claimed and sent", extra={"claimed": len(claimed.claims)})
        pause = pause_after(claimed, settings.interval, saturated)
        saturated = saturated + 1 if claimed.free == 0 else 0
        remaining = pause - (time.monotonic() - started)
        if remaining > 0:
            sleep(remaining, stop)
