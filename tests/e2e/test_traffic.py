"""Shaping the traffic (issue 15) against real web, tick and worker processes:
jittered slots fire when the job's next_runs said, spread over the window, and
still carry their slot."""

import uuid
from datetime import datetime

import pytest
import requests

from testkit.jobs import recurring
from testkit.polling import wait_for

pytestmark = pytest.mark.e2e


def test_jittered_slots_fire_when_announced_and_carry_the_slot(stack, target):
    key = uuid.uuid4().hex
    job = stack.post_job(
        {**recurring(f"{target.url}/jitter/{key}", "* * * * * *"), "jitter": "700ms"}
    )
    announced = [datetime.fromisoformat(at).timestamp() for at in job["next_runs"]]
    assert wait_for(lambda: len(target.received(f"/jitter/{key}")) >= 4, timeout=15)
    requests.post(f"{stack.api}/v1/jobs/{job['id']}/pause", timeout=5)

    hits = target.received(f"/jitter/{key}")[:4]
    offsets = []
    for hit in hits:
        slot = datetime.fromisoformat(hit.scheduled_for)
        assert slot.microsecond == 0  # the slot itself, whatever the jitter
        offsets.append(hit.at - slot.timestamp())
    assert all(0 <= offset < 0.7 + 0.25 for offset in offsets), offsets
    assert len({round(offset, 2) for offset in offsets}) > 1  # spread, not one offset
    # They fired when next_runs said they would.
    first = min(announced, key=lambda at: abs(at - hits[0].at))
    assert abs(hits[0].at - first) < 0.25
    executions = {e["delivery_id"]: e for e in stack.executions(job["id"])}
    for hit in hits:
        if hit.delivery_id in executions:
            assert executions[hit.delivery_id]["lag_ms"] < 250  # from the fire time
