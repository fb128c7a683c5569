"""/v1/jobs, /v1/executions and /v1/schedules resources."""

from dataclasses import asdict
from datetime import UTC, datetime

import falcon

from api import render
from api.requests import (
    actor,
    choice,
    execution_id,
    flag,
    job_id,
    json_body,
    page,
    tags,
    when,
)
from app import callbacks
from app.errors import InvalidJob, PreconditionFailed
from app.jobs import bulk, views
from app.jobs import store as jobstore
from app.jobs.models import Job
from app.jobs.schemas import BULK_REQUEST, enforce
from app.jobs.spec import JOB_TYPES, STATUSES, parse_name, parse_preview
from app.secrets.sealing import SecretBox
from app.timing.schedule import first_run, upcoming


def _now() -> datetime:
    return datetime.now(UTC)


def _shown(jobs: list[Job]) -> list[dict]:
    """Jobs as the API shows them, with their latest executions read in one query."""
    latest = jobstore.latest_executions([job.id for job in jobs])
    return [render.job(job, latest.get(job.id)) for job in jobs]


def _tag(job: Job, resp) -> None:
    """The job's version as the answer's ETag."""
    resp.set_header("ETag", f'"{job.version}"')


def _one(job: Job, resp) -> dict:
    """The job as the API shows it, its version as the answer's ETag."""
    _tag(job, resp)
    return _shown([job])[0]


def _expected(req) -> int | None:
    """The version an If-Match names (None: any, or no If-Match)."""
    given = req.get_header("If-Match")
    if given is None or given.strip() == "*":
        return None
    tag = given.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise PreconditionFailed(f"If-Match {given!r} names no version of a job: send its ETag")
    return int(tag)


class JobsResource:
    uses_db = True
    idempotent = True  # its POST (api/idempotency.py)

    def __init__(self, db, box: SecretBox, max_body: int):
        self.db = db
        self.box = box
        self.max_body = max_body

    def on_post(self, req, resp):
        body = json_body(req, self.max_body)
        job = jobstore.create_job(self.db, body, _now(), self.box, actor(req))
        resp.status = falcon.HTTP_201
        _tag(job, resp)
        resp.media = render.job(job, None)  # a new job has not run yet

    def on_get(self, req, resp):
        limit, offset = page(req)
        after = req.get_param("after")
        rows = jobstore.list_jobs(
            limit,
            offset,
            tags(req),
            after=job_id(after) if after else None,
            status=choice(req, "status", STATUSES),
            type_=choice(req, "type", JOB_TYPES),
            name=parse_name(req.get_param("name")) if req.get_param("name") else None,
        )
        resp.media = _shown(rows)


class JobResource:
    uses_db = True

    def __init__(self, db, box: SecretBox, max_body: int):
        self.db = db
        self.box = box
        self.max_body = max_body

    def on_get(self, req, resp, job_id_text):
        resp.media = _one(jobstore.get_job(job_id(job_id_text)), resp)

    def on_put(self, req, resp, job_id_text):
        body = json_body(req, self.max_body)
        job = jobstore.update_job(
            self.db, job_id(job_id_text), body, _now(), self.box, actor(req), _expected(req)
        )
        resp.media = _one(job, resp)

    def on_delete(self, req, resp, job_id_text):
        jobstore.delete_job(self.db, job_id(job_id_text), _now(), actor(req), _expected(req))
        resp.status = falcon.HTTP_204


class JobByNameResource:
    """PUT /v1/jobs/by-name/{name}: create the job (201) or replace its
    definition (200); the same definition again changes nothing."""

    uses_db = True

    def __init__(self, db, box: SecretBox, max_body: int):
        self.db = db
        self.box = box
        self.max_body = max_body

    def on_put(self, req, resp, name):
        absent = req.get_header("If-None-Match")
        if absent is not None and absent.strip() != "*":
            raise InvalidJob("If-None-Match: only * is understood (create, never replace)")
        job, outcome = jobstore.upsert_job(
            self.db,
            parse_name(name),
            json_body(req, self.max_body),
            _now(),
            self.box,
            actor(req),
            _expected(req),
            absent=absent is not None,
        )
        resp.status = falcon.HTTP_201 if outcome == "created" else falcon.HTTP_200
        resp.media = _one(job, resp)


class BulkResource:
    """POST /v1/jobs/bulk: 200 and what a bulk action took and changed."""

    uses_db = True
    idempotent = True

    def __init__(self, db, max_body: int):
        self.db = db
        self.max_body = max_body

    def on_post(self, req, resp):
        body = json_body(req, self.max_body)
        request = bulk.parse_request(body)
        enforce(BULK_REQUEST, body)
        result = bulk.act(self.db, request, _now(), actor(req))
        resp.media = {**asdict(result), "dry_run": request.dry_run}


class JobStatusResource:
    """POST /v1/jobs/{id}/pause or /resume: 200 and the job."""

    uses_db = True

    def __init__(self, db, status: str):
        self.db = db
        self.status = status

    def on_post(self, req, resp, job_id_text):
        job = jobstore.set_status(
            self.db, job_id(job_id_text), self.status, _now(), actor(req), _expected(req)
        )
        resp.media = _one(job, resp)


class JobRunResource:
    """POST /v1/jobs/{id}/run: 202 and the job; 409 while it is executing."""

    uses_db = True
    idempotent = True

    def __init__(self, db):
        self.db = db

    def on_post(self, req, resp, job_id_text):
        job = jobstore.request_run(self.db, job_id(job_id_text), _now(), actor(req))
        resp.status = falcon.HTTP_202
        resp.media = _one(job, resp)


class ExecutionsResource:
    uses_db = True

    def on_get(self, req, resp, job_id_text):
        limit, offset = page(req)
        rows = jobstore.list_executions(
            job_id(job_id_text),
            flag(req, "failedOnly"),
            limit,
            offset,
            status=choice(req, "status", jobstore.EXECUTION_STATUSES),
            since=when(req, "from"),
            until=when(req, "to"),
        )
        resp.media = {"executions": [views.execution(row) for row in rows]}


class ExecutionResource:
    """GET /v1/executions/{id}: the execution, and how its callback went."""

    uses_db = True

    def __init__(self, db):
        self.db = db

    def on_get(self, req, resp, execution_id_text):
        found = jobstore.get_execution(execution_id(execution_id_text))
        resp.media = {
            **views.execution(found),
            "callback": callbacks.of_execution(self.db, found.id),
        }


class PreviewResource:
    """POST /v1/schedules/preview: the next fire times of a schedule, nothing stored."""

    def __init__(self, max_body: int):
        self.max_body = max_body

    def on_post(self, req, resp):
        schedule, count, job_id = parse_preview(json_body(req, self.max_body))
        now = _now()
        fires = upcoming(schedule, first_run(schedule, now), count, now, job_id=job_id)
        resp.media = {"next_runs": render.fire_times(fires, schedule.timezone)}
