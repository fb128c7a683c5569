"""The tick's sender: claims spread over a few run messages, sent concurrently,
errors raised."""

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import dramatiq
import pytest

from actors.broker import drain_queued, in_process_broker
from actors.messages import CLAIMS_PER_MESSAGE, claims_of, retry_message, run_messages, sender
from app.claims import Claim


def some_claims(count: int) -> list[Claim]:
    return [Claim(uuid.uuid4(), uuid.uuid4(), datetime.now(UTC)) for _ in range(count)]


@pytest.mark.parametrize(
    ("count", "messages"),
    [(1, 1), (CLAIMS_PER_MESSAGE, 1), (CLAIMS_PER_MESSAGE + 1, 2), (1000, 63)],
)
def test_claims_go_out_in_a_few_run_messages_that_carry_each_back_once(count, messages):
    broker = in_process_broker()
    broker.declare_queue("scheduler")
    claims = some_claims(count)
    sender(broker)(claims)
    sent = drain_queued(broker)
    carried = [claim for message in sent for claim in claims_of(message.args[0])]
    assert sorted(carried, key=str) == sorted(claims, key=str)
    assert len(sent) == messages
    assert max(len(message.args[0]) for message in sent) <= CLAIMS_PER_MESSAGE


class FailingBroker(dramatiq.Broker):
    """Refuses one message; takes a while over each other one, as over a network."""

    def __init__(self, refused: uuid.UUID):
        super().__init__(middleware=[])
        self.refused, self.sent, self.lock = str(refused), [], threading.Lock()

    def enqueue(self, message, *, delay=None):
        if self.refused in (job_id for job_id, *_ in message.args[0]):
            raise ConnectionError("refused")
        time.sleep(0.01)
        with self.lock:
            self.sent.append(message)
        return message


def test_a_failed_send_calls_off_the_sends_not_begun_and_is_raised():
    claims = some_claims(40 * CLAIMS_PER_MESSAGE)  # 40 messages
    broker = FailingBroker(claims[0].job_id)
    with pytest.raises(ConnectionError, match="refused"):
        sender(broker, threads=4)(claims)
    sent = len(broker.sent)
    time.sleep(0.1)
    assert len(broker.sent) == sent  # nothing still running once it was raised
    # Those begun on the other threads (about four), far from all 39: a loaded
    # machine may let a few more begin before the failure is seen.
    assert sent < 20


def test_a_redrive_a_jittered_slot_a_flow_key_a_run_and_a_retry_carry_what_they_add():
    slot = datetime(2030, 1, 1, tzinfo=UTC)
    redrive = Claim(uuid.uuid4(), uuid.uuid4(), slot, manual=True, redrive_of=42)
    jittered = Claim(uuid.uuid4(), uuid.uuid4(), slot, fire_at=slot + timedelta(seconds=7))
    keyed = Claim(uuid.uuid4(), uuid.uuid4(), slot, flow_key="host:api.example.com")
    run = Claim(uuid.uuid4(), uuid.uuid4(), slot, detached=True)
    plain = Claim(uuid.uuid4(), uuid.uuid4(), slot)
    [message] = run_messages([redrive, jittered, keyed, run, plain])
    assert claims_of(message.args[0]) == [redrive, jittered, keyed, run, plain]
    assert len(message.args[0][4]) == 4  # a plain claim carries nothing more
    retry = retry_message(redrive, 2, slot)
    assert claims_of(retry.args[0]) == [redrive] and retry.kwargs["attempt"] == 2
    # A message sent before redrives existed: four fields, no dead letter.
    old = [[str(redrive.job_id), str(redrive.token), slot.isoformat(), False]]
    assert claims_of(old)[0].redrive_of is None
