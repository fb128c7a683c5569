"""/v1/flow-controls: the limits shared by the jobs naming a flow key, and what
they hold back now."""

from datetime import UTC, datetime

import falcon

from api.requests import actor, json_body, keyset_limit
from app import flow_controls
from app.flow_controls import FlowControl
from app.jobs.schemas import FLOW_LIMITS, enforce
from app.jobs.views import timestamp
from app.timing.durations import format_duration

DEFAULT_LIMIT = 100


def render(control: FlowControl) -> dict:
    return {
        "key": control.key,
        "rate": control.rate,
        "period": format_duration(control.period) if control.rate is not None else None,
        "parallelism": control.parallelism,
        "in_flight": control.in_flight,
        "waiting": control.waiting,
        "started_last_period": control.started_last_period,
        "created_at": timestamp(control.created_at),
        "updated_at": timestamp(control.updated_at),
    }


class FlowControlsResource:
    """GET: keys with limits, in key order (keyset paging by `after`)."""

    uses_db = True

    def __init__(self, db):
        self.db = db

    def on_get(self, req, resp):
        after = req.get_param("after")
        controls = flow_controls.list_all(
            self.db,
            keyset_limit(req, DEFAULT_LIMIT),
            flow_controls.parse_key(after) if after is not None else None,
        )
        resp.media = {"flow_controls": [render(c) for c in controls]}


class FlowControlResource:
    uses_db = True

    def __init__(self, db, max_body: int):
        self.db = db
        self.max_body = max_body

    def on_get(self, req, resp, key):
        resp.media = render(flow_controls.get(self.db, flow_controls.parse_key(key)))

    def on_put(self, req, resp, key):
        """Set the key's limits: 201 when it had none, else 200."""
        key = flow_controls.parse_key(key)
        body = json_body(req, self.max_body)
        limits = flow_controls.parse_limits(body)
        enforce(FLOW_LIMITS, body)
        control, created = flow_controls.set_limits(
            self.db, key, limits, datetime.now(UTC), actor(req)
        )
        resp.status = falcon.HTTP_201 if created else falcon.HTTP_200
        resp.media = render(control)

    def on_delete(self, req, resp, key):
        flow_controls.delete(self.db, flow_controls.parse_key(key), datetime.now(UTC), actor(req))
        resp.status = falcon.HTTP_204
