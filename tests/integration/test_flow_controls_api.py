"""/v1/flow-controls and the jobs' flow_key through the real API over PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.api_calls import amqp_job, create, error_of, get, http_job, http_payload
from tests.integration.rows import stored
from tests.prometheus import samples


def put(client, key: str, **limits):
    return client.simulate_put(f"/v1/flow-controls/{key}", json=limits)


def test_limits_are_created_replaced_read_listed_and_deleted(client):
    created = put(client, "payments", rate=10, period="2s", parallelism=5)
    assert created.status_code == 201, created.text
    assert created.json | {"created_at": None, "updated_at": None} == {
        "key": "payments",
        "rate": 10,
        "period": "2s",
        "parallelism": 5,
        "in_flight": 0,
        "waiting": 0,
        "started_last_period": 0,
        "created_at": None,
        "updated_at": None,
    }
    replaced = put(client, "payments", parallelism=2)
    assert replaced.status_code == 200
    assert (replaced.json["rate"], replaced.json["period"], replaced.json["parallelism"]) == (
        None,
        None,
        2,
    )
    assert put(client, "mail", rate=1).json["period"] == "1s"
    assert client.simulate_get("/v1/flow-controls/payments").json["parallelism"] == 2

    listed = client.simulate_get("/v1/flow-controls").json["flow_controls"]
    assert [c["key"] for c in listed] == ["mail", "payments"]
    page = client.simulate_get("/v1/flow-controls", query_string="limit=1&after=mail").json
    assert [c["key"] for c in page["flow_controls"]] == ["payments"]

    assert client.simulate_delete("/v1/flow-controls/payments").status_code == 204
    error_of(client.simulate_get("/v1/flow-controls/payments"), 404)
    error_of(client.simulate_delete("/v1/flow-controls/payments"), 404)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({}, "give rate (with period), parallelism, or both"),
        ({"period": "1s", "parallelism": 1}, "period applies to a rate"),
        ({"rate": 0}, "rate must be an integer from 1 to 1000"),
        ({"rate": 1001}, "rate must be an integer from 1 to 1000"),
        ({"rate": 5, "period": "5ms"}, "period must be from 100ms to 24h"),
        ({"rate": 5, "period": 1}, "period: expected a duration string"),
        ({"parallelism": True}, "parallelism must be an integer from 1 to 1000"),
        ({"parallelism": 2, "burst": 3}, None),  # unknown fields are ignored
    ],
)
def test_bad_limits_are_refused_with_the_reason(client, limits, message):
    response = put(client, "k", **limits)
    if message is None:
        assert response.status_code == 201
    else:
        assert message in error_of(response, 400)


def test_a_key_must_be_short_and_plain(client):
    assert "flow_key must be 1 to 200" in error_of(put(client, "a" * 201, parallelism=1), 400)
    assert "flow_key must be" in error_of(put(client, "a%20b", parallelism=1), 400)
    assert put(client, "host:api.example.com", parallelism=1).status_code == 201


def test_a_job_names_its_flow_key_and_host_keys_on_its_target(client, db):
    job = create(client, http_job(flow_key="payments"))
    assert job["flow_key"] == "payments"
    assert stored(db, job["id"]).flow_key == "payments"

    by_host = create(client, http_job(flow_key="host:"))
    assert by_host["flow_key"] == "host:example.com"
    amqp = create(client, amqp_job(flow_key="host:"))
    assert amqp["flow_key"] == "host:rabbit.example"
    named = create(client, http_job(flow_key="host:example.com"))
    assert named["flow_key"] == "host:example.com"

    message = error_of(client.simulate_post("/v1/jobs", json=http_job(flow_key="host:x.org")), 400)
    assert "names another host than the job's target 'example.com'" in message
    error_of(client.simulate_post("/v1/jobs", json=http_job(flow_key="")), 400)
    error_of(client.simulate_post("/v1/jobs", json=http_job(flow_key=7)), 400)

    # A new target with the old host key is refused; "host:" follows the target.
    moved = {"http": http_payload(url="https://other.example/hook")}
    error_of(client.simulate_put(f"/v1/jobs/{by_host['id']}", json=moved), 400)
    updated = client.simulate_put(f"/v1/jobs/{by_host['id']}", json={**moved, "flow_key": "host:"})
    assert updated.json["flow_key"] == "host:other.example"
    cleared = client.simulate_put(f"/v1/jobs/{job['id']}", json={"flow_key": None})
    assert cleared.json["flow_key"] is None
    assert get(client, named["id"])["flow_key"] == "host:example.com"


def test_a_key_named_by_jobs_shows_once_it_has_limits_and_stays_after_delete(client):
    job = create(client, http_job(flow_key="shared"))
    error_of(client.simulate_get("/v1/flow-controls/shared"), 404)  # no limits yet
    assert put(client, "shared", parallelism=1).status_code == 201
    assert client.simulate_delete("/v1/flow-controls/shared").status_code == 204
    assert get(client, job["id"])["flow_key"] == "shared"
    assert put(client, "shared", rate=3).status_code == 201


def test_metrics_show_the_jobs_waiting_by_key(client, db, add_job):
    put(client, "slow", parallelism=1)
    for _ in range(3):
        add_job(flow_key="slow")
    add_job(flow_key="slow", locked_until=datetime.now(UTC) + timedelta(minutes=1))
    add_job()
    found = samples(client.simulate_get("/metrics").text)
    assert found[("scheduler_flow_waiting", (("key", "slow"),))] == 3
    assert found[("scheduler_due_jobs", ())] == 1  # held back by design is not a backlog
    live = client.simulate_get("/v1/flow-controls/slow").json
    assert (live["waiting"], live["in_flight"]) == (3, 1)
