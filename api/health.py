"""GET /health: 200 when the database answers, 503 otherwise (the reference's check).
GET /ready: 200 when the database and the broker answer and every migration is
applied, 503 otherwise; both say what they checked."""

from collections.abc import Callable

import falcon
import pika

from app.db.migrate import pending
from app.outage import DATABASE_DOWN


def _database(db) -> str:
    try:
        with db.connection_context():
            db.execute_sql("SELECT 1")
    except DATABASE_DOWN as error:
        return f"unreachable: {str(error).strip()}"
    return "ok"


def broker_check(url: str) -> Callable[[], str]:
    """A check that opens (and closes) one connection to the RabbitMQ at `url`."""

    def check() -> str:
        parameters = pika.URLParameters(url)
        parameters.socket_timeout = parameters.blocked_connection_timeout = 2
        parameters.connection_attempts = 1
        try:
            pika.BlockingConnection(parameters).close()
        except Exception as error:  # pika raises many kinds; any means not ready
            return f"unreachable: {type(error).__name__} {error}".strip()
        return "ok"

    return check


def _answer(resp, checks: dict[str, str], good: str, bad: str) -> None:
    ready = all(result == "ok" for result in checks.values())
    resp.status = falcon.HTTP_200 if ready else falcon.HTTP_503
    resp.media = {"status": good if ready else bad, "checks": checks}


class HealthResource:
    def __init__(self, db):
        self.db = db

    def on_get(self, req, resp):
        database = _database(self.db)
        _answer(resp, {"database": database}, "ok", "unavailable")
        # The reference's fields, kept for clients that read them.
        resp.media["database"] = "ok" if database == "ok" else "unreachable"


class ReadyResource:
    def __init__(self, db, broker: Callable[[], str] | None):
        self.db = db
        self.broker = broker  # None: an in-process broker, up while this process is

    def on_get(self, req, resp):
        checks = {"database": _database(self.db)}
        if checks["database"] == "ok":
            missing = pending(self.db)
            checks["migrations"] = "ok" if not missing else f"not applied: {', '.join(missing)}"
        checks["broker"] = self.broker() if self.broker else "ok"
        _answer(resp, checks, "ready", "not ready")
