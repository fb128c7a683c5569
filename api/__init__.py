"""The management API: a Falcon WSGI app over the job store."""

from collections.abc import Callable

import falcon

from api import console, errors
from api.audit import AuditResource
from api.auth import AccessResource, RequireApiKey
from api.dead_letters import (
    DeadLetterResource,
    DeadLettersResource,
    RedriveManyResource,
    RedriveResource,
)
from api.flow_controls import FlowControlResource, FlowControlsResource
from api.health import HealthResource, ReadyResource
from api.idempotency import Idempotency
from api.jobs import (
    BulkResource,
    ExecutionResource,
    ExecutionsResource,
    JobByNameResource,
    JobResource,
    JobRunResource,
    JobsResource,
    JobStatusResource,
    PreviewResource,
)
from api.metrics import CountRequests, MetricsResource
from api.openapi import OpenApiResource
from api.request_ids import TagRequests
from app.jobs.models import bind_models
from app.secrets.sealing import SecretBox


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


DEFAULT_MAX_BODY = 1024 * 1024


def create_app(
    db,
    *,
    box: SecretBox | None = None,
    api_keys: tuple[str, ...] = (),
    api_read_keys: tuple[str, ...] = (),
    max_body_bytes: int = DEFAULT_MAX_BODY,
    broker: Callable[[], str] | None = None,
) -> falcon.App:
    """Wire the resources to `db` (a peewee database; the caller owns it).

    box: seals job secrets (none: jobs with secrets are refused); api_keys: keys
    required of every request but the open paths (none, nor read keys: the API is
    open); api_read_keys: keys that may only GET; broker: the broker check of
    /ready (api.health.broker_check; none: in-process broker).
    """
    box = box or SecretBox(())
    bind_models(db)
    app = falcon.App(
        middleware=[
            TagRequests(),
            CountRequests(),
            RequireApiKey(api_keys, api_read_keys),
            _ConnectionPerRequest(db),
            Idempotency(db, max_body_bytes),
        ]
    )
    errors.install(app)
    app.add_route("/v1/jobs", JobsResource(db, box, max_body_bytes))
    app.add_route("/v1/jobs/by-name/{name:path}", JobByNameResource(db, box, max_body_bytes))
    app.add_route("/v1/jobs/bulk", BulkResource(db, max_body_bytes))
    app.add_route("/v1/jobs/{job_id_text}", JobResource(db, box, max_body_bytes))
    app.add_route("/v1/jobs/{job_id_text}/executions", ExecutionsResource())
    app.add_route("/v1/jobs/{job_id_text}/pause", JobStatusResource(db, "STOPPED"))
    app.add_route("/v1/jobs/{job_id_text}/resume", JobStatusResource(db, "RUNNING"))
    app.add_route("/v1/jobs/{job_id_text}/run", JobRunResource(db))
    app.add_route("/v1/executions/{execution_id_text}", ExecutionResource(db))
    app.add_route("/v1/schedules/preview", PreviewResource(max_body_bytes))
    app.add_route("/v1/dead-letters", DeadLettersResource(db, max_body_bytes))
    app.add_route("/v1/dead-letters/redrive", RedriveManyResource(db, max_body_bytes))
    app.add_route("/v1/dead-letters/{dead_letter_id}", DeadLetterResource(db))
    app.add_route("/v1/dead-letters/{dead_letter_id}/redrive", RedriveResource(db))
    app.add_route("/v1/flow-controls", FlowControlsResource(db))
    app.add_route("/v1/flow-controls/{key}", FlowControlResource(db, max_body_bytes))
    app.add_route("/v1/access", AccessResource())
    app.add_route("/v1/audit", AuditResource(db))
    app.add_route("/health", HealthResource(db))
    app.add_route("/ready", ReadyResource(db, broker))
    app.add_route("/metrics", MetricsResource(db))
    app.add_route("/openapi.json", OpenApiResource())
    console.install(app)
    return app
