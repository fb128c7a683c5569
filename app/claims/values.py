"""The values the claim protocol passes around: a claim, what an attempt runs
under it, and how its execution ended."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from app.timing.schedule import Schedule


@dataclass(frozen=True)
class Claim:
    """One claimed slot of one job, as carried by a run message.

    `manual`: the slot is a run requested through the API (run now or a redrive),
    which leaves the job's schedule as it is. `redrive_of`: the dead letter whose
    failed delivery this runs again, for its original slot.
    """

    job_id: uuid.UUID
    token: uuid.UUID
    scheduled_for: datetime
    manual: bool = False
    redrive_of: int | None = None
    fire_at: datetime | None = None  # with jitter, when the slot fires; None: at the slot
    flow_key: str | None = None  # whose limits its attempts count against
    # A run's claim (overlap policy 'allow'): the token is the run's, the job's
    # claim having been given back when the execution started.
    detached: bool = False

    @property
    def fires(self) -> datetime:
        """When the slot is meant to fire: what lateness is measured from."""
        return self.fire_at or self.scheduled_for


@dataclass(frozen=True)
class Basis:
    """A job's schedule and the slots it has served, as read when an attempt
    started: what the finish computes the next run from, if they still hold."""

    schedule: Schedule
    runs: int


@dataclass(frozen=True)
class Definition:
    """What to run and how, read under the claim when an attempt starts."""

    type: str
    http_job: dict | None
    amqp_job: dict | None
    retry_policy: dict | None = None
    timeout: float | None = None  # seconds per attempt; None: the configured default
    misfire_grace: float | None = None  # seconds a slot may start late; None: any
    secrets: bytes | None = None  # sealed; the payloads hold "***" in their place
    on_success: bool = False  # the job has a callback for a success
    on_failure: bool = False  # and for a failure
    version: int | None = None  # the job's, as read: its executions record it
    max_concurrent: int | None = None  # overlap policy 'allow'; None: the default
    basis: Basis | None = None


@dataclass(frozen=True)
class Outcome:
    """How one execution of a slot ended, to be recorded."""

    delivery_id: uuid.UUID
    start_time: datetime  # of the first attempt
    end_time: datetime
    status: str  # SUCCESSFUL, FAILED or SKIPPED
    attempts: int
    error_message: str | None = None  # one short sentence
    status_code: int | None = None
    response_excerpt: str | None = None
    error_kind: str | None = None  # app/failures.py, KINDS
    error_detail: str | None = None  # the library's own text
    request: dict | None = None  # what was sent, secrets "***": kept with a dead letter


@dataclass(frozen=True)
class Finishing:
    """One execution to finish; with no basis, the next run is computed from the
    job as it is when finishing. The attempt key (of the attempt that started it)
    makes a finish tried again record nothing more."""

    claim: Claim
    outcome: Outcome
    basis: Basis | None = None
    attempt_key: uuid.UUID | None = None
    callback: str | None = None  # the event to call the job's callback with
    job_version: int | None = None  # the version of the job the execution ran


@dataclass(frozen=True)
class Claimed:
    """What one claim found: the claims made, the capacity left for them, the
    seconds until the next future slot (None: no job has one), whether any flow
    key exists (its jobs are claimed apart, key by key), and whether a run has
    expired."""

    claims: list[Claim]
    free: int
    next_due_in: float | None
    flows: bool = False
    runs_expired: bool = False  # a run whose holder is gone is to be claimed again

    def and_then(self, more: "Claimed") -> "Claimed":
        """This claim and one that followed it (of keyed jobs, of expired runs), as one."""
        waits = [wait for wait in (self.next_due_in, more.next_due_in) if wait is not None]
        return Claimed(self.claims + more.claims, self.free, min(waits, default=None))
