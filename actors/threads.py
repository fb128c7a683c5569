"""The attempt threads of a worker process: where the claims of one run message
run side by side.

Started as work comes, up to a bound, and then kept. Daemon threads, unlike a
ThreadPoolExecutor's, which the interpreter joins at exit: a stopping process
must not wait there for a call still in flight, whose claim it gives back
instead (actors/shutdown.py).
"""

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future


class AttemptThreads:
    def __init__(self, most: int):
        self.most = most
        self._work: queue.SimpleQueue[tuple[Callable[[], object], Future]] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._mutex = threading.Lock()
        self._started = 0

    def submit(self, run: Callable[[], object]) -> Future:
        """Run `run` on a free thread, or on the first to free up; its Future."""
        done: Future = Future()
        self._work.put((run, done))
        if not self._idle.acquire(blocking=False):
            with self._mutex:
                if self._started < self.most:
                    self._started += 1
                    threading.Thread(
                        target=self._work_forever, name=f"attempt-{self._started}", daemon=True
                    ).start()
        return done

    def _work_forever(self) -> None:
        while True:
            run, done = self._work.get()
            try:
                result, error = run(), None
            except Exception as caught:  # the submitter sees it, as its own call would
                result, error = None, caught
            # Idle before the submitter hears, so that its next work finds this thread.
            self._idle.release()
            if error is None:
                done.set_result(result)
            else:
                done.set_exception(error)
