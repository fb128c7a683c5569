"""Group commit (app.claims.batching): what arrives while a batch is written goes in the next."""

import threading
import time

import pytest

from app.claims.batching import Batcher


def test_items_arriving_during_a_write_are_written_together_next():
    writing, release, batches = threading.Event(), threading.Event(), []

    def write(items):
        batches.append(list(items))
        if len(batches) == 1:  # hold the first write until the others are waiting
            writing.set()
            release.wait(5)
        return [item * 10 for item in items]

    batcher = Batcher(write, "test")
    results = {}

    def submit(item):
        results[item] = batcher(item)

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    writing.wait(5)
    others = [threading.Thread(target=submit, args=(n,)) for n in range(1, 10)]
    for thread in others:
        thread.start()
    deadline = time.monotonic() + 5
    while batcher._waiting.qsize() < 9 and time.monotonic() < deadline:
        time.sleep(0.001)
    release.set()
    for thread in [first, *others]:
        thread.join(5)
    assert len(batches) == 2 and batches[0] == [0]
    assert sorted(batches[1]) == list(range(1, 10))  # in whatever order they came

    assert results == {n: n * 10 for n in range(10)}


def test_a_failed_write_raises_in_every_thread_of_its_batch_and_the_next_goes_on():
    calls = []

    def write(items):
        calls.append(list(items))
        if len(calls) == 1:
            raise ConnectionError("down")
        return list(items)

    batcher = Batcher(write, "test")
    with pytest.raises(ConnectionError):
        batcher("a")
    assert batcher("b") == "b"
