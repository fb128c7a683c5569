"""Idempotency-Key over real PostgreSQL: a POST sent again gets the first answer
back and acts once, however the sends interleave."""

import json
import threading

import falcon.testing
import psycopg2
import pytest

import api
from api.openapi import document
from app import retention
from app.db.database import connect_params
from tests.integration.api_calls import concrete, error_of, http_job
from tests.integration.rows import set_row, stored

TENANT_A, TENANT_B = "tenant-a-key-Qw12", "tenant-b-key-Er34"


def keyed(key: str, **more) -> dict:
    return {"Idempotency-Key": key, **more}


def job_count(db) -> int:
    with db.connection_context():
        return db.execute_sql("SELECT count(*) FROM jobs").fetchone()[0]


def test_a_create_sent_again_answers_the_first_answer_and_creates_once(client, db):
    body = http_job(tags=["retry-me"])
    first = client.simulate_post("/v1/jobs", json=body, headers=keyed("create-1"))
    again = client.simulate_post("/v1/jobs", json=body, headers=keyed("create-1"))
    assert first.status_code == again.status_code == 201, again.text
    assert again.json == first.json
    assert again.headers["etag"] == first.headers["etag"] == '"1"'
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert job_count(db) == 1
    # Another key is another request.
    other = client.simulate_post("/v1/jobs", json=body, headers=keyed("create-2"))
    assert other.status_code == 201 and other.json["id"] != first.json["id"]
    assert job_count(db) == 2


def test_the_same_json_sent_with_other_spacing_and_key_order_is_the_same_request(client, db):
    body = http_job(tags=["respaced"])
    first = client.simulate_post("/v1/jobs", body=json.dumps(body), headers=keyed("k-json"))
    respaced = json.dumps(dict(reversed(body.items())), indent=2)
    again = client.simulate_post("/v1/jobs", body=respaced, headers=keyed("k-json"))
    assert first.status_code == again.status_code == 201, again.text
    assert again.json == first.json and again.headers["idempotent-replayed"] == "true"
    assert job_count(db) == 1


def test_the_same_key_with_another_body_or_route_is_refused_with_422(client, db):
    first = client.simulate_post("/v1/jobs", json=http_job(), headers=keyed("k-1"))
    assert first.status_code == 201
    changed = client.simulate_post("/v1/jobs", json=http_job(tags=["x"]), headers=keyed("k-1"))
    assert "was used for another request" in error_of(changed, 422)
    elsewhere = client.simulate_post(f"/v1/jobs/{first.json['id']}/run", headers=keyed("k-1"))
    assert "was used for another request" in error_of(elsewhere, 422)
    assert job_count(db) == 1
    assert stored(db, first.json["id"]).run_requested_at is None


def test_a_refused_request_keeps_no_answer_so_the_key_may_be_used_again(client, db):
    refused = client.simulate_post("/v1/jobs", json={"type": "HTTP"}, headers=keyed("k-2"))
    error_of(refused, 400)
    created = client.simulate_post("/v1/jobs", json=http_job(), headers=keyed("k-2"))
    assert created.status_code == 201, created.text
    assert job_count(db) == 1


def test_a_run_now_sent_again_is_not_asked_for_twice(client, db):
    job = client.simulate_post("/v1/jobs", json=http_job()).json
    first = client.simulate_post(f"/v1/jobs/{job['id']}/run", headers=keyed("run-1"))
    assert first.status_code == 202 and first.json["run_requested_at"] is not None
    set_row(db, job["id"], run_requested_at=None)  # the tick claimed it and it ran
    again = client.simulate_post(f"/v1/jobs/{job['id']}/run", headers=keyed("run-1"))
    assert again.status_code == 202 and again.json == first.json
    assert stored(db, job["id"]).run_requested_at is None  # not asked for again


