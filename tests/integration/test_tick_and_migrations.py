"""The tick loop and the migration runner on real PostgreSQL."""

import logging
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg2
import pytest

from app.claims.tick import TickSettings, run_tick, tick_once
from app.db.database import connect_params
from app.db.migrate import available_migrations, migrate
from app.jobs.models import MODELS, Job

SETTINGS = TickSettings(owner="tick-a", interval=0.05, max_jobs=100, lock_seconds=60)


def test_tick_sends_one_message_per_due_job(db, add_job):
    ids = {add_job() for _ in range(5)}
    sent = []
    tick_once(db, sent.extend, SETTINGS)
    assert {claim.job_id for claim in sent} == ids
    assert tick_once(db, sent.extend, SETTINGS).claims == []  # claimed ones are not sent twice
    assert len(sent) == 5


def test_claims_whose_message_could_not_be_sent_are_released(db, add_job):
    ids = {add_job() for _ in range(3)}

    def broker_down(claims):
        raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        tick_once(db, broker_down, SETTINGS)

    with db.connection_context():
        locked = Job.select().where(Job.locked_by.is_null(False)).count()
    assert locked == 0
    sent = []
    tick_once(db, sent.extend, SETTINGS)
    assert {claim.job_id for claim in sent} == ids


def test_tick_loop_stops_when_asked(db, add_job):
    add_job()
    sent, stop = [], threading.Event()
    thread = threading.Thread(target=run_tick, args=(db, sent.extend, SETTINGS, stop))
    thread.start()
    try:
        for _ in range(100):
            if sent:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(sent) == 1


def test_migrations_apply_once(db_config):
    # db_config's database is a copy of the migrated template: nothing is left to do.
    assert migrate(db_config) == []


def _fresh_database(admin, name):
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')


def test_concurrent_migrations_apply_each_file_once(db_config):
    params = connect_params(db_config)
    admin = psycopg2.connect(dbname="postgres", **params)
    admin.autocommit = True
    name = f"scheduler_test_migrate_{uuid.uuid4().hex[:8]}"
    _fresh_database(admin, name)
    try:
        config = type(db_config)(**{**db_config.__dict__, "db_name": name})
        results, errors = [], []

        def run():
            try:
                results.append(migrate(config))
            except Exception as error:  # reported below
                errors.append(error)

        threads = [threading.Thread(target=run) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        versions = [version for version, _ in available_migrations()]
        assert sorted(results, key=len) == [[], [], versions]
        with psycopg2.connect(dbname=name, **params) as connection, connection.cursor() as cur:
            cur.execute("SELECT version FROM schema_migrations ORDER BY version")
            assert [row[0] for row in cur.fetchall()] == versions
        connection.close()
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.mark.parametrize("model", MODELS, ids=lambda model: model._meta.table_name)
def test_schema_from_migrations_matches_the_models(db, model):
    with db.connection_context():
        columns = {column.name for column in db.get_columns(model._meta.table_name)}
    assert {field.column_name for field in model._meta.sorted_fields} == columns


def test_the_tick_sleeps_until_just_before_the_next_slot_not_the_whole_interval(db, add_job):
    settings = TickSettings(owner="tick-a", interval=30, max_jobs=100, lock_seconds=60)
    sent, stop = [], threading.Event()
    slot = datetime.now(UTC) + timedelta(seconds=1)
    job_id = add_job(next_run=slot)
    thread = threading.Thread(target=run_tick, args=(db, sent.extend, settings, stop))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not sent and time.monotonic() < deadline:
            time.sleep(0.005)
        claimed_at = datetime.now(UTC)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert [claim.job_id for claim in sent] == [job_id]
    assert slot - timedelta(seconds=settings.ahead) <= claimed_at < slot + timedelta(seconds=1)


def test_a_failing_send_pauses_the_tick_and_it_resumes_when_sends_work(db, add_job, caplog):
    caplog.set_level(logging.INFO, logger="app.claims.tick")
    job_id = add_job()
    sent, stop, failures = [], threading.Event(), []

    def flaky(claims):
        if len(failures) < 3:
            failures.append(claims)
            raise ConnectionError("broker down")
        sent.extend(claims)

    thread = threading.Thread(target=run_tick, args=(db, flaky, SETTINGS, stop))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not sent and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert [claim.job_id for claim in sent] == [job_id]
    paused = [r for r in caplog.records if r.getMessage().startswith("tick paused")]
    assert len(paused) == 1  # one line per outage, not one per attempt
    assert any(r.getMessage() == "tick resumed" for r in caplog.records)
