"""The run message: the only message tick sends and workers consume.

It carries ids, not the job: the worker re-reads the job under the claim, so a
stale or duplicated message is harmless.
"""

import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from datetime import datetime

import dramatiq

from app.claims import Claim

QUEUE = "scheduler"
ACTOR = "run_job"
# Sends at once. Each waits for RabbitMQ's confirm, which caps one sender near
# 1,000 messages a second on a small machine. Eight rather than four send the 30
# claims of a second's every-second jobs in four rounds, not eight, so the jobs
# queued behind them wait half as long (bench/lag.py --steady: one-off p99 81 ms
# -> 18 ms), while a burst's rate and CPU stay as with four.
SENDS_AT_ONCE = 8


def run_message(claim: Claim) -> dramatiq.Message:
    return dramatiq.Message(
        queue_name=QUEUE,
        actor_name=ACTOR,
        args=(
            str(claim.job_id),
            str(claim.token),
            claim.scheduled_for.isoformat(),
            claim.manual,
        ),
        kwargs={},
        options={},
    )


def sender(
    broker: dramatiq.Broker, threads: int = SENDS_AT_ONCE
) -> Callable[[Sequence[Claim]], None]:
    """What the tick calls with its claims: enqueue a run message for each on `broker`.

    `threads` at once. At the first error the sends not begun are called off (with
    the broker down, each would try connections of its own), those begun end, and
    the error is raised.
    """
    pool = ThreadPoolExecutor(threads, thread_name_prefix="send")

    def send(claims: Sequence[Claim]) -> None:
        futures = [pool.submit(broker.enqueue, run_message(claim)) for claim in claims]
        _, not_done = wait(futures, return_when=FIRST_EXCEPTION)
        for future in not_done:
            future.cancel()
        wait(futures)
        for future in futures:
            if not future.cancelled():
                future.result()

    return send


def claim_of(job_id: str, token: str, scheduled_for: str, manual: bool = False) -> Claim:
    return Claim(uuid.UUID(job_id), uuid.UUID(token), datetime.fromisoformat(scheduled_for), manual)
