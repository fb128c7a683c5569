"""A local HTTP target that records every request, for jobs to call.

/status/<code> answers <code>; /fail/<n>/<key> fails n times per key, then answers
200; /retry-after/<s>/<key> answers 429 with Retry-After: <s> once per key, then
200; /sleep/<s>/... waits <s> seconds before answering 200; /redirect/<code>?to=<URL,
url-encoded> answers <code> with Location: <URL>; /echo/<code>/... answers <code>
with the request's headers and body as its body; anything else answers 200, after
the target's `delay` seconds (0 unless set). Every answer but an echo's is "answer!".
"""

import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass(slots=True)
class Hit:
    """One request, and the X-Scheduler-* headers a benchmark reads, taken out once."""

    path: str
    method: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when the request arrived
    job_id: str | None
    delivery_id: str | None
    scheduled_for: str | None
    attempt: str | None
    answered: float | None = None  # time.time() once the answer was written

    def header(self, name: str) -> str | None:
        lowered = {key.lower(): value for key, value in self.headers.items()}
        return lowered.get(name.lower())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the workers' sessions expect
    # Headers and body go out in two writes; with Nagle the second could wait for
    # the client's delayed ACK (up to 40 ms) and pollute every figure.
    disable_nagle_algorithm = True
    server: "Target"

    def _serve(self):
        at = time.time()
        headers = self.headers
        body = self.rfile.read(int(headers.get("Content-Length") or 0))
        hit = Hit(
            self.path,
            self.command,
            dict(headers),
            body,
            at,
            headers.get("X-Scheduler-Job-Id"),
            headers.get("X-Scheduler-Delivery-Id"),
            headers.get("X-Scheduler-Scheduled-For"),
            headers.get("X-Scheduler-Attempt"),
        )
        self.server.receive(hit, self.connection)
        status, extra, answer = self._answer(body)
        try:
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            hit.answered = time.time()
        except ConnectionError:  # the caller is gone (a worker killed mid-call)
            self.close_connection = True

    def _answer(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        path, _, query = self.path.partition("?")
        route, *parts = path.strip("/").split("/")
        if route == "status":
            return int(parts[0]), {}, b"answer!"
        if route == "echo":
            lines = [f"{name}: {value}" for name, value in self.headers.items()]
            return int(parts[0]), {}, "\n".join(lines).encode() + b"\n\n" + body
        if route == "redirect":
            return int(parts[0]), {"Location": parse_qs(query)["to"][0]}, b"answer!"
        if route == "fail" and self.server.fails(parts[1], int(parts[0])):
            return 500, {}, b"answer!"
        if route == "retry-after" and self.server.fails(parts[1], 1):
            return 429, {"Retry-After": parts[0]}, b"answer!"
        if route == "sleep":
            time.sleep(float(parts[0]))
        elif self.server.delay:
            # Each connection has a thread of its own, so a held answer holds no other.
            time.sleep(self.server.delay)
        return 200, {}, b"answer!"

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, *args):
        pass


class Target(ThreadingHTTPServer):
    """The target on 127.0.0.1 at a free port, serving from a thread of its own while
    in a `with` block. Hits are appended without a lock (list.append is atomic), so
    that a benchmark's figures do not measure the target."""

    daemon_threads = True  # a caller's idle keep-alive connection holds no exit
    # A burst connects all at once: up to a thousand callers against a slow target.
    request_queue_size = 1024

    def __init__(self, delay: float = 0.0):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.delay = delay  # seconds the default route holds each answer
        self.hits: list[Hit] = []
        self._failures: dict[str, int] = defaultdict(int)
        self._counting = threading.Lock()

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def receive(self, hit: Hit, connection) -> None:
        """Record a request before it is answered; a subclass may hold it here."""
        self.hits.append(hit)

    def received(self, prefix: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path.startswith(prefix)]

    def fails(self, key: str, times: int) -> bool:
        """Whether a request for `key` is to fail: the first `times` do."""
        with self._counting:
            if self._failures[key] >= times:
                return False
            self._failures[key] += 1
            return True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a caller killed meanwhile
            super().handle_error(request, client_address)

    def __enter__(self):
        threading.Thread(target=self.serve_forever, name="target", daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.shutdown()
        super().__exit__(*exc)
