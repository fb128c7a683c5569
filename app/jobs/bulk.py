"""Bulk actions: pause, resume, delete or run every job a selector takes
(POST /v1/jobs/bulk).

Each job goes the way its own route takes it (app/jobs/store.py): a pause lets
in-flight executions finish, a resume plans a recurring job's next slot from
now, a run is a request the tick claims, refused (here: left out) while the job
is executing. One call acts on at most MAX_JOBS jobs, locked in id order as
every statement that changes many jobs locks them, in one transaction with an
audit entry for each job changed and one for the call.
"""

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from peewee import fn

from app import audit
from app.audit import Actor, Entry
from app.errors import InvalidJob
from app.jobs import store
from app.jobs.models import Job
from app.jobs.schemas import BULK_ACTIONS, BULK_MAX_JOBS, BULK_SHOWN_IDS
from app.jobs.spec import JOB_TYPES, STATUSES, parse_name, parse_uuid
from app.jobs.views import definition

ACTIONS = BULK_ACTIONS
MAX_JOBS = BULK_MAX_JOBS
SHOWN_IDS = BULK_SHOWN_IDS


@dataclass(frozen=True)
class Selector:
    """Which jobs: those with all of these (at least one is needed)."""

    ids: tuple[uuid.UUID, ...] = ()
    tags: tuple[str, ...] = ()
    status: str | None = None
    type: str | None = None
    name_prefix: str | None = None


@dataclass(frozen=True)
class Request:
    action: str
    selector: Selector
    dry_run: bool = False


@dataclass(frozen=True)
class Result:
    matched: int  # jobs the selector takes, all of them
    affected: int  # jobs changed (or, in a dry run, that would be)
    job_ids: list[str]  # the first SHOWN_IDS of those
    more: bool  # more than MAX_JOBS matched: call again for the rest


def parse_request(body: Any) -> Request:
    if not isinstance(body, dict):
        raise InvalidJob("request body must be a JSON object")
    unknown = sorted(set(body) - {"action", "selector", "dry_run"})
    if unknown:
        raise InvalidJob(f"unknown field {unknown[0]!r}: give action, selector and dry_run")
    if body.get("action") not in ACTIONS:
        raise InvalidJob(f"action must be one of {', '.join(ACTIONS)}")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise InvalidJob("dry_run must be true or false")
    return Request(body["action"], parse_selector(body.get("selector")), dry_run)


def parse_selector(given: Any) -> Selector:
    if not isinstance(given, dict):
        raise InvalidJob("selector must be an object: ids, tags, status, type or name_prefix")
    unknown = sorted(set(given) - {"ids", "tags", "status", "type", "name_prefix"})
    if unknown:
        raise InvalidJob(f"selector: unknown field {unknown[0]!r}")
    ids, tags = given.get("ids") or [], given.get("tags") or []
    if not isinstance(ids, list) or len(ids) > MAX_JOBS or None in ids:
        raise InvalidJob(f"selector.ids must be a list of at most {MAX_JOBS} job ids")
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise InvalidJob("selector.tags must be a list of strings")
    status, type_, prefix = (given.get(name) for name in ("status", "type", "name_prefix"))
    if status is not None and status not in STATUSES:
        raise InvalidJob(f"selector.status must be one of {', '.join(STATUSES)}")
    if type_ is not None and type_ not in JOB_TYPES:
        raise InvalidJob(f"selector.type must be one of {', '.join(JOB_TYPES)}")
    selector = Selector(
        ids=tuple(parse_uuid(value, "selector.ids") for value in ids),
        tags=tuple(tags),
        status=status,
        type=type_,
        name_prefix=None if prefix is None else parse_name(prefix),
    )
    if selector == Selector():
        raise InvalidJob(
            "selector needs at least one of ids, tags, status, type, name_prefix: "
            "a bulk action never takes every job by accident"
        )
    return selector


def _query(selector: Selector):
    query = Job.select()
    if selector.ids:
        query = query.where(Job.id.in_(list(selector.ids)))
    if selector.tags:
        query = query.where(Job.tags.contains(*selector.tags))
    if selector.status is not None:
        query = query.where(Job.status == selector.status)
    if selector.type is not None:
        query = query.where(Job.type == selector.type)
    if selector.name_prefix is not None:
        query = query.where(fn.starts_with(Job.name, selector.name_prefix))
    return query


def act(db, request: Request, now: datetime, by: Actor) -> Result:
    """Act on the jobs the selector takes, the first MAX_JOBS of them by id; a dry
    run does it all and rolls it back, so it tells exactly what would change."""
    with db.atomic() as transaction:
        query = _query(request.selector)
        matched = query.count()
        jobs = list(query.order_by(Job.id).limit(MAX_JOBS).for_update())
        changed = _ACT[request.action](db, jobs, now)
        entries = [entry for entry in changed.values() if entry is not None]
        summary = {
            "action": request.action,
            "selector": _shown(request.selector),
            "matched": matched,
            "affected": len(changed),
        }
        audit.record(db, by, now, *entries, Entry("bulk", changes=summary))
        if request.dry_run:
            transaction.rollback()
    ids = [str(job_id) for job_id in changed]
    return Result(matched, len(ids), ids[:SHOWN_IDS], matched > MAX_JOBS)


def _shown(selector: Selector) -> dict:
    shown = {name: value for name, value in asdict(selector).items() if value not in (None, ())}
    if "ids" in shown:
        shown["ids"] = [str(job_id) for job_id in selector.ids]
    return shown


def _status(status: str):
    def change(db, jobs: list[Job], now: datetime) -> dict:
        changed, saved = {}, []
        for job in (job for job in jobs if job.status != status):
            before = definition(job)
            store.change_status(job, status, now)
            saved.append(job)
            changed[job.id] = store.change_entry(store.status_action(status), job, before)
        store.save_statuses(db, saved)
        if changed and status == "RUNNING":
            store.wake_tick(db)
        return changed

    return change


def _delete(db, jobs: list[Job], now: datetime) -> dict:
    if jobs:
        Job.delete().where(Job.id.in_([job.id for job in jobs])).execute()
    return {job.id: store.change_entry("delete", job, definition(job)) for job in jobs}


def _run(db, jobs: list[Job], now: datetime) -> dict:
    changed = {
        job.id: Entry("run", job.id)
        for job in jobs
        if job.run_requested_at is None and store.run_refusal(job, now) is None
    }
    if changed:
        Job.update(run_requested_at=now).where(Job.id.in_(list(changed))).execute()
        store.wake_tick(db)
    return changed


_ACT = {
    "pause": _status("STOPPED"),
    "resume": _status("RUNNING"),
    "delete": _delete,
    "run": _run,
}
