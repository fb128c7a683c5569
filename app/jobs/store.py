"""The API's reads and writes of jobs and executions."""

import json
import uuid
from datetime import datetime

from peewee import IntegrityError, Tuple

from app import audit, flow_controls
from app.audit import Actor, Entry
from app.db.wakeup import WAKE
from app.errors import Conflict, InvalidJob, JobBusy, JobNotFound, PreconditionFailed
from app.jobs.dead_letters import pending_redrives
from app.jobs.models import Execution, Job
from app.jobs.spec import JobSpec, apply_update, parse_create, parse_replacement, parse_status
from app.jobs.views import definition, timestamp
from app.secrets.redaction import (
    CALLBACKS,
    merge_callback,
    merge_secrets,
    split_callback,
    split_secrets,
)
from app.secrets.sealing import SealingError, SecretBox
from app.timing.retry import policy_from_json
from app.timing.schedule import Schedule, first_run, planned

EXECUTION_STATUSES = ("SUCCESSFUL", "FAILED", "SKIPPED")


def schedule_of(job: Job) -> Schedule:
    return Schedule(
        execute_at=job.execute_at,
        cron=job.cron_schedule,
        timezone=job.timezone,
        starts_at=job.starts_at,
        ends_at=job.ends_at,
        max_runs=job.max_runs,
        jitter=job.jitter,
        overlap=job.overlap_policy,
    )


def spec_of(job: Job, box: SecretBox) -> JobSpec:
    """The job's full definition, its secrets opened and back in place."""
    return _spec(job, box.open(job.secrets))


def _spec(job: Job, opened: dict[str, str]) -> JobSpec:
    """The job's full definition with its `opened` secrets back in place."""
    http_job, amqp_job = merge_secrets(job.http_job, job.amqp_job, opened)
    callbacks = {
        name: merge_callback(name, getattr(job, name), opened)
        for name in CALLBACKS
        if getattr(job, name) is not None
    }
    return JobSpec(
        type=job.type,
        schedule=schedule_of(job),
        http_job=http_job,
        amqp_job=amqp_job,
        tags=list(job.tags or []),
        misfire_grace=job.misfire_grace,
        retry_policy=policy_from_json(job.retry_policy) if job.retry_policy else None,
        timeout=job.timeout,
        pause_after_failures=job.pause_after_failures,
        flow_key=job.flow_key,
        name=job.name,
        max_concurrent=job.max_concurrent,
        **callbacks,
    )


def _store(job: Job, spec: JobSpec, box: SecretBox) -> dict[str, str]:
    """Copy a definition onto a row, its secrets sealed apart (the schedule's next
    run is the caller's); the secrets, by path."""
    http_job, amqp_job, secrets = split_secrets(spec.http_job, spec.amqp_job)
    for name in CALLBACKS:
        callback = getattr(spec, name)
        if callback is not None:
            callback, own = split_callback(name, callback)
            secrets.update(own)
        setattr(job, name, callback)
    try:
        job.secrets = box.seal(secrets)
    except SealingError as error:
        raise InvalidJob(str(error)) from None
    job.type = spec.type
    job.execute_at = spec.schedule.execute_at
    job.cron_schedule = spec.schedule.cron
    job.timezone = spec.schedule.timezone
    job.starts_at = spec.schedule.starts_at
    job.ends_at = spec.schedule.ends_at
    job.max_runs = spec.schedule.max_runs
    job.jitter = spec.schedule.jitter
    job.overlap_policy = spec.schedule.overlap
    job.http_job = http_job
    job.amqp_job = amqp_job
    job.tags = spec.tags
    job.misfire_grace = spec.misfire_grace
    job.retry_policy = spec.retry_policy.as_json() if spec.retry_policy else None
    job.timeout = spec.timeout
    job.pause_after_failures = spec.pause_after_failures
    job.flow_key = spec.flow_key
    job.name = spec.name
    job.max_concurrent = spec.max_concurrent
    return secrets


def _plan(job: Job, schedule: Schedule, now: datetime, check: bool = True) -> None:
    """Set the job's next slot (and its fire time) from `now`, for a job created,
    rescheduled (`check`: refusing a window with no slot) or resumed."""
    slot = first_run(schedule, now, job.runs)
    if check and slot is None and schedule.cron is not None and job.runs == 0:
        raise InvalidJob("the schedule has no slot between starts_at and ends_at")
    job.next_run, job.next_slot = planned(schedule, job.id, slot)


