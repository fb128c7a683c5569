"""GET /v1/audit: the changes made through the API, newest first."""

from api.requests import choice, execution_id, keyset_limit, uuid_param, when
from app import audit

DEFAULT_LIMIT = 50


class AuditResource:
    uses_db = True

    def __init__(self, db):
        self.db = db

    def on_get(self, req, resp):
        after = req.get_param("after")
        resp.media = {
            "entries": audit.entries(
                self.db,
                keyset_limit(req, DEFAULT_LIMIT),
                job_id=uuid_param(req, "job_id"),
                action=choice(req, "action", audit.ACTIONS),
                since=when(req, "from"),
                until=when(req, "to"),
                after=execution_id(after, "audit entry id") if after else None,
            )
        }
