"""GET /health: 200 when the database answers, 503 otherwise."""

import falcon
import peewee


class HealthResource:
    def __init__(self, db):
        self.db = db

    def on_get(self, req, resp):
        try:
            with self.db.connection_context():
                self.db.execute_sql("SELECT 1")
        except (peewee.OperationalError, peewee.InterfaceError):
            resp.status = falcon.HTTP_503
            resp.media = {"status": "unavailable", "database": "unreachable"}
            return
        resp.media = {"status": "ok", "database": "ok"}
