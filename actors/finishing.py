"""Group commit of finishes: the threads of a worker process share one statement.

While one batch is being written, the finishes that arrive meanwhile wait and go
together in the next: one round trip and one commit serve many executions, and
no finish waits longer than the batch before it. Each is still fenced by its own
token (app/claims.py, finish_all).
"""

import queue
import threading
from concurrent.futures import Future

from app import claims
from app.claims import Finishing

# Most finishes written by one statement.
_MAX_BATCH = 200


class Finisher:
    def __init__(self, db, wake_within: float):
        self.db = db
        self.wake_within = wake_within  # the ticks' interval: sooner slots wake them
        self._waiting: queue.SimpleQueue[tuple[Finishing, Future]] = queue.SimpleQueue()
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None

    def finish(self, finishing: Finishing) -> bool:
        """Record and advance as claims.finish_all does; blocks until written."""
        done: Future = Future()
        self._waiting.put((finishing, done))
        with self._mutex:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._write_forever, name="finisher", daemon=True
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
                results = claims.finish_all(
                    self.db, [f for f, _ in batch], wake_within=self.wake_within
                )
            except Exception as error:  # each waiting thread gets it, as its own finish would
                for _, done in batch:
                    done.set_exception(error)
                continue
            for (_, done), result in zip(batch, results, strict=True):
                done.set_result(result)
