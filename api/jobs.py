"""/v1/jobs resources."""

from datetime import UTC, datetime

import falcon

from api import render
from api.requests import flag, job_id, json_body, page, tags
from app import jobstore


def _now() -> datetime:
    return datetime.now(UTC)


class JobsResource:
    uses_db = True

    def __init__(self, db):
        self.db = db

    def on_post(self, req, resp):
        job = jobstore.create_job(self.db, json_body(req), _now())
        resp.status = falcon.HTTP_201
        resp.media = render.job(job)

    def on_get(self, req, resp):
        limit, offset = page(req)
        rows = jobstore.list_jobs(limit, offset, tags(req))
        resp.media = [render.job(job) for job in rows]


class JobResource:
    uses_db = True

    def __init__(self, db):
        self.db = db

    def on_get(self, req, resp, job_id_text):
        resp.media = render.job(jobstore.get_job(job_id(job_id_text)))

    def on_put(self, req, resp, job_id_text):
        job = jobstore.update_job(self.db, job_id(job_id_text), json_body(req), _now())
        resp.media = render.job(job)

    def on_delete(self, req, resp, job_id_text):
        jobstore.delete_job(job_id(job_id_text))
        resp.status = falcon.HTTP_204


class ExecutionsResource:
    uses_db = True

    def on_get(self, req, resp, job_id_text):
        limit, offset = page(req)
        rows = jobstore.list_executions(job_id(job_id_text), flag(req, "failedOnly"), limit, offset)
        resp.media = {"executions": [render.execution(row) for row in rows]}
