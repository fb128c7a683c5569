"""Bulk actions over real PostgreSQL: a selector takes the jobs, each goes the
way its own route would take it, and the answer says what was done."""

from datetime import UTC, datetime, timedelta

import pytest

from app import claims
from app.claims import Finishing
from app.jobs import bulk
from tests.integration.api_calls import error_of, http_job
from tests.integration.rows import LOCK, executions, outcome, set_row, stored

# A fleet of jobs written straight into the table, as many as a test needs.
_FLEET = """
INSERT INTO jobs (id, type, status, execute_at, http_job, tags, next_run, created_at,
                  updated_at, name)
SELECT gen_random_uuid(), 'HTTP', 'RUNNING', now() + interval '1 hour',
       '{"url": "http://127.0.0.1:9/", "method": "GET"}', %(tags)s, now() + interval '1 hour',
       now(), now(), CASE WHEN %(prefix)s::text IS NULL THEN NULL ELSE %(prefix)s || n END
FROM generate_series(1, %(count)s) AS n
"""


def fleet(db, count: int, tags=("fleet",), prefix: str | None = None) -> None:
    with db.connection_context():
        db.execute_sql(_FLEET, {"count": count, "tags": list(tags), "prefix": prefix})


def statuses(db) -> dict[str, int]:
    with db.connection_context():
        rows = db.execute_sql("SELECT status, count(*) FROM jobs GROUP BY status").fetchall()
    return dict(rows)


def act(client, action: str, selector: dict, **more):
    answer = client.simulate_post(
        "/v1/jobs/bulk", json={"action": action, "selector": selector, **more}
    )
    assert answer.status_code == 200, answer.text
    return answer.json


def audit_actions(db) -> dict[str, int]:
    with db.connection_context():
        rows = db.execute_sql("SELECT action, count(*) FROM audit_log GROUP BY action")
        return dict(rows.fetchall())


def test_a_bulk_pause_of_2000_jobs_by_tag_and_their_resume(client, db):
    fleet(db, 2000, tags=("fleet", "eu"))
    fleet(db, 5, tags=("other",))
    paused = act(client, "pause", {"tags": ["fleet"]})
    assert (paused["matched"], paused["affected"], paused["more"]) == (2000, 2000, False)
    assert len(paused["job_ids"]) == 1000 and paused["dry_run"] is False
    assert statuses(db) == {"STOPPED": 2000, "RUNNING": 5}
    assert stored(db, paused["job_ids"][0]).version == 2
    assert audit_actions(db) == {"pause": 2000, "bulk": 1}
    # Again: the same jobs are taken, none changes.
    again = act(client, "pause", {"tags": ["fleet", "eu"]})
    assert (again["matched"], again["affected"], again["job_ids"]) == (2000, 0, [])
    resumed = act(client, "resume", {"tags": ["fleet"], "status": "STOPPED"})
    assert (resumed["matched"], resumed["affected"]) == (2000, 2000)
    assert statuses(db) == {"RUNNING": 2005}


def test_a_dry_run_says_what_would_change_and_changes_nothing(client, db):
    fleet(db, 3)
    answer = act(client, "delete", {"tags": ["fleet"]}, dry_run=True)
    assert (answer["matched"], answer["affected"], answer["dry_run"]) == (3, 3, True)
    assert statuses(db) == {"RUNNING": 3}
    assert audit_actions(db) == {}


def test_one_call_acts_on_at_most_the_limit_and_says_there_are_more(client, db, monkeypatch):
    monkeypatch.setattr(bulk, "MAX_JOBS", 3)
    fleet(db, 5)
    first = act(client, "pause", {"tags": ["fleet"], "status": "RUNNING"})
    assert (first["matched"], first["affected"], first["more"]) == (5, 3, True)
    rest = act(client, "pause", {"tags": ["fleet"], "status": "RUNNING"})
    assert (rest["matched"], rest["affected"], rest["more"]) == (2, 2, False)
    assert statuses(db) == {"STOPPED": 5}


