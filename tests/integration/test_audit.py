"""The audit log over real PostgreSQL: every change made through the API leaves
one entry, written with the change or not at all, and none holds a secret."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import falcon.testing
import pytest

import api
from app import claims, retention
from app.claims import Finishing
from tests.integration.api_calls import error_of, http_job, http_payload
from tests.integration.rows import LOCK, outcome

KEY = "audit-key-Zx98"
ACTOR = hashlib.sha256(KEY.encode()).hexdigest()[:8]
PASSWORD, TOKEN, COOKIE = "pw-Secret-771", "tok-Secret-772", "ck-Secret-773"


@pytest.fixture
def keyed(db, secret_box):
    app = api.create_app(db, box=secret_box, api_keys=(KEY,))
    return falcon.testing.TestClient(app, headers={"Authorization": f"Bearer {KEY}"})


def entries(client, query: str = "") -> list[dict]:
    answer = client.simulate_get("/v1/audit", query_string=query)
    assert answer.status_code == 200, answer.text
    return answer.json["entries"]


def test_each_change_to_a_job_is_an_entry_naming_who_and_what(keyed):
    tagged = {"X-Request-Id": "deploy-42"}
    job = keyed.simulate_post("/v1/jobs", json=http_job(tags=["a"]), headers=tagged).json
    path = f"/v1/jobs/{job['id']}"
    keyed.simulate_put(path, json={"tags": ["a", "b"], "timeout": "10s"})
    keyed.simulate_post(f"{path}/pause")
    keyed.simulate_post(f"{path}/pause")  # already paused: nothing changes
    keyed.simulate_post(f"{path}/resume")
    keyed.simulate_post(f"{path}/run")
    keyed.simulate_post(f"{path}/run")  # already asked for: nothing changes
    keyed.simulate_delete(path)

    log = entries(keyed, f"job_id={job['id']}")
    assert [e["action"] for e in log] == ["delete", "run", "resume", "pause", "update", "create"]
    assert {e["actor"] for e in log} == {ACTOR}
    assert {e["job_id"] for e in log} == {job["id"]}
    delete, run, resume, pause, update, create = log
    assert create["request_id"] == "deploy-42"
    assert create["changes"]["before"] is None
    assert create["changes"]["after"]["http_job"]["url"] == "http://example.com/hook"
    assert update["changes"] == {
        "before": {"tags": ["a"], "timeout": None},
        "after": {"tags": ["a", "b"], "timeout": 10.0},
    }
    assert pause["changes"] == {"before": {"status": "RUNNING"}, "after": {"status": "STOPPED"}}
    assert resume["changes"] == {"before": {"status": "STOPPED"}, "after": {"status": "RUNNING"}}
    assert run["changes"] is None
    assert delete["changes"]["after"] is None and delete["changes"]["before"]["tags"] == ["a", "b"]
    # Newest first, and a page continues after the last id of the one before.
    assert [e["id"] for e in log] == sorted((e["id"] for e in log), reverse=True)
    page = entries(keyed, f"job_id={job['id']}&limit=2")
    rest = entries(keyed, f"job_id={job['id']}&after={page[-1]['id']}")
    assert [e["id"] for e in page + rest] == [e["id"] for e in log]


def test_entries_hold_no_secret_but_say_which_changed(keyed, db):
    payload = http_payload(
        auth={"type": "basic", "username": "u", "password": PASSWORD},
        headers={"Cookie": COOKIE},
    )
    job = keyed.simulate_post("/v1/jobs", json=http_job(http_job=payload)).json
    changed = {**payload, "auth": {"type": "basic", "username": "u", "password": "new-pw-88"}}
    updated = keyed.simulate_put(f"/v1/jobs/{job['id']}", json={"http": changed})
    assert updated.status_code == 200, updated.text
    keyed.simulate_put(
        "/v1/jobs/by-name/with-token",
        json=http_job(http_job=http_payload(auth={"type": "bearer", "bearer_token": TOKEN})),
    )
    with db.connection_context():
        everything = json.dumps(db.execute_sql("SELECT * FROM audit_log").fetchall(), default=str)
    for secret in (PASSWORD, TOKEN, COOKIE, "new-pw-88"):
        assert secret not in everything
    [update] = entries(keyed, "action=update")
    assert update["changes"]["secrets_changed"] == ["http.auth.password"]
    assert update["changes"]["before"] == update["changes"]["after"] == {}


def test_a_registration_that_changes_nothing_leaves_no_entry(keyed):
    body = http_job(cron_schedule="0 3 * * *", execute_at=None)
    for _ in range(3):
        keyed.simulate_put("/v1/jobs/by-name/nightly", json=body)
    keyed.simulate_put("/v1/jobs/by-name/nightly", json={**body, "cron_schedule": "0 4 * * *"})
    log = entries(keyed, "action=upsert")
    assert [e["changes"]["after"].get("cron_schedule") for e in log] == ["0 4 * * *", "0 3 * * *"]
    assert log[0]["changes"]["before"] == {"cron_schedule": "0 3 * * *"}


def test_a_refused_change_leaves_no_entry(keyed):
    job = keyed.simulate_post("/v1/jobs", json=http_job()).json
    stale = keyed.simulate_put(
        f"/v1/jobs/{job['id']}", json={"tags": ["x"]}, headers={"If-Match": '"7"'}
    )
    error_of(stale, 412)
    invalid = keyed.simulate_put(f"/v1/jobs/{job['id']}", json={"timeout": "forever"})
    error_of(invalid, 400)
    assert [e["action"] for e in entries(keyed)] == ["create"]


def test_flow_controls_and_redrives_are_logged_by_their_key_and_job(keyed, db, add_job):
    keyed.simulate_put("/v1/flow-controls/partner-api", json={"rate": 5})
    keyed.simulate_put("/v1/flow-controls/partner-api", json={"parallelism": 2})
    keyed.simulate_put("/v1/flow-controls/partner-api", json={"parallelism": 2})  # the same
    keyed.simulate_delete("/v1/flow-controls/partner-api")
    job_id = add_job(retry_policy={"max_attempts": 1})
    [claim] = claims.claim_due(db, "t", 10, LOCK).claims
    claims.finish_many(db, [Finishing(claim, outcome(claim, "FAILED"))])
    [dead] = keyed.simulate_get("/v1/dead-letters").json["dead_letters"]
    keyed.simulate_post(f"/v1/dead-letters/{dead['id']}/redrive")

    flows = [e for e in entries(keyed) if e["key"] == "partner-api"]
    assert [e["action"] for e in flows] == [
        "flow_control_delete",
        "flow_control_set",
        "flow_control_set",
    ]
    assert flows[2]["changes"]["before"] is None and flows[2]["changes"]["after"]["rate"] == 5
    assert flows[1]["changes"]["after"] == {"rate": None, "parallelism": 2}
    assert flows[0]["changes"]["before"]["parallelism"] == 2
    [redrive] = entries(keyed, "action=redrive")
    assert redrive["job_id"] == str(job_id)
    assert redrive["changes"] == {"dead_letter_ids": [dead["id"]]}


def test_entries_are_found_by_time_and_pruned_after_the_retention(keyed, db):
    keyed.simulate_post("/v1/jobs", json=http_job())
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert len(entries(keyed, f"from={later.replace('+', '%2B')}")) == 0
    assert len(entries(keyed, f"to={later.replace('+', '%2B')}")) == 1
    with db.connection_context():
        db.execute_sql("UPDATE audit_log SET at = now() - interval '91 days'")
    assert retention.prune(db, retention.AUDIT, 90 * 86400) == 1
    assert entries(keyed) == []


def test_an_open_api_logs_changes_as_anonymous(client):
    client.simulate_post("/v1/jobs", json=http_job())
    [entry] = client.simulate_get("/v1/audit").json["entries"]
    assert entry["actor"] == "anonymous"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("action=explode", "action must be one of"),
        ("job_id=nope", "job_id must be a UUID"),
        ("after=x", "invalid audit entry id"),
        ("from=yesterday", "from"),
    ],
)
def test_a_bad_query_is_refused_with_400(keyed, query, message):
    answer = keyed.simulate_get("/v1/audit", query_string=query)
    assert message in error_of(answer, 400)
