"""/v1/dead-letters: the FAILED executions kept to act on, and their redrive."""

from datetime import UTC, datetime

import falcon

from api import render
from api.requests import actor, execution_id, json_body, keyset_limit, uuid_param, when
from app.jobs import dead_letters

DEFAULT_LIMIT = 20


def _id(text: str) -> int:
    return execution_id(text, "dead letter id")


class DeadLettersResource:
    """GET: newest first, filtered; DELETE: those a selector takes."""

    uses_db = True

    def __init__(self, db, max_body: int):
        self.db = db
        self.max_body = max_body

    def on_get(self, req, resp):
        after = req.get_param("after")
        rows = dead_letters.list_dead_letters(
            keyset_limit(req, DEFAULT_LIMIT),
            job_id=uuid_param(req, "job_id"),
            since=when(req, "from"),
            until=when(req, "to"),
            after=_id(after) if after else None,
        )
        resp.media = {"dead_letters": [render.dead_letter(row) for row in rows]}

    def on_delete(self, req, resp):
        selector = dead_letters.parse_selector(json_body(req, self.max_body))
        deleted = dead_letters.delete_many(self.db, selector, datetime.now(UTC), actor(req))
        resp.media = {"deleted": deleted}


class DeadLetterResource:
    uses_db = True

    def __init__(self, db):
        self.db = db

    def on_get(self, req, resp, dead_letter_id):
        resp.media = render.dead_letter(dead_letters.get_dead_letter(_id(dead_letter_id)))

    def on_delete(self, req, resp, dead_letter_id):
        dead_letters.delete(self.db, _id(dead_letter_id), datetime.now(UTC), actor(req))
        resp.status = falcon.HTTP_204


class RedriveResource:
    """POST /v1/dead-letters/{id}/redrive: 202 and the dead letter, its redrive pending."""

    uses_db = True
    idempotent = True

    def __init__(self, db):
        self.db = db

    def on_post(self, req, resp, dead_letter_id):
        redriven = dead_letters.redrive(self.db, _id(dead_letter_id), datetime.now(UTC), actor(req))
        resp.status = falcon.HTTP_202
        resp.media = render.dead_letter(redriven)


class RedriveManyResource:
    """POST /v1/dead-letters/redrive: 202 and how many redrives were asked for."""

    uses_db = True
    idempotent = True

    def __init__(self, db, max_body: int):
        self.db = db
        self.max_body = max_body

    def on_post(self, req, resp):
        selector = dead_letters.parse_selector(json_body(req, self.max_body))
        resp.status = falcon.HTTP_202
        redriven = dead_letters.redrive_many(self.db, selector, datetime.now(UTC), actor(req))
        resp.media = {"redriven": redriven}
