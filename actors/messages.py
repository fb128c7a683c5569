"""The run message: the only message tick sends and workers consume.

It carries ids, not the job: the worker re-reads the job under the claim, so a
stale or duplicated message is harmless.
"""

import uuid
from collections.abc import Callable
from datetime import datetime

import dramatiq

from app.claims import Claim

QUEUE = "scheduler"
ACTOR = "run_job"


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


def sender(broker: dramatiq.Broker) -> Callable[[Claim], None]:
    """What the tick calls with each claim: enqueue its run message on `broker`."""

    def send(claim: Claim) -> None:
        broker.enqueue(run_message(claim))

    return send


def claim_of(job_id: str, token: str, scheduled_for: str, manual: bool = False) -> Claim:
    return Claim(uuid.UUID(job_id), uuid.UUID(token), datetime.fromisoformat(scheduled_for), manual)
