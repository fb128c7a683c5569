"""Callbacks' pure parts (app/callbacks.py): the payload, the delivery id, the
backoff, and the signature a receiver checks with the documented snippet."""

import json
import re
import time
import uuid
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

from actors.signing import signed_headers
from app import callbacks
from app.callbacks import Leased

SECURITY_PAGE = Path(__file__).parents[2] / "docs" / "security.md"


def leased(**fields) -> Leased:
    values = {
        "id": 1,
        "lock_token": uuid.uuid4(),
        "job_id": uuid.UUID(int=7),
        "execution_id": 912,
        "dead_letter_id": None,
        "event": "execution.failed",
        "attempt": 1,
    }
    return Leased(**{**values, **fields})


def test_a_failure_payload_names_the_event_the_job_its_tags_and_the_dead_letter():
    execution = {"id": 912, "status": "FAILED", "error_message": "HTTP 503; accepted: 200"}
    body = callbacks.payload("execution.failed", uuid.UUID(int=7), ["billing"], execution, 41)
    assert body == {
        "event": "execution.failed",
        "job_id": str(uuid.UUID(int=7)),
        "tags": ["billing"],
        "execution": execution,
        "dead_letter_id": 41,
    }


def test_a_success_payload_has_no_dead_letter_and_a_pause_says_why():
    success = callbacks.payload("execution.succeeded", uuid.UUID(int=7), [], {"id": 1}, None)
    assert "dead_letter_id" not in success and "paused_reason" not in success
    reason = "5 consecutive failures; last: HTTP 503; accepted: 200"
    paused = callbacks.payload("job.paused", uuid.UUID(int=7), [], {"id": 1}, None, reason)
    assert paused["paused_reason"] == reason and paused["event"] == "job.paused"


def test_the_delivery_id_is_the_same_on_every_attempt_and_new_per_event_and_execution():
    first = callbacks.delivery_id(leased())
    assert callbacks.delivery_id(leased(attempt=4, lock_token=uuid.uuid4())) == first
    assert callbacks.delivery_id(leased(event="execution.succeeded")) != first
    assert callbacks.delivery_id(leased(execution_id=913)) != first
    # A pause has no execution of its own: each is told apart by its row.
    pause = leased(event="job.paused", execution_id=None)
    assert callbacks.delivery_id(pause) != callbacks.delivery_id(replace(pause, id=2))


def test_five_attempts_over_about_a_minute():
    waits = [callbacks.backoff(attempt) for attempt in range(1, callbacks.ATTEMPTS + 1)]
    assert waits[-1] is None  # the fifth failure is the last
    assert all(later > earlier for earlier, later in pairwise(waits[:-1]))
    assert 50 <= sum(waits[:-1]) <= 70


def test_a_signed_callback_verifies_with_the_documented_snippet_and_not_when_tampered():
    [snippet] = re.findall(r"```python\n(.*?)```", SECURITY_PAGE.read_text(), re.DOTALL)
    namespace: dict = {}
    exec(compile(snippet, "docs/security.md", "exec"), namespace)
    verify = namespace["verify"]
    key = "signing-key-unit-3"
    body = json.dumps(callbacks.payload("execution.failed", uuid.UUID(int=7), [], None)).encode()
    delivery = str(callbacks.delivery_id(leased()))
    stamp = int(time.time())
    headers = {"X-Scheduler-Delivery-Id": delivery, **signed_headers(key, stamp, delivery, body)}
    assert verify(key.encode(), headers, body) is True
    assert verify(key.encode(), headers, body.replace(b"failed", b"passed")) is False
