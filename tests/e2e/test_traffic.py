"""Shaping the traffic (issue 15) against real web, tick and worker processes:
jittered slots fire when the job's next_runs said, spread over the window, and
still carry their slot; a job whose runs outlast its interval follows its
overlap policy."""

import itertools
import time
import uuid
from datetime import datetime

import pytest
import requests

from app.timing.schedule import Schedule, fire_time
from testkit.jobs import recurring
from testkit.polling import wait_for

pytestmark = pytest.mark.e2e


def test_jittered_slots_fire_when_announced_and_carry_the_slot(stack, target):
    key = uuid.uuid4().hex
    body = recurring(f"{target.url}/jitter/{key}", "* * * * * *")
    job = stack.post_job({**body, "jitter": "700ms"})
    announced = [datetime.fromisoformat(at).timestamp() for at in job["next_runs"]]
    assert wait_for(lambda: len(target.received(f"/jitter/{key}")) >= 6, timeout=15)
    requests.post(f"{stack.api}/v1/jobs/{job['id']}/pause", timeout=5)

    schedule = Schedule(cron="* * * * * *", jitter=0.7)
    hits = target.received(f"/jitter/{key}")[:6]
    for hit in hits:
        slot = datetime.fromisoformat(hit.scheduled_for)
        assert slot.microsecond == 0  # the slot itself, whatever the jitter
        fires = fire_time(schedule, uuid.UUID(job["id"]), slot).timestamp()
        # At the job's own offset into the slot. Were offsets not applied, this
        # would still hold only if all six fell below 0.2 s: once in 2,000 jobs.
        assert 0 <= hit.at - fires < 0.2, (hit.at - slot.timestamp(), fires - slot.timestamp())
    # The first fired when next_runs said it would.
    assert min(abs(hits[0].at - at) for at in announced) < 0.2
    executions = {e["delivery_id"]: e for e in stack.executions(job["id"])}
    for hit in hits:
        if hit.delivery_id in executions:
            assert executions[hit.delivery_id]["lag_ms"] < 200  # from the fire time


def run_for(stack, target, policy: str, seconds: float) -> tuple[list, list[dict]]:
    """A 1-second cron job whose target takes 2.5 s, under `policy`, for `seconds`:
    the calls it made and its executions, once the last has ended."""
    key = uuid.uuid4().hex
    path = f"/sleep/2.5/{policy}/{key}"
    body = {**recurring(target.url + path, "* * * * * *"), "overlap_policy": policy}
    body["timeout"] = "5s"
    job = stack.post_job(body)
    time.sleep(seconds)  # let it run
    requests.post(f"{stack.api}/v1/jobs/{job['id']}/pause", timeout=5)
    hits = target.received(path)
    assert wait_for(
        lambda: sum(e["status"] != "SKIPPED" for e in stack.executions(job["id"])) >= len(hits),
        timeout=10,
    )
    return target.received(path), stack.executions(job["id"])


def never_two_at_once(hits) -> bool:
    spans = sorted((hit.at, hit.answered or hit.at + 2.5) for hit in hits)
    return all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans))


def test_skip_runs_one_at_a_time_and_records_each_slot_it_skipped(stack, target):
    hits, executions = run_for(stack, target, "skip", 9)
    ran = [e for e in executions if e["status"] == "SUCCESSFUL"]
    skipped = [e for e in executions if e["status"] == "SKIPPED"]
    assert 2 <= len(hits) == len(ran) <= 4
    assert never_two_at_once(hits)
    # Each run of 2.5 s overlaps the next two slots, which are recorded, not run.
    assert len(skipped) >= 2 * (len(ran) - 1)
    assert {e["error_message"] for e in skipped} == {"previous execution still running"}
    slots = sorted(e["scheduled_for"] for e in executions)
    assert len(set(slots)) == len(slots)  # every slot once, run or skipped


def test_buffer_one_runs_the_slot_that_waited_as_soon_as_the_last_ends(stack, target):
    hits, executions = run_for(stack, target, "buffer_one", 9)
    assert 3 <= len(hits) <= 4
    assert never_two_at_once(hits)
    gaps = [b.at - a.answered for a, b in itertools.pairwise(hits) if a.answered]
    assert max(gaps) < 0.5, gaps  # back to back: the buffered slot was due already
    skipped = [e for e in executions if e["status"] == "SKIPPED"]
    assert len(skipped) >= len(hits) - 1  # one slot waits, the other is skipped
