"""The attempt threads of a worker process (actors/threads.py): bounded, kept, daemon."""

import threading
import time

import pytest

from actors.threads import AttemptThreads
from testkit.polling import wait_for


def attempt_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("attempt-")]


def test_work_beyond_the_bound_waits_for_a_free_thread_and_all_of_it_runs():
    threads, release = AttemptThreads(3), threading.Event()
    running, peak, mutex = [0], [0], threading.Lock()

    def work(n):
        with mutex:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(5)
        with mutex:
            running[0] -= 1
        return n

    before = len(attempt_threads())
    futures = [threads.submit(lambda n=n: work(n)) for n in range(10)]
    wait_for(lambda: running[0] == 3, timeout=5)
    time.sleep(0.05)  # room for a fourth, were the bound not kept
    release.set()
    assert [future.result(5) for future in futures] == list(range(10))
    assert peak[0] == 3
    started = attempt_threads()[before:]
    assert len(started) == 3 and all(thread.daemon for thread in started)


def test_an_idle_thread_is_reused_rather_than_another_started():
    threads = AttemptThreads(5)
    before = len(attempt_threads())
    for n in range(20):  # one at a time: each finds the previous one's thread idle
        assert threads.submit(lambda n=n: n).result(5) == n
    assert len(attempt_threads()) - before == 1


def test_an_error_reaches_the_submitter_and_the_thread_lives_on():
    threads = AttemptThreads(1)

    def fail():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        threads.submit(fail).result(5)
    assert threads.submit(lambda: "still here").result(5) == "still here"
