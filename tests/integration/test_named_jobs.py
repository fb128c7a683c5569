"""Named jobs and versions through the real API over PostgreSQL: registering a
job by name again and again leaves one job, unchanged; versions and If-Match
keep a client from overwriting a change it has not seen."""

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app import claims
from app.claims import Finishing
from tests.integration.api_calls import error_of, http_job, http_payload
from tests.integration.rows import LOCK, executions, outcome, set_row

NIGHTLY = {
    "type": "HTTP",
    "cron_schedule": "30 2 * * *",
    "timezone": "Europe/Berlin",
    "http_job": http_payload(auth={"type": "bearer", "bearer_token": "tok-Jq71"}),
}


def upsert(client, name: str, body: dict, **headers):
    return client.simulate_put(f"/v1/jobs/by-name/{name}", json=body, headers=headers)


def test_registering_the_same_job_again_changes_nothing(client):
    first = upsert(client, "nightly", NIGHTLY)
    assert first.status_code == 201, first.text
    assert first.headers["etag"] == '"1"'
    assert (first.json["name"], first.json["version"]) == ("nightly", 1)
    for _ in range(2):
        again = upsert(client, "nightly", NIGHTLY)
        assert again.status_code == 200, again.text
        assert again.headers["etag"] == '"1"'
        assert again.json["next_run"] == first.json["next_run"]
        assert again.json["updated_at"] == first.json["updated_at"]
    # What a client read back (secrets as ***) is the same definition too.
    shown = client.simulate_get(f"/v1/jobs/{first.json['id']}").json
    back = {k: shown[k] for k in ("type", "cron_schedule", "timezone", "http_job")}
    assert upsert(client, "nightly", back).json["version"] == 1
    [listed] = client.simulate_get("/v1/jobs", query_string="name=nightly").json
    assert listed["id"] == first.json["id"]
    assert client.simulate_get("/v1/jobs", query_string="name=other").json == []


def test_a_changed_definition_is_a_new_version_with_its_next_run_recomputed(client):
    first = upsert(client, "reports/weekly", NIGHTLY).json
    changed = upsert(client, "reports/weekly", {**NIGHTLY, "cron_schedule": "0 6 * * MON"})
    assert changed.status_code == 200 and changed.headers["etag"] == '"2"'
    assert changed.json["id"] == first["id"] and changed.json["version"] == 2
    assert changed.json["next_run"] != first["next_run"]
    assert changed.json["cron_schedule"] == "0 6 * * MON"
    # The whole definition is replaced: what the body leaves out goes back to its default.
    tagged = upsert(client, "reports/weekly", {**NIGHTLY, "tags": ["x"]}).json
    assert (tagged["version"], tagged["cron_schedule"]) == (3, "30 2 * * *")


def test_a_one_off_job_registered_again_after_its_time_is_left_alone(client, db):
    body = {**http_job(), "execute_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}
    created = upsert(client, "once", body).json
    set_row(db, created["id"], execute_at=datetime.now(UTC) - timedelta(minutes=1))
    past = {
        **body,
        "execute_at": client.simulate_get(f"/v1/jobs/{created['id']}").json["execute_at"],
    }
    assert upsert(client, "once", past).status_code == 200
    moved = {**body, "execute_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}
    assert "execute_at must be in the future" in error_of(upsert(client, "once", moved), 400)


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("bad name", NIGHTLY, "name must be 1 to 200 characters"),
        ("a" * 201, NIGHTLY, "name must be 1 to 200 characters"),
        ("nightly", {**NIGHTLY, "name": "other"}, "name 'other' differs from the path's"),
        ("nightly", {**NIGHTLY, "cron_schedule": None}, "only one of execute_at and cron"),
    ],
)
def test_a_bad_name_or_definition_is_refused(client, name, body, message):
    assert message in error_of(upsert(client, name, body), 400)


