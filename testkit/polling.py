"""Waiting on something another process or thread does."""

import time


def wait_for(condition, timeout: float = 30, interval: float = 0.1):
    """Poll `condition` until it returns something truthy; that value, or the last
    falsy one once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
