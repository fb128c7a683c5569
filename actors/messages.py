"""The run message: the only message the tick sends and workers consume.

It carries claims, not jobs: the worker re-reads each job under its claim, so a
stale or duplicated message is harmless. One message carries several claims, so
that a tick's claims go out in a few sends and a worker process receives,
acknowledges and starts many of them at once (docs/design.md, "The hot
path"). A retry is a message of its own, carrying one claim and its attempt.
"""

import math
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from datetime import datetime

import dramatiq

from app.claims import Claim

QUEUE = "scheduler"
ACTOR = "run_claims"
# Sends at once, each waiting for RabbitMQ's confirm.
SENDS_AT_ONCE = 8
# Claims per message. Enough that a burst costs a sixteenth of the messages;
# few enough that a tick's claims still spread over the worker processes, and a
# second's 30 every-second claims go to two of them.
CLAIMS_PER_MESSAGE = 16


def run_messages(claims: Sequence[Claim]) -> list[dramatiq.Message]:
    """The messages carrying `claims`, CLAIMS_PER_MESSAGE at most each, in equal shares."""
    if not claims:
        return []
    size = math.ceil(len(claims) / math.ceil(len(claims) / CLAIMS_PER_MESSAGE))
    return [_message(claims[i : i + size], {}) for i in range(0, len(claims), size)]


def retry_message(claim: Claim, attempt: int, first_attempt_at: datetime) -> dramatiq.Message:
    """The message of `claim`'s attempt number `attempt`; the execution's start
    (its first attempt's) goes with it."""
    return _message([claim], {"attempt": attempt, "first_attempt_at": first_attempt_at.isoformat()})


def _message(claims: Sequence[Claim], kwargs: dict) -> dramatiq.Message:
    carried = [_carried(claim) for claim in claims]
    return dramatiq.Message(
        queue_name=QUEUE, actor_name=ACTOR, args=(carried,), kwargs=kwargs, options={}
    )


def _carried(claim: Claim) -> list:
    """A claim as a message carries it: what every claim has, then what only some
    have (a redrive's dead letter, a jittered slot's fire time, a flow key, that
    the token is a run's), if any."""
    carried = [str(claim.job_id), str(claim.token), claim.scheduled_for.isoformat(), claim.manual]
    extra = {}
    if claim.redrive_of is not None:
        extra["redrive_of"] = claim.redrive_of
    if claim.fire_at is not None:
        extra["fire_at"] = claim.fire_at.isoformat()
    if claim.flow_key is not None:
        extra["flow_key"] = claim.flow_key
    if claim.detached:
        extra["run"] = True
    return [*carried, extra] if extra else carried


def claims_of(carried: Sequence[Sequence]) -> list[Claim]:
    """The claims a run message carries (its first argument)."""
    claims = []
    for job_id, token, slot, manual, *rest in carried:
        extra = rest[0] if rest else {}
        fire_at = extra.get("fire_at")
        claims.append(
            Claim(
                uuid.UUID(job_id),
                uuid.UUID(token),
                datetime.fromisoformat(slot),
                manual,
                extra.get("redrive_of"),
                datetime.fromisoformat(fire_at) if fire_at else None,
                extra.get("flow_key"),
                extra.get("run", False),
            )
        )
    return claims


def sender(
    broker: dramatiq.Broker, threads: int = SENDS_AT_ONCE
) -> Callable[[Sequence[Claim]], None]:
    """What the tick calls with its claims: enqueue run messages carrying them on
    `broker`, `threads` at once.

    At the first error the sends not begun are called off (with the broker down,
    each would try connections of its own), those begun end, and the error is raised.
    """
    pool = ThreadPoolExecutor(threads, thread_name_prefix="send")

    def send(claims: Sequence[Claim]) -> None:
        futures = [pool.submit(broker.enqueue, m) for m in run_messages(claims)]
        _, not_done = wait(futures, return_when=FIRST_EXCEPTION)
        for future in not_done:
            future.cancel()
        wait(futures)
        for future in futures:
            if not future.cancelled():
                future.result()

    return send
