"""The HTTP executor against a real local server: what one job's target sets
never reaches another job's target."""

import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from actors.delivery import Delivery
from actors.http import HttpExecutor


class CookieSetter(BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):
        CookieSetter.seen.append(self.headers.get("Cookie"))
        self.send_response(200)
        self.send_header("Set-Cookie", "session=first-job; Path=/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_cookie_set_by_one_target_is_not_sent_to_the_next():
    server = ThreadingHTTPServer(("127.0.0.1", 0), CookieSetter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        executor = HttpExecutor()
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        for _ in range(2):
            delivery = Delivery(uuid.uuid4(), uuid.uuid4(), datetime.now(UTC), 1)
            result = executor.execute({"url": url, "method": "GET"}, delivery, 5)
            assert result.success, result.error
        assert CookieSetter.seen == [None, None]
    finally:
        server.shutdown()
        server.server_close()
