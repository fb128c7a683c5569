"""Shaping the traffic (issue 15) against real web, tick and worker processes:
jittered slots fire when the job's next_runs said, spread over the window, and
still carry their slot; a job whose runs outlast its interval follows its
overlap policy; jobs sharing a flow key keep to its limits across both ticks and
both worker processes."""

import bisect
import itertools
import time
import uuid
from datetime import datetime

import pytest
import requests

from app.timing.schedule import Schedule, fire_time
from testkit.jobs import one_off, recurring, soon
from testkit.polling import wait_for
from testkit.stack import kill_group

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


def run_for(stack, target, policy: str, seconds: float, **fields) -> tuple[list, list[dict]]:
    """A 1-second cron job whose target takes 2.5 s, under `policy` (and `fields`),
    for `seconds`: the calls it made and its executions, once the last has ended."""
    key = uuid.uuid4().hex
    path = f"/sleep/2.5/{policy}/{key}"
    body = {**recurring(target.url + path, "* * * * * *"), "overlap_policy": policy, **fields}
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


def test_allow_starts_each_slot_on_time_beside_the_ones_still_running(stack, target):
    hits, executions = run_for(stack, target, "allow", 8)
    assert 6 <= len(hits) <= 9  # one a second, none held back
    assert most_at_once(hits) == 3  # each call takes 2.5 s
    gaps = [b.at - a.at for a, b in itertools.pairwise(hits)]
    assert max(gaps) < 1.5, gaps  # on time, not after the one before ended
    assert [e["status"] for e in executions] == ["SUCCESSFUL"] * len(hits)
    assert len({e["delivery_id"] for e in executions}) == len(hits)
    assert max(e["lag_ms"] for e in executions) < 500


def test_allow_skips_the_slots_beyond_max_concurrent(stack, target):
    hits, executions = run_for(stack, target, "allow", 8, max_concurrent=2)
    assert most_at_once(hits) == 2
    skipped = [e for e in executions if e["status"] == "SKIPPED"]
    assert len(skipped) >= 2
    assert {e["error_message"] for e in skipped} == {
        "skipped: max_concurrent (2) executions already running"
    }
    slots = sorted(e["scheduled_for"] for e in executions)
    assert len(set(slots)) == len(slots)  # every slot once, run or skipped


def most_at_once(hits) -> int:
    """The most calls the target was answering at one time."""
    events = sorted([(hit.at, 1) for hit in hits] + [(hit.answered, -1) for hit in hits])
    return max(itertools.accumulate(change for _, change in events))


def keyed_jobs(stack, target, path: str, count: int, key: str) -> list[dict]:
    """`count` one-off jobs calling `path`, all due at one moment a little ahead."""
    due = soon(3)
    body = {**one_off(f"{target.url}{path}", execute_at=due), "flow_key": key}
    return [stack.post_job(body) for _ in range(count)]


def test_parallelism_holds_across_ticks_and_workers_and_nothing_is_dropped(stack, target):
    """Two ticks and two worker processes (16 threads) share the key's limit."""
    key = f"fragile-{uuid.uuid4().hex[:8]}"
    limits = requests.put(f"{stack.api}/v1/flow-controls/{key}", json={"parallelism": 2}, timeout=5)
    assert limits.status_code == 201, limits.text
    path = f"/sleep/1/{key}"
    jobs = keyed_jobs(stack, target, path, 50, key)

    assert wait_for(lambda: len(target.received(path)) >= 8, timeout=15)
    live = requests.get(f"{stack.api}/v1/flow-controls/{key}", timeout=5).json()
    assert live["in_flight"] <= 2 and live["waiting"] >= 30, live
    metrics = requests.get(f"{stack.api}/metrics", timeout=5).text
    assert f'scheduler_flow_waiting{{key="{key}"}}' in metrics

    assert wait_for(
        lambda: all(h.answered for h in target.received(path)) and len(target.received(path)) == 50,
        timeout=60,
    )
    hits = target.received(path)
    assert most_at_once(hits) <= 2
    assert len({hit.job_id for hit in hits}) == 50  # each job once
    assert hits[-1].answered - hits[0].at >= 25  # 50 calls of 1 s, two at a time
    # The wait shows as lateness: the last to start started some 24 s after its slot.
    assert wait_for(lambda: all(stack.executions(job["id"]) for job in jobs), timeout=15)
    lags = sorted(stack.executions(job["id"])[0]["lag_ms"] for job in jobs)
    assert lags[0] < 1000 and lags[-1] > 20_000


def test_a_rate_holds_over_first_attempts_and_retries_alike(stack, target):
    """100 calls: 60 jobs, 40 of which fail once and are retried."""
    key = f"rated-{uuid.uuid4().hex[:8]}"
    limits = {"rate": 5, "period": "1s"}
    assert requests.put(f"{stack.api}/v1/flow-controls/{key}", json=limits, timeout=5).ok
    retried = {"retry_policy": {"max_attempts": 3, "min_backoff": "100ms"}}
    failing = [
        stack.post_job(
            {
                **one_off(f"{target.url}/fail/1/{key}-{n}", execute_at=soon(3)),
                "flow_key": key,
                **retried,
            }
        )
        for n in range(40)
    ]
    steady = keyed_jobs(stack, target, f"/ok/{key}", 20, key)

    def calls():
        return target.received(f"/fail/1/{key}") + target.received(f"/ok/{key}")

    assert wait_for(lambda: len(calls()) >= 100, timeout=60)
    arrivals = sorted(hit.at for hit in calls())
    assert len(arrivals) == 100
    assert arrivals[-1] - arrivals[0] >= 19  # 100 starts at 5 a second
    # At most 5 in any window: a window of 0.8 s leaves room for the few
    # milliseconds between a claim (the start the rate counts) and its call.
    assert max(bisect.bisect_left(arrivals, at + 0.8) - i for i, at in enumerate(arrivals)) <= 5
    assert wait_for(
        lambda: all(
            [e["status"] for e in stack.executions(job["id"])] == ["SUCCESSFUL"]
            for job in failing + steady
        ),
        timeout=20,
    )
    assert {stack.executions(job["id"])[0]["attempts"] for job in failing} == {2}


def test_a_killed_workers_keyed_claim_lapses_and_the_key_goes_on_within_its_limit(stack, target):
    """The claim of a call cut off by kill -9 holds the key's place until it
    lapses (the lock time, 10 s), then the slot runs again, one at a time still."""
    key = f"crash-{uuid.uuid4().hex[:8]}"
    assert requests.put(
        f"{stack.api}/v1/flow-controls/{key}", json={"parallelism": 1}, timeout=5
    ).ok
    path = f"/sleep/2/{key}"
    jobs = keyed_jobs(stack, target, path, 4, key)
    assert wait_for(lambda: target.received(path), timeout=15)
    kill_group(stack.processes["worker"].pid)  # mid-call: nothing is recorded
    stack.restart("worker")

    assert wait_for(
        lambda: all(
            [e["status"] for e in stack.executions(job["id"])] == ["SUCCESSFUL"] for job in jobs
        ),
        timeout=60,
    )
    hits = target.received(path)
    assert len(hits) == 5 and len({hit.job_id for hit in hits}) == 4
    cut_off = hits[0]
    assert [hit.delivery_id for hit in hits].count(cut_off.delivery_id) == 2
    spans = sorted((hit.at, hit.answered or hit.at + 2) for hit in hits)
    assert all(later[0] >= earlier[1] - 0.05 for earlier, later in itertools.pairwise(spans))
    assert spans[1][0] - cut_off.at >= 9  # the key waited for the cut-off claim to lapse
