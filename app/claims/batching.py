"""Group commit: the threads of a worker process share one statement.

While one batch is being written, the items that arrive meanwhile wait and go
together in the next: one round trip and one commit serve many threads, and no
item waits longer than the batch before it. Finishes go this way, each still
fenced by its own token (app/claims/statements.py); a run message's starts are
one statement already.
"""

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

# Most items written by one statement.
_MAX_BATCH = 200


T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(self, write: Callable[[Sequence[T]], Sequence[R]], name: str):
        self.write = write  # one result per item, in order
        self.name = name
        self._waiting: queue.SimpleQueue[tuple[T, Future]] = queue.SimpleQueue()
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None

    def __call__(self, item: T) -> R:
        """`item`'s result once its batch is written; the batch's error if it failed."""
        done: Future = Future()
        self._waiting.put((item, done))
        with self._mutex:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._write_forever, name=self.name, daemon=True
                )
                self._thread.start()
        return done.result()

    def _write_forever(self) -> None:
        while True:
            batch = [self._waiting.get()]
            while len(batch) < _MAX_BATCH:
                try:
                    batch.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
            try:
                results = self.write([item for item, _ in batch])
            except Exception as error:  # each waiting thread gets it, as its own call would
                for _, done in batch:
                    done.set_exception(error)
                continue
            for (_, done), result in zip(batch, results, strict=True):
                done.set_result(result)