def change_entry(
    action: str, job: Job, before: dict | None, secrets: list[str] = ()
) -> Entry | None:
    """The audit entry of the change `action` made to `job` (`before`: its
    definition before; None for a new job); None if nothing changed. `secrets`:
    the paths of the secrets that changed, whose values the row and the log
    never show."""
    after = None if action == "delete" else definition(job)
    changes = audit.changes(before, after)
    if secrets:
        changes["secrets_changed"] = list(secrets)
    elif changes["before"] == changes["after"] == {}:
        return None
    return Entry(action, job.id, changes=changes)


def _audit(
    db,
    by: Actor,
    now: datetime,
    action: str,
    job: Job,
    before: dict | None,
    secrets: list[str] = (),
) -> None:
    """Log a change (as `change_entry` tells it), in the caller's transaction."""
    entry = change_entry(action, job, before, secrets)
    if entry is not None:
        audit.record(db, by, now, entry)


def _changed_secrets(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(path for path in {**before, **after} if before.get(path) != after.get(path))


def create_job(db, body, now: datetime, box: SecretBox, by: Actor) -> Job:
    spec = parse_create(body, now)
    with db.atomic():
        job = _insert(db, spec, now, box)
        _audit(db, by, now, "create", job, None)
        return job


def _insert(db, spec: JobSpec, now: datetime, box: SecretBox) -> Job:
    """A new job, in the caller's transaction; Conflict if its name is taken."""
    job = Job(id=uuid.uuid4(), status="RUNNING", runs=0, created_at=now, updated_at=now)
    _store(job, spec, box)
    _plan(job, spec.schedule, now)
    flow_controls.name_key(db, job.flow_key)
    try:
        with db.atomic():  # a savepoint: the caller may go on after a name taken
            job.save(force_insert=True)
    except IntegrityError:
        raise Conflict(f"a job named {spec.name!r} exists already") from None
    wake_tick(db)
    return job


def upsert_job(
    db,
    name: str,
    body,
    now: datetime,
    box: SecretBox,
    by: Actor,
    expected: int | None = None,
    absent: bool = False,
) -> tuple[Job, str]:
    """Create the job named `name` from a full definition, or replace its
    definition: (the job, "created", "replaced" or "unchanged"). An unchanged
    definition changes nothing, not even the version or next_run, so a deploy may
    register its jobs at every start. `expected`: the version the client read
    (If-Match); `absent`: only create (If-None-Match: *)."""
    body = _named(body, name)
    with db.atomic():
        job = Job.select().where(Job.name == name).for_update().get_or_none()
        if job is None:
            if expected is not None:
                raise PreconditionFailed(f"no job is named {name!r}")
            try:
                job = _insert(db, parse_create(body, now), now, box)
                _audit(db, by, now, "upsert", job, None)
                return job, "created"
            except Conflict:  # created meanwhile by another request: replace it
                job = Job.select().where(Job.name == name).for_update().get()
        if absent:
            raise PreconditionFailed(f"a job named {name!r} exists already (If-None-Match: *)")
        _expect(job, expected)
        opened = box.open(job.secrets)
        before = _spec(job, opened)
        spec = parse_replacement(body, now, before)
        if spec == before:
            return job, "unchanged"
        shown = definition(job)
        secrets = _changed_secrets(opened, _store(job, spec, box))
        if spec.schedule != before.schedule:
            _plan(job, spec.schedule, now)
            wake_tick(db)
        job.version += 1
        job.updated_at = now
        flow_controls.name_key(db, job.flow_key)
        job.save()
        _audit(db, by, now, "upsert", job, shown, secrets)
        return job, "replaced"


def _named(body, name: str):
    """The upsert's body, named by its path."""
    if isinstance(body, dict):
        given = body.get("name")
        if given is not None and given != name:
            raise InvalidJob(f"name {given!r} differs from the path's {name!r}")
        return {**body, "name": name}
    return body


def _expect(job: Job, expected: int | None) -> None:
    """Refuse a change made from a stale read of the job (If-Match)."""
    if expected is not None and expected != job.version:
        raise PreconditionFailed(
            f"job {job.id} is at version {job.version}, not {expected}: read it again"
        )


def wake_tick(db) -> None:
    """Tell sleeping ticks a job may be due sooner; delivered when the transaction commits."""
    db.execute_sql(WAKE)


def get_job(job_id: uuid.UUID) -> Job:
    job = Job.get_or_none(Job.id == job_id)
    if job is None:
        raise JobNotFound(f"job {job_id} not found")
    return job


def list_jobs(
    limit: int,
    offset: int,
    tags: list[str],
    status: str | None = None,
    type_: str | None = None,
    after: uuid.UUID | None = None,
    name: str | None = None,
) -> list[Job]:
    """Jobs in creation order; `after`: only those after that job (keyset paging,
    which stays as fast at any depth as on the first page, unlike `offset`)."""
    query = Job.select()
    if after is not None:
        cursor = Job.select(Job.created_at, Job.id).where(Job.id == after).get_or_none()
        if cursor is None:
            raise InvalidJob(f"after: no job {after}")
        query = query.where(Tuple(Job.created_at, Job.id) > Tuple(cursor.created_at, cursor.id))

    if tags:
        query = query.where(Job.tags.contains(*tags))
    if status:
        query = query.where(Job.status == status)
    if type_:
        query = query.where(Job.type == type_)
    if name is not None:
        query = query.where(Job.name == name)
    return list(query.order_by(Job.created_at, Job.id).limit(limit).offset(offset))


def _locked(job_id: uuid.UUID) -> Job:
    job = Job.select().where(Job.id == job_id).for_update().get_or_none()
    if job is None:
        raise JobNotFound(f"job {job_id} not found")
    return job


def update_job(
    db,
    job_id: uuid.UUID,
    body,
    now: datetime,
    box: SecretBox,
    by: Actor,
    expected: int | None = None,
) -> Job:
    """Apply a partial update; next_run follows a changed schedule at once.

    A run in flight is not disturbed: it finishes under the definition it
    started with, and its finish computes the next run from this new definition.
    `expected`: the version the client read (If-Match).
    """
    with db.atomic():
        job = _locked(job_id)
        _expect(job, expected)
        shown, opened = definition(job), box.open(job.secrets)
        before = _spec(job, opened)
        spec = apply_update(before, body, now)
        status = parse_status(body["status"]) if body.get("status") is not None else None
        secrets = _changed_secrets(opened, _store(job, spec, box))
        if spec.schedule != before.schedule:
            _plan(job, spec.schedule, now)
        if spec != before or (status is not None and status != job.status):
            job.version += 1
        if status is not None:
            _set_status(job, status, now)
        job.updated_at = now
        flow_controls.name_key(db, job.flow_key)
        try:
            with db.atomic():
                job.save()
        except IntegrityError:
            raise Conflict(f"a job named {spec.name!r} exists already") from None
        if spec.schedule != before.schedule or status == "RUNNING":
            wake_tick(db)  # the job may be due sooner
        _audit(db, by, now, "update", job, shown, secrets)
        return job


def status_action(status: str) -> str:
    return "resume" if status == "RUNNING" else "pause"


# Write what change_status changed, for many jobs at once: one statement however
# many, where saving each row is a round trip each (1 ms a job).
_SAVE_STATUSES = """
UPDATE jobs SET status = v.status, version = v.version, updated_at = v.updated_at,
    next_run = v.next_run, next_slot = v.next_slot,
    consecutive_failures = v.consecutive_failures, paused_reason = v.paused_reason
FROM jsonb_to_recordset(%(rows)s::jsonb) AS v(
    id uuid, status text, version integer, updated_at timestamptz, next_run timestamptz,
    next_slot timestamptz, consecutive_failures integer, paused_reason text)
WHERE jobs.id = v.id
"""


def save_statuses(db, jobs: list[Job]) -> None:
    """Write the status changes (change_status) of locked jobs, in one statement."""
    if not jobs:
        return
    rows = [
        {
            "id": str(job.id),
            "status": job.status,
            "version": job.version,
            "updated_at": timestamp(job.updated_at),
            "next_run": timestamp(job.next_run),
            "next_slot": timestamp(job.next_slot),
            "consecutive_failures": job.consecutive_failures,
            "paused_reason": job.paused_reason,
        }
        for job in jobs
    ]
    db.execute_sql(_SAVE_STATUSES, {"rows": json.dumps(rows)})


def change_status(job: Job, status: str, now: datetime) -> None:
    """Pause or resume a locked job, a new version if it changes."""
    if status != job.status:
        job.version += 1
        _set_status(job, status, now)
    job.updated_at = now


def _set_status(job: Job, status: str, now: datetime) -> None:
    """Pause or resume. A resumed recurring job's next slot counts from now; a
    one-off job keeps its next_run, so an overdue one runs once at once.
    In-flight executions finish: the claim, not the status, fences them."""
    if status == job.status:
        return
    job.status = status
    if status == "RUNNING":
        job.consecutive_failures, job.paused_reason = 0, None
        if job.cron_schedule is not None:
            _plan(job, schedule_of(job), now, check=False)


def set_status(
    db, job_id: uuid.UUID, status: str, now: datetime, by: Actor, expected: int | None = None
) -> Job:
    with db.atomic():
        job = _locked(job_id)
        _expect(job, expected)
        shown = definition(job)
        change_status(job, status, now)
        job.save()
        if status == "RUNNING":
            wake_tick(db)
        _audit(db, by, now, status_action(status), job, shown)
        return job


def request_run(db, job_id: uuid.UUID, now: datetime, by: Actor) -> Job:
    """Ask for one run of the job now, outside its schedule; the tick claims it.

    Refused (JobBusy) while the job is executing, so it never runs twice at once
    (unless its overlap policy is 'allow').
    """
    with db.atomic():
        job = _locked(job_id)
        refused = run_refusal(job, now)
        if refused is not None:
            raise refused
        if job.run_requested_at is None:
            job.run_requested_at = now
            job.save()
            wake_tick(db)
            audit.record(db, by, now, Entry("run", job.id))
        return job


def run_refusal(job: Job, now: datetime) -> Conflict | None:
    """Why a run now of the locked job must wait, if it must."""
    if job.busy(now):
        return JobBusy(f"job {job.id} is executing; try again when it has finished")
    if job.run_requested_at is not None and pending_redrives(job.id):
        # One pending request per job: a run now would be taken for a redrive.
        return Conflict(f"job {job.id} has redrives pending; run it once they have run")
    return None


def delete_job(
    db, job_id: uuid.UUID, now: datetime, by: Actor, expected: int | None = None
) -> None:
    with db.atomic():
        job = _locked(job_id)
        _expect(job, expected)
        job.delete_instance()
        _audit(db, by, now, "delete", job, definition(job))


def list_executions(
    job_id: uuid.UUID,
    failed_only: bool,
    limit: int,
    offset: int,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Execution]:
    """A job's executions, newest first; `since`/`until` bound the start time."""
    get_job(job_id)
    query = Execution.select().where(Execution.job == job_id)
    if failed_only:
        query = query.where(Execution.status == "FAILED")
    if status:
        query = query.where(Execution.status == status)
    if since:
        query = query.where(Execution.start_time >= since)
    if until:
        query = query.where(Execution.start_time < until)
    order = (Execution.start_time.desc(), Execution.id.desc())
    return list(query.order_by(*order).limit(limit).offset(offset))


# One index probe (executions_job) per job for its newest execution: DISTINCT ON
# would read every execution of each job, millions for an every-second job.
_LATEST_EXECUTIONS = """
SELECT latest.job_id, latest.status, latest.end_time, latest.status_code
FROM unnest(%s::uuid[]) AS page(job_id)
CROSS JOIN LATERAL (
    SELECT job_id, status, end_time, status_code FROM executions
    WHERE executions.job_id = page.job_id
    ORDER BY start_time DESC, id DESC
    LIMIT 1
) AS latest
"""


def latest_executions(job_ids: list[uuid.UUID]) -> dict[uuid.UUID, Execution]:
    """The newest execution of each job that has one, in one query whatever the count."""
    if not job_ids:
        return {}
    rows = Execution.raw(_LATEST_EXECUTIONS, [str(job_id) for job_id in job_ids])
    return {row.job_id: row for row in rows}


def get_execution(execution_id: int) -> Execution:
    execution = Execution.get_or_none(Execution.id == execution_id)
    if execution is None:
        raise JobNotFound(f"execution {execution_id} not found")
    return execution


def reseal_all(db, box: SecretBox, batch: int = 500) -> tuple[int, int]:
    """Re-seal every job's secrets with the newest key, and seal secrets still kept
    in clear in a payload (jobs written before secrets were sealed).

    (re-sealed, newly sealed). Each batch is its own short transaction.
    """
    resealed = sealed = 0
    last = uuid.UUID(int=0)
    while True:
        with db.atomic():
            rows = list(
                Job.select().where(Job.id > last).order_by(Job.id).limit(batch).for_update(of=Job)
            )
            for job in rows:
                http_job, amqp_job, clear = split_secrets(job.http_job, job.amqp_job)
                if job.secrets is not None:
                    opened = box.open(job.secrets)
                    job.secrets = box.seal({**clear, **opened})
                    resealed += 1
                elif clear:
                    job.secrets = box.seal(clear)
                    sealed += 1
                else:
                    continue
                job.http_job, job.amqp_job = http_job, amqp_job
                job.save()
        if len(rows) < batch:
            return resealed, sealed
        last = rows[-1].id