def test_delete_by_name_prefix_takes_only_those_names(client, db):
    fleet(db, 4, prefix="team-a/")
    fleet(db, 2, prefix="team-b/")
    answer = act(client, "delete", {"name_prefix": "team-a/"})
    assert (answer["matched"], answer["affected"]) == (4, 4)
    with db.connection_context():
        names = [row[0] for row in db.execute_sql("SELECT name FROM jobs ORDER BY name")]
    assert names == ["team-b/1", "team-b/2"]
    assert audit_actions(db) == {"delete": 4, "bulk": 1}


def test_run_asks_for_a_run_of_each_job_but_one_executing(client, db):
    ids = [client.simulate_post("/v1/jobs", json=http_job()).json["id"] for _ in range(3)]
    set_row(db, ids[0], locked_until=datetime.now(UTC) + timedelta(minutes=1))
    answer = act(client, "run", {"ids": ids})
    assert (answer["matched"], answer["affected"]) == (3, 2)
    assert sorted(answer["job_ids"]) == sorted(ids[1:])
    assert stored(db, ids[0]).run_requested_at is None
    assert all(stored(db, job_id).run_requested_at is not None for job_id in ids[1:])


def test_a_paused_job_lets_its_execution_in_flight_finish(client, db, add_job):
    job_id = add_job()
    set_row(db, job_id, tags=["fleet"])
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    act(client, "pause", {"tags": ["fleet"]})
    claims.finish_many(db, [Finishing(claim, outcome(claim))])
    [execution] = executions(db, job_id)
    assert execution.status == "SUCCESSFUL"
    assert stored(db, job_id).status == "STOPPED"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"action": "pause", "selector": {}}, "selector needs at least one of"),
        ({"action": "pause"}, "selector must be an object"),
        ({"action": "explode", "selector": {"tags": ["x"]}}, "action must be one of"),
        ({"action": "pause", "selector": {"ids": ["nope"]}}, "selector.ids must be a job id"),
        ({"action": "pause", "selector": {"ids": [None]}}, "selector.ids must be a list"),
        ({"action": "pause", "selector": {"status": "DONE"}}, "selector.status must be one"),
        ({"action": "pause", "selector": {"type": "FTP"}}, "selector.type must be one"),
        ({"action": "pause", "selector": {"name_prefix": "a b"}}, "name must be 1 to 200"),
        ({"action": "pause", "selector": {"owner": "x"}}, "unknown field 'owner'"),
        ({"action": "pause", "selector": {"tags": "x"}}, "selector.tags must be a list"),
        ({"action": "run", "selector": {"tags": ["x"]}, "dry_run": "yes"}, "dry_run must be"),
        ({"action": "run", "selector": {"tags": ["x"]}, "force": True}, "unknown field 'force'"),
    ],
)
def test_a_bad_bulk_request_is_refused_with_400(client, db, body, message):
    fleet(db, 1)
    answer = client.simulate_post("/v1/jobs/bulk", json=body)
    assert message in error_of(answer, 400)
    assert statuses(db) == {"RUNNING": 1}


def test_the_bulk_route_is_not_taken_for_a_job_id(client):
    answer = client.simulate_get("/v1/jobs/bulk")
    assert answer.status_code == 405  # not "invalid job id 'bulk'"


def test_resume_plans_each_recurring_job_from_now_and_clears_its_failures(client, db, add_job):
    long_ago = datetime.now(UTC) - timedelta(hours=3)
    job_id = add_job(cron="*/5 * * * *", next_run=long_ago, status="STOPPED")
    set_row(db, job_id, tags=["fleet"], consecutive_failures=3, paused_reason="3 in a row")
    answer = act(client, "resume", {"tags": ["fleet"]})
    assert (answer["matched"], answer["affected"]) == (1, 1)
    resumed = stored(db, job_id)
    assert resumed.status == "RUNNING" and resumed.version == 2
    assert datetime.now(UTC) < resumed.next_run <= datetime.now(UTC) + timedelta(minutes=5)
    assert resumed.next_run.minute % 5 == 0 and resumed.next_run.second == 0
    assert (resumed.consecutive_failures, resumed.paused_reason) == (0, None)
