"""Retrying through a database outage (app.outage)."""

import logging

import peewee
import pytest

from app.outage import Outage, retry_through


class Flaky:
    """Fails `failures` times with a connection error, then answers 42."""

    def __init__(self, failures: int):
        self.failures, self.calls = failures, 0

    def __call__(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise peewee.OperationalError("connection refused")
        return 42


def test_a_call_is_retried_with_growing_waits_until_the_database_answers(caplog):
    waits = []
    outage = Outage(logging.getLogger("test"))
    with caplog.at_level(logging.INFO, logger="test"):
        assert retry_through(Flaky(4), outage, patience=60, sleep=waits.append) == 42
    assert waits == [0.5, 1.0, 2.0, 4.0]
    assert [r.getMessage().split(",")[0] for r in caplog.records] == [
        "database unavailable",
        "database reachable again",
    ]


def test_the_last_error_is_raised_once_patience_runs_out():
    flaky = Flaky(1000)
    with pytest.raises(peewee.OperationalError):
        retry_through(flaky, Outage(logging.getLogger("test")), patience=0.1, sleep=lambda s: None)
    assert flaky.calls == 1


def test_other_errors_are_not_retried():
    def broken():
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        retry_through(broken, Outage(logging.getLogger("test")), patience=60)


def test_threads_of_one_outage_log_it_once(caplog):
    outage = Outage(logging.getLogger("test"))
    with caplog.at_level(logging.INFO, logger="test"):
        for _ in range(3):
            outage.failed(peewee.OperationalError("down"))
        outage.recovered()
        outage.recovered()
    assert len(caplog.records) == 2
