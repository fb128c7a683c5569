"""The tick's sender: a run message per claim, sent concurrently, errors raised."""

import threading
import time
import uuid
from datetime import UTC, datetime

import dramatiq
import pytest

from actors.broker import drain_queued, in_process_broker
from actors.messages import claim_of, sender
from app.claims import Claim


def some_claims(count: int) -> list[Claim]:
    return [Claim(uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)) for _ in range(count)]


def test_every_claim_becomes_one_run_message_that_carries_it_back():
    broker = in_process_broker()
    broker.declare_queue("scheduler")
    claims = some_claims(50)
    sender(broker)(claims)
    carried = {claim_of(*message.args) for message in drain_queued(broker)}
    assert carried == set(claims)


class FailingBroker(dramatiq.Broker):
    """Refuses one message; takes a while over each other one, as over a network."""

    def __init__(self, refused: uuid.UUID):
        super().__init__(middleware=[])
        self.refused, self.sent, self.lock = str(refused), [], threading.Lock()

    def enqueue(self, message, *, delay=None):
        if message.args[0] == self.refused:
            raise ConnectionError("refused")
        time.sleep(0.01)
        with self.lock:
            self.sent.append(message.args[0])
        return message


def test_a_failed_send_calls_off_the_sends_not_begun_and_is_raised():
    claims = some_claims(40)
    broker = FailingBroker(claims[0].job_id)
    with pytest.raises(ConnectionError, match="refused"):
        sender(broker, threads=4)(claims)
    sent = len(broker.sent)
    time.sleep(0.1)
    assert len(broker.sent) == sent  # nothing still running once it was raised
    # Those begun on the other threads (about four), far from all 39: a loaded
    # machine may let a few more begin before the failure is seen.
    assert sent < 20
