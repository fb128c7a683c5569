"""The run message: the only message tick sends and workers consume.

It carries ids, not the job: the worker re-reads the job under the claim, so a
stale or duplicated message is harmless.
"""

import uuid
from datetime import datetime

import dramatiq

from app.claims import Claim

QUEUE = "scheduler"
ACTOR = "run_job"


def run_message(claim: Claim) -> dramatiq.Message:
    return dramatiq.Message(
        queue_name=QUEUE,
        actor_name=ACTOR,
        args=(str(claim.job_id), str(claim.token), claim.scheduled_for.isoformat()),
        kwargs={},
        options={},
    )


def claim_of(job_id: str, token: str, scheduled_for: str) -> Claim:
    return Claim(uuid.UUID(job_id), uuid.UUID(token), datetime.fromisoformat(scheduled_for))
