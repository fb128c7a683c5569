"""Every error leaves the API as JSON {"error": "..."} with the right status."""

import logging

import falcon
import peewee

from app.errors import Conflict, InvalidJob, JobNotFound, PreconditionFailed
from app.secrets.sealing import SealingError

log = logging.getLogger(__name__)


def _ids(req) -> dict:
    """The request's id, for a log line about it (api/request_ids.py)."""
    return {"request_id": req.context.request_id}


def serialize_error(req, resp, exception: falcon.HTTPError) -> None:
    resp.content_type = falcon.MEDIA_JSON
    resp.media = {"error": exception.description or exception.title}


def _invalid(req, resp, exception, params):
    raise falcon.HTTPBadRequest(description=str(exception))


def _not_found(req, resp, exception, params):
    raise falcon.HTTPNotFound(description=str(exception))


def _conflict(req, resp, exception, params):
    raise falcon.HTTPConflict(description=str(exception))


def _precondition(req, resp, exception, params):
    raise falcon.HTTPPreconditionFailed(description=str(exception))


def _sealing(req, resp, exception, params):
    log.error("job secrets unavailable: %s", exception, extra=_ids(req))
    raise falcon.HTTPServiceUnavailable(description=str(exception))


def _database_down(req, resp, exception, params):
    log.warning(
        "database unavailable: %s", str(exception).strip().splitlines()[0:1], extra=_ids(req)
    )
    raise falcon.HTTPServiceUnavailable(description="database unavailable, try again")


def _unexpected(req, resp, exception, params):
    if isinstance(exception, falcon.HTTPError):
        raise exception
    log.exception("unhandled error on %s %s", req.method, req.path, extra=_ids(req))
    raise falcon.HTTPInternalServerError(description="internal error")


def install(app: falcon.App) -> None:
    app.set_error_serializer(serialize_error)
    app.add_error_handler(Exception, _unexpected)
    app.add_error_handler(InvalidJob, _invalid)
    app.add_error_handler(JobNotFound, _not_found)
    app.add_error_handler(Conflict, _conflict)
    app.add_error_handler(PreconditionFailed, _precondition)
    app.add_error_handler(SealingError, _sealing)
    app.add_error_handler((peewee.OperationalError, peewee.InterfaceError), _database_down)
