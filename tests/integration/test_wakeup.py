"""LISTEN/NOTIFY wakes a sleeping tick; polling stays the safety net."""

import threading
import time
from datetime import UTC, datetime, timedelta

from app.audit import Actor
from app.claims.tick import TickSettings, run_tick
from app.db.wakeup import WAKE, Waker
from app.jobs import store as jobstore


def test_a_waker_returns_early_when_notified(db, db_config):
    waker = Waker(db_config)
    stop = threading.Event()
    try:
        waker.wait(0.01, stop)  # starts listening
        threading.Timer(0.3, lambda: _notify(db)).start()
        started = time.monotonic()
        assert waker.wait(10, stop) is True
        assert time.monotonic() - started < 5
    finally:
        waker.close()


def test_a_waker_sleeps_out_its_time_without_a_notification(db_config):
    waker = Waker(db_config)
    try:
        started = time.monotonic()
        assert waker.wait(0.6, threading.Event()) is False
        assert time.monotonic() - started >= 0.55
    finally:
        waker.close()


def test_a_waker_stops_waiting_when_asked(db_config):
    waker, stop = Waker(db_config), threading.Event()
    try:
        threading.Timer(0.3, stop.set).start()
        started = time.monotonic()
        assert waker.wait(10, stop) is False
        assert time.monotonic() - started < 2
    finally:
        waker.close()


def test_a_job_created_through_the_store_wakes_a_tick_sleeping_out_a_long_interval(
    db, db_config, secret_box
):
    sent, stop = [], threading.Event()
    waker = Waker(db_config)
    settings = TickSettings(owner="tick-a", interval=30, max_jobs=10, lock_seconds=60)
    thread = threading.Thread(target=run_tick, args=(db, sent.extend, settings, stop, waker.wait))
    thread.start()
    try:
        time.sleep(0.5)  # the tick found nothing and sleeps its 30 s
        soon = (datetime.now(UTC) + timedelta(milliseconds=200)).isoformat()
        with db.connection_context():
            job = jobstore.create_job(
                db,
                {
                    "type": "HTTP",
                    "execute_at": soon,
                    "http_job": {"url": "http://127.0.0.1:9/", "method": "GET"},
                },
                datetime.now(UTC),
                secret_box,
                Actor(),
            )
            # The job is due in 200 ms; the wake-up came with its creation, so the
            # tick claims it on a wake-up for the request to run it now.
            jobstore.request_run(db, job.id, datetime.now(UTC), Actor())
        deadline = time.monotonic() + 5
        while not sent and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [claim.job_id for claim in sent] == [job.id]
    finally:
        stop.set()
        thread.join(timeout=5)
        waker.close()


def _notify(db):
    with db.connection_context():
        db.execute_sql(WAKE)