def test_keys_are_per_api_key_so_tenants_never_collide(db, secret_box):
    app = api.create_app(db, box=secret_box, api_keys=(TENANT_A, TENANT_B))
    client = falcon.testing.TestClient(app)
    answers = [
        client.simulate_post(
            "/v1/jobs",
            json=http_job(),
            headers=keyed("deploy-7", Authorization=f"Bearer {tenant}"),
        )
        for tenant in (TENANT_A, TENANT_B)
    ]
    assert [answer.status_code for answer in answers] == [201, 201]
    assert answers[0].json["id"] != answers[1].json["id"]
    assert job_count(db) == 2


def test_a_key_while_its_first_request_is_in_progress_answers_409(client, db, db_config):
    # The first request holds the key's lock until its transaction ends.
    first = psycopg2.connect(dbname=db_config.db_name, **connect_params(db_config))
    try:
        with first, first.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended('anonymous:busy-1', 0))")
            busy = client.simulate_post("/v1/jobs", json=http_job(), headers=keyed("busy-1"))
            assert "still in progress" in error_of(busy, 409)
    finally:
        first.close()
    after = client.simulate_post("/v1/jobs", json=http_job(), headers=keyed("busy-1"))
    assert after.status_code == 201
    assert job_count(db) == 1


def test_concurrent_creates_with_one_key_make_one_job(client, db):
    body, start, answers = http_job(), threading.Barrier(8), []

    def send():
        start.wait()
        answers.append(client.simulate_post("/v1/jobs", json=body, headers=keyed("burst")))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert job_count(db) == 1
    assert {answer.status_code for answer in answers} <= {201, 409}
    created = [answer for answer in answers if answer.status_code == 201]
    assert created and {answer.json["id"] for answer in created} == {
        str(stored_id) for (stored_id,) in _job_ids(db)
    }


def _job_ids(db):
    with db.connection_context():
        return db.execute_sql("SELECT id FROM jobs").fetchall()


def test_a_key_a_day_old_acts_again_and_is_pruned(client, db):
    client.simulate_post("/v1/jobs", json=http_job(), headers=keyed("old-1"))
    with db.connection_context():
        db.execute_sql("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    again = client.simulate_post("/v1/jobs", json=http_job(), headers=keyed("old-1"))
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert job_count(db) == 2
    with db.connection_context():
        db.execute_sql("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    assert retention.prune(db, retention.IDEMPOTENCY_KEYS, retention.IDEMPOTENCY_KEPT_SECONDS) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
def test_a_malformed_key_is_refused_with_400(client, db, key):
    answer = client.simulate_post("/v1/jobs", json=http_job(), headers=keyed(key))
    assert "Idempotency-Key must be 1 to 255 printable ASCII" in error_of(answer, 400)
    assert job_count(db) == 0


def test_the_key_is_ignored_where_it_means_nothing(client, db):
    job = client.simulate_post("/v1/jobs", json=http_job()).json
    for _ in range(2):
        paused = client.simulate_post(f"/v1/jobs/{job['id']}/pause", headers=keyed("p"))
        assert paused.status_code == 200 and "idempotent-replayed" not in paused.headers
    with db.connection_context():
        assert db.execute_sql("SELECT count(*) FROM idempotency_keys").fetchone() == (0,)


def test_the_routes_that_take_a_key_are_those_the_description_says(db):
    app = api.create_app(db)
    for path, operations in document()["paths"].items():
        if "post" not in operations:
            continue
        described = any(
            parameter["name"] == "Idempotency-Key" for parameter in operations["post"]["parameters"]
        )
        resource = app._router.find(concrete(path))[0]
        assert described == getattr(resource, "idempotent", False), path
        answers = operations["post"]["responses"]
        replayed = {
            status
            for status, answer in answers.items()
            if "Idempotent-Replayed" in answer.get("headers", {})
        }
        assert replayed == ({s for s in answers if s.startswith("2")} if described else set())
    # Only keyed operations say so, though they share their answers with others.
    assert "Idempotent-Replayed" not in document()["paths"]["/v1/jobs/{id}"]["get"]["responses"][
        "200"
    ].get("headers", {})