def test_if_none_match_only_creates(client):
    assert upsert(client, "fresh", NIGHTLY, **{"If-None-Match": "*"}).status_code == 201
    refused = upsert(client, "fresh", NIGHTLY, **{"If-None-Match": "*"})
    assert "exists already" in error_of(refused, 412)
    assert "only * is understood" in error_of(
        upsert(client, "fresh", NIGHTLY, **{"If-None-Match": '"1"'}), 400
    )


def test_a_name_is_unique_across_creates_and_renames(client):
    upsert(client, "taken", NIGHTLY)
    assert "exists already" in error_of(
        client.simulate_post("/v1/jobs", json={**http_job(), "name": "taken"}), 409
    )
    other = client.simulate_post("/v1/jobs", json=http_job()).json
    renamed = client.simulate_put(f"/v1/jobs/{other['id']}", json={"name": "taken"})
    assert "exists already" in error_of(renamed, 409)
    assert client.simulate_put(f"/v1/jobs/{other['id']}", json={"name": "mine"}).json["name"] == (
        "mine"
    )


def test_every_change_is_a_version_and_if_match_refuses_a_stale_one(client):
    job = client.simulate_post("/v1/jobs", json=http_job()).json
    path = f"/v1/jobs/{job['id']}"
    stale = {"If-Match": '"1"'}
    assert client.simulate_put(path, json={"tags": ["a"]}, headers=stale).json["version"] == 2
    assert client.simulate_put(path, json={"tags": ["a"]}).json["version"] == 2  # no change
    assert client.simulate_post(f"{path}/pause").json["version"] == 3
    assert client.simulate_post(f"{path}/pause").json["version"] == 3  # already paused
    for method, where in (("PUT", path), ("DELETE", path), ("POST", f"{path}/resume")):
        refused = client.simulate_request(method, where, json={"tags": ["b"]}, headers=stale)
        assert "at version 3, not 1: read it again" in error_of(refused, 412)
    weak = client.simulate_post(f"{path}/resume", headers={"If-Match": 'W/"3"'})
    assert weak.headers["etag"] == '"4"'
    assert "names no version" in error_of(
        client.simulate_delete(path, headers={"If-Match": '"abc"'}), 412
    )
    assert client.simulate_delete(path, headers={"If-Match": "*"}).status_code == 204


def test_concurrent_registrations_of_a_new_name_make_one_job(client):
    answers = []
    start = threading.Barrier(8)

    def register():
        start.wait()
        answers.append(upsert(client, "raced", NIGHTLY))

    threads = [threading.Thread(target=register) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201]
    assert len({a.json["id"] for a in answers}) == 1
    assert {a.json["version"] for a in answers} == {1}


def test_of_two_changes_from_one_read_only_the_first_lands(client):
    job = client.simulate_post("/v1/jobs", json=http_job()).json
    answers = []
    start = threading.Barrier(2)

    def change(tag: str):
        start.wait()
        answers.append(
            client.simulate_put(
                f"/v1/jobs/{job['id']}", json={"tags": [tag]}, headers={"If-Match": '"1"'}
            )
        )

    threads = [threading.Thread(target=change, args=(tag,)) for tag in ("x", "y")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200, 412]


def test_an_execution_records_the_version_it_ran(client, db):
    job = client.simulate_post("/v1/jobs", json=http_job()).json
    client.simulate_put(f"/v1/jobs/{job['id']}", json={"tags": ["v2"]})
    set_row(db, job["id"], next_run=datetime.now(UTC) - timedelta(seconds=1))
    [claim] = claims.claim_due(db, "tick-a", 10, LOCK).claims
    definition = claims.start_attempt(db, claim, key := uuid.uuid4(), LOCK)
    assert definition.version == 2
    finishing = Finishing(claim, outcome(claim), definition.basis, key, job_version=2)
    claims.finish_many(db, [finishing])
    [execution] = executions(db, job["id"])
    assert execution.job_version == 2
    shown = client.simulate_get(f"/v1/jobs/{job['id']}/executions").json["executions"]
    assert shown[0]["job_version"] == 2
