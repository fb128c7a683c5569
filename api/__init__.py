"""The management API: a Falcon WSGI app over the job store."""

import falcon

from api import errors
from api.health import HealthResource
from api.jobs import (
    ExecutionResource,
    ExecutionsResource,
    JobResource,
    JobRunResource,
    JobsResource,
    JobStatusResource,
    PreviewResource,
)
from app.models import bind_models


class _ConnectionPerRequest:
    """Borrow one pooled connection for a request to a resource that uses the database."""

    def __init__(self, db):
        self.db = db

    def process_resource(self, req, resp, resource, params):
        if getattr(resource, "uses_db", False):
            self.db.connect(reuse_if_open=True)

    def process_response(self, req, resp, resource, req_succeeded):
        if not self.db.is_closed():
            self.db.close()


def create_app(db) -> falcon.App:
    """Wire the resources to `db` (a peewee database; the caller owns it)."""
    bind_models(db)
    app = falcon.App(middleware=[_ConnectionPerRequest(db)])
    errors.install(app)
    app.add_route("/v1/jobs", JobsResource(db))
    app.add_route("/v1/jobs/{job_id_text}", JobResource(db))
    app.add_route("/v1/jobs/{job_id_text}/executions", ExecutionsResource())
    app.add_route("/v1/jobs/{job_id_text}/pause", JobStatusResource(db, "STOPPED"))
    app.add_route("/v1/jobs/{job_id_text}/resume", JobStatusResource(db, "RUNNING"))
    app.add_route("/v1/jobs/{job_id_text}/run", JobRunResource(db))
    app.add_route("/v1/executions/{execution_id_text}", ExecutionResource())
    app.add_route("/v1/schedules/preview", PreviewResource())
    app.add_route("/health", HealthResource(db))
    return app
