"""GET /v1/audit: the changes made through the API, newest first."""

from api.requests import choice, execution_id, uuid_param, when
from app import audit

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


class AuditResource:
    uses_db = True

    def __init__(self, db):
        self.db = db

    def on_get(self, req, resp):
        limit = req.get_param_as_int("limit", min_value=1, max_value=MAX_LIMIT)
        after = req.get_param("after")
        resp.media = {
            "entries": audit.entries(
                self.db,
                DEFAULT_LIMIT if limit is None else limit,
                job_id=uuid_param(req, "job_id"),
                action=choice(req, "action", audit.ACTIONS),
                since=when(req, "from"),
                until=when(req, "to"),
                after=execution_id(after, "audit entry id") if after else None,
            )
        }
