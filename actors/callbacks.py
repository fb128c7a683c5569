"""The callback sender: a thread of each worker process that sends the outbox's
due callbacks (app/callbacks.py), a few at a time, through the HTTP executor
(outbound guard, signing, User-Agent)."""

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import dramatiq

from actors.delivery import Delivery
from actors.http import HttpExecutor
from app import callbacks, metrics
from app.callbacks import Leased
from app.secrets.redaction import merge_callback, scrub
from app.secrets.sealing import SecretBox

log = logging.getLogger(__name__)

# Callbacks sent at once by one worker process.
SENDS_AT_ONCE = 4
# Seconds between looks at the outbox when nothing was due.
EVERY = 0.5
# Seconds a lease outlasts the attempt's timeout: a sender gone lets it lapse then.
_LEASE_MARGIN = 10.0
_ACCEPTED = list(range(200, 300))


class CallbackSender:
    def __init__(self, db, box: SecretBox, executor: HttpExecutor, timeout: float):
        self.db = db
        self.box = box
        self.executor = executor
        self.timeout = timeout  # seconds per attempt
        self.stop = threading.Event()
        self.pool = ThreadPoolExecutor(SENDS_AT_ONCE, thread_name_prefix="callback")
        self.thread = threading.Thread(target=self._loop, name="callbacks", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        """Stop leasing; let the attempts begun end (their rows finish or lapse)."""
        self.stop.set()
        self.thread.join()
        self.pool.shutdown()

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                sent = self.send_due()
            except Exception as error:  # the database away: the rows wait in the outbox
                log.warning("callbacks not sent, will try again: %s", str(error).strip())
                sent = 0
            if sent < SENDS_AT_ONCE:
                self.stop.wait(EVERY)

    def send_due(self) -> int:
        """Lease what is due, up to SENDS_AT_ONCE, and send it; how many."""
        leased = callbacks.lease_due(self.db, self.timeout + _LEASE_MARGIN, SENDS_AT_ONCE)
        list(self.pool.map(self._send, leased))
        return len(leased)

    def _send(self, leased: Leased) -> None:
        ids = {"job_id": str(leased.job_id), "attempt": leased.attempt}
        try:
            found = callbacks.to_send(self.db, leased)
            if found is None:
                error = "the job has no such callback now"
                callbacks.finish(self.db, leased, False, error=error, final=True)
                return
            opened = self.box.open(found.secrets)
            name = "on_success" if leased.event == "execution.succeeded" else "on_failure"
            target = merge_callback(name, found.callback, opened)
            http_job = {
                "url": target["url"],
                "method": "POST",
                "headers": {
                    **target["headers"],
                    "Content-Type": "application/json",
                    "X-Scheduler-Event": leased.event,
                },
                "body": json.dumps(found.body),
                "valid_response_codes": _ACCEPTED,
                "secret_headers": target.get("secret_headers") or [],
            }
            delivery = Delivery(
                leased.job_id, callbacks.delivery_id(leased), datetime.now(UTC), leased.attempt
            )
            result = self.executor.execute(http_job, delivery, self.timeout)
        except Exception as error:  # a bug of ours: recorded, and tried again
            log.exception("callback error", extra=ids)
            callbacks.finish(self.db, leased, False, error=f"internal error: {error}")
            return
        secrets = {path: value for path, value in opened.items() if path.startswith(name)}
        error = scrub(result.error, secrets)
        callbacks.finish(self.db, leased, result.success, result.status_code, error)
        metrics.CALLBACKS.labels(leased.event, "delivered" if result.success else "failed").inc()
        if not result.success:
            log.info("callback %s failed: %s", leased.event, error, extra=ids)


class SendCallbacks(dramatiq.Middleware):
    """Runs a CallbackSender in each worker process while it works."""

    def __init__(self, sender_factory):
        self.sender_factory = sender_factory
        self.sender: CallbackSender | None = None

    def after_worker_boot(self, broker, worker):
        self.sender = self.sender_factory()
        self.sender.start()

    def before_worker_shutdown(self, broker, worker):
        if self.sender is not None:
            self.sender.close()
