"""Security against real processes (issue 5): API keys, signed deliveries, the
outbound guard, redirects, secrets never in clear, and `scheduler rotate-secrets`.

`secure_stack` runs web, two ticks and a two-process worker with API keys, a
signing key and a secret key; `allow_list_stack` is a smaller stack of its own
(database and vhost too) whose workers may only call 10.0.0.0/8.
"""

import base64
import json
import re
import subprocess
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from app.secrets.sealing import SealingError, SecretBox, generate_key
from testkit.e2e import running_stack, stack_environ
from testkit.jobs import amqp_one_off, later, one_off, soon, with_host
from testkit.polling import wait_for
from testkit.services import RUN, database_copy, private_vhost, run_sql
from testkit.stack import SCHEDULER, process_environ

pytestmark = pytest.mark.e2e

SECURITY_PAGE = Path(__file__).resolve().parents[2] / "docs" / "security.md"

API_KEYS = (f"api-key-one-{uuid.uuid4().hex}", f"api-key-two-{uuid.uuid4().hex}")
SIGNING_KEY = f"signing-key-{uuid.uuid4().hex}"
SECRET_KEY = generate_key()


# -- helpers -------------------------------------------------------------------------


def call(stack, method: str, path: str, key: str | None = API_KEYS[0], **kwargs):
    """One API request, with `Authorization: Bearer <key>` unless key is None."""
    headers = kwargs.pop("headers", {})
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return requests.request(method, f"{stack.api}{path}", headers=headers, timeout=10, **kwargs)


def post_job(stack, body: dict, key: str = API_KEYS[0]) -> dict:
    response = call(stack, "POST", "/v1/jobs", key, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def executions(stack, job_id: str) -> list[dict]:
    response = call(stack, "GET", f"/v1/jobs/{job_id}/executions", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return response.json()["executions"]


def settled(stack, job_id: str, timeout: float = 30) -> dict:
    """The one execution of a one-off job, once it is recorded."""
    found = wait_for(lambda: executions(stack, job_id), timeout=timeout)
    assert found, f"no execution of {job_id} within {timeout}s"
    [execution] = found
    return execution


def documented_verify():
    """The `verify` function of docs/security.md, as a receiver would paste it."""
    [snippet] = re.findall(r"```python\n(.*?)```", SECURITY_PAGE.read_text(), re.DOTALL)
    namespace: dict = {}
    exec(compile(snippet, "docs/security.md", "exec"), namespace)
    return namespace["verify"]


# -- stacks --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secure_stack(e2e_database, rabbit_vhost, tmp_path_factory):
    environ = stack_environ(
        e2e_database,
        rabbit_vhost,
        SCHEDULER_WORKER_THREADS="4",
        SCHEDULER_API_KEYS=",".join(API_KEYS),
        SCHEDULER_SIGNING_KEY=SIGNING_KEY,
        SCHEDULER_SECRET_KEY=SECRET_KEY,
    )
    with running_stack(environ, tmp_path_factory.mktemp("secure-logs")) as running:
        yield running


@pytest.fixture
def allow_list_stack(template_database, rabbit_vhost, tmp_path_factory):
    """web, one tick and a one-process worker allowed to call 10.0.0.0/8 only, on a
    database and a vhost of their own (so secure_stack's processes never see them)."""
    vhost = f"scheduler-test-{RUN}-allow-{uuid.uuid4().hex[:6]}"
    with private_vhost(vhost) as broker_url, database_copy(template_database) as database:
        environ = stack_environ(
            database,
            broker_url,
            SCHEDULER_WORKER_THREADS="2",
            SCHEDULER_HTTP_ALLOW_NETWORKS="10.0.0.0/8",
        )
        logs = tmp_path_factory.mktemp("allow-logs")
        with running_stack(
            environ, logs, ticks=("allow-tick",), worker_args=("--worker-processes", "1")
        ) as running:
            yield running


# -- API keys ------------------------------------------------------------------------


def test_every_v1_route_answers_401_json_without_a_valid_key_and_health_stays_open(
    secure_stack,
):
    job = post_job(
        secure_stack,
        {
            "type": "HTTP",
            "execute_at": later(),
            "http_job": {"url": "http://127.0.0.1:9/never", "method": "GET"},
        },
    )
    job_id = job["id"]
    jobs_before = call(secure_stack, "GET", "/v1/jobs", params={"limit": 1000}).json()
    routes = [
        ("GET", "/v1/jobs", {}),
        ("POST", "/v1/jobs", {"json": one_off("http://127.0.0.1:9/never")}),
        ("GET", f"/v1/jobs/{job_id}", {}),
        ("PUT", f"/v1/jobs/{job_id}", {"json": {"tags": ["stolen"]}}),
        ("DELETE", f"/v1/jobs/{job_id}", {}),
        ("GET", f"/v1/jobs/{job_id}/executions", {}),
        ("POST", f"/v1/jobs/{job_id}/pause", {}),
        ("POST", f"/v1/jobs/{job_id}/resume", {}),
        ("POST", f"/v1/jobs/{job_id}/run", {}),
        ("GET", "/v1/executions/1", {}),
        ("POST", "/v1/schedules/preview", {"json": {"cron_schedule": "* * * * *"}}),
    ]
    wrong = {
        "none": None,
        "unknown key": f"not-{API_KEYS[0]}",
        "a key's prefix": API_KEYS[0][:-1],
        "both keys": ",".join(API_KEYS),
    }
    for method, path, kwargs in routes:
        for why, key in wrong.items():
            response = call(secure_stack, method, path, key, **kwargs)
            assert response.status_code == 401, (method, path, why, response.text)
            assert response.headers["Content-Type"].startswith("application/json")
            assert response.json()["error"], (method, path, why)
        # The key itself, under another scheme, is no key either.
        response = call(
            secure_stack,
            method,
            path,
            None,
            headers={"Authorization": f"Basic {API_KEYS[0]}"},
            **kwargs,
        )
        assert response.status_code == 401, (method, path, "Basic scheme")
    # Nothing the refused requests asked for happened.
    assert call(secure_stack, "GET", "/v1/jobs", params={"limit": 1000}).json() == jobs_before
    after = call(secure_stack, "GET", f"/v1/jobs/{job_id}").json()
    assert (
        after["status"] == "RUNNING" and after["tags"] == [] and after["run_requested_at"] is None
    )
    assert requests.get(f"{secure_stack.api}/health", timeout=5).status_code == 200


def test_either_configured_key_opens_the_api(secure_stack):
    for key in API_KEYS:
        job = post_job(
            secure_stack,
            {
                "type": "HTTP",
                "execute_at": later(),
                "http_job": {"url": "http://127.0.0.1:9/never", "method": "GET"},
            },
            key=key,
        )
        assert call(secure_stack, "GET", f"/v1/jobs/{job['id']}", key).status_code == 200
        assert call(secure_stack, "GET", "/v1/jobs", key).status_code == 200
        assert call(secure_stack, "GET", f"/v1/jobs/{job['id']}/executions", key).json() == {
            "executions": []
        }
        assert call(secure_stack, "DELETE", f"/v1/jobs/{job['id']}", key).status_code == 204
        assert call(secure_stack, "GET", f"/v1/jobs/{job['id']}", key).status_code == 404


# -- signed deliveries ---------------------------------------------------------------


def test_signed_deliveries_verify_with_the_readme_snippet_and_fail_when_tampered(
    secure_stack, target
):
    key = uuid.uuid4().hex
    body = json.dumps({"order": key, "amount": 42})
    with_body = post_job(
        secure_stack,
        one_off(
            f"{target.url}/signed/{key}",
            method="POST",
            body=body,
            headers={"Content-Type": "application/json"},
        ),
    )
    without_body = post_job(secure_stack, one_off(f"{target.url}/signed-empty/{key}"))
    assert settled(secure_stack, with_body["id"])["success"] is True
    assert settled(secure_stack, without_body["id"])["success"] is True
    [hit] = target.received(f"/signed/{key}")
    [empty] = target.received(f"/signed-empty/{key}")
    assert hit.body == body.encode() and empty.body == b""
    for received in (hit, empty):
        assert abs(int(received.header("X-Scheduler-Timestamp")) - received.at) < 30
        assert received.header("X-Scheduler-Signature").startswith("v1=")

    verify = documented_verify()
    signing_key = SIGNING_KEY.encode()
    assert verify(signing_key, hit.headers, hit.body) is True
    assert verify(signing_key, empty.headers, empty.body) is True
    # A tampered body, another key, or the signature of another delivery: refused.
    assert verify(signing_key, hit.headers, hit.body.replace(b"42", b"43")) is False
    assert verify(signing_key, empty.headers, b"x") is False
    assert verify(b"another-signing-key", hit.headers, hit.body) is False
    replayed = {**hit.headers, "X-Scheduler-Delivery-Id": empty.header("X-Scheduler-Delivery-Id")}
    assert verify(signing_key, replayed, hit.body) is False


# -- outbound guard ------------------------------------------------------------------


def test_a_job_to_a_denied_network_fails_once_at_the_guard_and_sends_nothing(secure_stack, target):
    key = uuid.uuid4().hex
    port = target.port
    metadata = post_job(secure_stack, one_off("http://169.254.169.254/latest/meta-data/"))
    # 0.0.0.0 reaches this host on Linux: were the guard skipped, the target would see it.
    zero = post_job(secure_stack, one_off(f"http://0.0.0.0:{port}/zero/{key}"))
    for job, network in ((metadata, "169.254.0.0/16"), (zero, "0.0.0.0/8")):
        execution = settled(secure_stack, job["id"])
        assert execution["success"] is False and execution["status"] == "FAILED"
        assert execution["attempts"] == 1
        assert execution["status_code"] is None
        assert "outbound guard" in execution["error_message"]
        assert f"denied network {network}" in execution["error_message"]
    assert not target.received(f"/zero/{key}")


def test_an_allow_list_refuses_a_target_outside_it(allow_list_stack, target):
    key = uuid.uuid4().hex
    job = allow_list_stack.post_job(one_off(f"{target.url}/allow/{key}"))
    execution = wait_for(lambda: allow_list_stack.executions(job["id"]), timeout=30)
    assert execution, "the job never ran"
    [execution] = execution
    assert execution["success"] is False and execution["attempts"] == 1
    assert "outbound guard" in execution["error_message"]
    assert "127.0.0.1 is outside the allowed networks" in execution["error_message"]
    assert not target.received(f"/allow/{key}")


def test_an_amqp_job_to_a_denied_network_fails_once_at_the_guard(
    secure_stack, rabbit_vhost, bound_queue
):
    name, channel = bound_queue
    # 0.0.0.0 reaches this host's RabbitMQ on Linux: were the guard skipped, it would land.
    for host, network in (("169.254.169.254", "169.254.0.0/16"), ("0.0.0.0", "0.0.0.0/8")):
        job = post_job(
            secure_stack, amqp_one_off(with_host(rabbit_vhost, host), "amq.direct", name)
        )
        execution = settled(secure_stack, job["id"])
        assert execution["status"] == "FAILED" and execution["attempts"] == 1
        assert "outbound guard" in execution["error_message"]
        assert f"denied network {network}" in execution["error_message"]
    assert channel.basic_get(name, auto_ack=True) == (None, None, None)


def test_an_allow_list_refuses_an_amqp_broker_outside_it(
    allow_list_stack, rabbit_vhost, bound_queue
):
    name, channel = bound_queue
    job = allow_list_stack.post_job(amqp_one_off(rabbit_vhost, "amq.direct", name))
    execution = settled(allow_list_stack, job["id"])
    assert execution["status"] == "FAILED" and execution["attempts"] == 1
    assert "127.0.0.1 is outside the allowed networks" in execution["error_message"]
    assert channel.basic_get(name, auto_ack=True) == (None, None, None)


# -- redirects -----------------------------------------------------------------------


def redirect(target, code: int, to: str) -> str:
    return f"{target.url}/redirect/{code}?to={quote(to, safe='')}"


def test_a_redirect_is_not_followed_unless_the_job_asks(secure_stack, target):
    key = uuid.uuid4().hex
    job = post_job(secure_stack, one_off(redirect(target, 302, f"{target.url}/final/{key}")))
    execution = settled(secure_stack, job["id"])
    assert execution["success"] is False and execution["status"] == "FAILED"
    assert execution["status_code"] == 302 and execution["attempts"] == 1
    assert len([hit for hit in target.received("/redirect/302") if key in hit.path]) == 1
    wait_for(lambda: target.received(f"/final/{key}"), timeout=1)
    assert not target.received(f"/final/{key}")


def test_a_followed_redirect_reaches_its_final_target_with_a_valid_signature(secure_stack, target):
    key = uuid.uuid4().hex
    found = post_job(
        secure_stack,
        one_off(redirect(target, 302, f"{target.url}/final/{key}/found"), follow_redirects=True),
    )
    # 307 keeps the method and the body, so the signature still verifies at the end.
    temporary = post_job(
        secure_stack,
        one_off(
            redirect(target, 307, f"{target.url}/final/{key}/temporary"),
            method="POST",
            body="keep me",
            follow_redirects=True,
        ),
    )
    for job in (found, temporary):
        execution = settled(secure_stack, job["id"])
        assert execution["success"] is True, execution["error_message"]
        assert execution["status_code"] == 200
    [hit] = target.received(f"/final/{key}/found")
    assert hit.header("X-Scheduler-Job-Id") == found["id"]
    [kept] = target.received(f"/final/{key}/temporary")
    assert kept.method == "POST" and kept.body == b"keep me"
    assert documented_verify()(SIGNING_KEY.encode(), kept.headers, kept.body) is True


def test_a_followed_redirect_into_a_denied_network_is_refused_by_the_guard(secure_stack, target):
    key = uuid.uuid4().hex
    port = target.port
    metadata = post_job(
        secure_stack,
        one_off(redirect(target, 302, "http://169.254.169.254/"), follow_redirects=True),
    )
    zero = post_job(
        secure_stack,
        one_off(redirect(target, 307, f"http://0.0.0.0:{port}/final/{key}"), follow_redirects=True),
    )
    for job, network in ((metadata, "169.254.0.0/16"), (zero, "0.0.0.0/8")):
        execution = settled(secure_stack, job["id"])
        assert execution["success"] is False and execution["attempts"] == 1
        assert "outbound guard" in execution["error_message"]
        assert f"denied network {network}" in execution["error_message"]
    assert not target.received(f"/final/{key}")


def test_authorization_is_dropped_when_a_redirect_changes_host_and_kept_on_the_same_host(
    secure_stack, target
):
    key = uuid.uuid4().hex
    port = target.port
    token = f"redirect-token-{key}"
    auth = {"type": "bearer", "bearer_token": token}
    other_host = post_job(
        secure_stack,
        one_off(
            redirect(target, 302, f"http://localhost:{port}/final/{key}/other"),
            auth=auth,
            follow_redirects=True,
        ),
    )
    same_host = post_job(
        secure_stack,
        one_off(
            redirect(target, 302, f"{target.url}/final/{key}/same"),
            auth=auth,
            follow_redirects=True,
        ),
    )
    for job in (other_host, same_host):
        assert settled(secure_stack, job["id"])["success"] is True
    [first, *_] = [hit for hit in target.received("/redirect/") if key in hit.path]
    assert first.header("Authorization") == f"Bearer {token}"
    [other] = target.received(f"/final/{key}/other")
    assert other.header("Authorization") is None
    [same] = target.received(f"/final/{key}/same")
    assert same.header("Authorization") == f"Bearer {token}"


# -- secrets never in clear ----------------------------------------------------------


def test_credentials_in_an_http_target_url_are_sent_as_basic_auth(secure_stack, target):
    key = uuid.uuid4().hex
    port = target.port
    password = f"UrlPw{key}"
    job = post_job(secure_stack, one_off(f"http://bob:{password}@127.0.0.1:{port}/url-auth/{key}"))
    assert job["http_job"]["url"] == f"http://bob:***@127.0.0.1:{port}/url-auth/{key}"
    settled(secure_stack, job["id"])
    [hit] = target.received(f"/url-auth/{key}")
    expected = base64.b64encode(f"bob:{password}".encode()).decode()
    assert hit.header("Authorization") == f"Basic {expected}"


def test_secrets_never_appear_in_api_responses_records_logs_or_the_database(secure_stack, target):
    key = uuid.uuid4().hex
    secrets = {
        "basic": f"Sup3rSecretBasicPw{key}",
        "bearer": f"Sup3rSecretBearerTok{key}",
        "authorization": f"Sup3rSecretHeaderVal{key}",
        "api-key": f"Sup3rSecretApiKey{key}",
        "cookie": f"Sup3rSecretCookie{key}",
        "marked": f"Sup3rSecretMarked{key}",
        "url": f"Sup3rSecretUrlPw{key}",
        "amqp": f"Sup3rSecretAmqp{key}",
    }
    port = target.port
    quick = {"max_attempts": 2, "min_backoff": "100ms"}
    # Every HTTP target echoes what it received (headers and body) with a 500.
    bodies = [
        one_off(
            f"{target.url}/echo/500/{key}/basic",
            auth={"type": "basic", "username": "alice", "password": secrets["basic"]},
        ),
        one_off(
            f"{target.url}/echo/500/{key}/bearer",
            auth={"type": "bearer", "bearer_token": secrets["bearer"]},
        ),
        one_off(
            f"{target.url}/echo/500/{key}/headers",
            method="POST",
            headers={
                "Authorization": f"Token {secrets['authorization']}",
                "X-Api-Key": secrets["api-key"],
                "Cookie": f"session={secrets['cookie']}",
                "X-Marked": secrets["marked"],
            },
            secret_headers=["X-Marked"],
            body="a body that is no secret",
        ),
        one_off(f"http://carol:{secrets['url']}@127.0.0.1:{port}/echo/500/{key}/url"),
        {
            "type": "AMQP",
            "execute_at": soon(),
            "amqp_job": {
                "connection": f"amqp://guest:{secrets['amqp']}@127.0.0.1:1/x",
                "exchange": "nowhere",
                "routing_key": "nothing",
                "body": "hello",
            },
        },
    ]
    responses = []
    jobs = []
    for body in bodies:
        body["retry_policy"] = quick
        response = call(secure_stack, "POST", "/v1/jobs", json=body)
        assert response.status_code == 201, response.text
        responses.append(response.text)
        jobs.append(response.json())
    records = [settled(secure_stack, job["id"]) for job in jobs]
    assert all(record["success"] is False and record["attempts"] == 2 for record in records)

    # The secrets did reach the targets (so the echoes did carry them back)...
    [bearer_hit, *_] = target.received(f"/echo/500/{key}/bearer")
    assert bearer_hit.header("Authorization") == f"Bearer {secrets['bearer']}"
    [headers_hit, *_] = target.received(f"/echo/500/{key}/headers")
    assert headers_hit.header("X-Api-Key") == secrets["api-key"]
    # ...and the records show *** in their place.
    by_path = dict(zip(["basic", "bearer", "headers", "url", "amqp"], records, strict=True))
    assert by_path["bearer"]["status_code"] == 500
    assert "Bearer ***" in by_path["bearer"]["response_excerpt"]
    assert "X-Api-Key: ***" in by_path["headers"]["response_excerpt"]
    assert by_path["amqp"]["error_message"] == "connection refused by 127.0.0.1:1"
    assert "amqp://guest:***@127.0.0.1:1/x" in by_path["amqp"]["error_detail"]

    # Everything the API shows about these jobs.
    for job in jobs:
        responses.append(call(secure_stack, "GET", f"/v1/jobs/{job['id']}").text)
        responses.append(
            call(
                secure_stack, "GET", f"/v1/jobs/{job['id']}/executions", params={"limit": 100}
            ).text
        )
    for record in records:
        responses.append(call(secure_stack, "GET", f"/v1/executions/{record['id']}").text)
    responses.append(call(secure_stack, "GET", "/v1/jobs", params={"limit": 1000}).text)
    dead = call(secure_stack, "GET", "/v1/dead-letters", params={"limit": 1000})
    assert len(dead.json()["dead_letters"]) >= len(jobs)  # with what each sent
    responses.append(dead.text)
    shown = "\n".join(responses)
    # What the database keeps in clear: payloads, error messages, excerpts, requests sent.
    stored = "\n".join(
        str(row)
        for row in run_sql(secure_stack.environ, "SELECT http_job::text, amqp_job::text FROM jobs")
        + run_sql(
            secure_stack.environ,
            "SELECT error_message, error_detail, response_excerpt FROM executions",
        )
        + run_sql(secure_stack.environ, "SELECT request::text, error_detail FROM dead_letters")
    )
    logs = "\n".join(path.read_text(errors="replace") for path in secure_stack.logs.glob("*.log"))
    # The workers did log these failures (with the AMQP URL), only redacted.
    assert "amqp://guest:***@127.0.0.1:1/x" in logs
    for name, secret in secrets.items():
        assert secret not in shown, f"{name} secret in an API response"
        assert secret not in stored, f"{name} secret in clear in the database"
        assert secret not in logs, f"{name} secret in a process log"


def test_a_target_echoing_basic_credentials_does_not_put_them_in_the_record(secure_stack, target):
    key = uuid.uuid4().hex
    password = f"EchoedBasicPw{key}"
    encoded = base64.b64encode(f"alice:{password}".encode()).decode()
    body = one_off(
        f"{target.url}/echo/500/{key}",
        auth={"type": "basic", "username": "alice", "password": password},
    )
    job = post_job(secure_stack, {**body, "retry_policy": {"max_attempts": 1}})
    record = settled(secure_stack, job["id"])
    [hit] = target.received(f"/echo/500/{key}")
    assert hit.header("Authorization") == f"Basic {encoded}"
    assert "Authorization: Basic" in record["response_excerpt"]
    assert encoded not in record["response_excerpt"]


def test_a_refused_job_does_not_echo_a_password_from_its_url(secure_stack):
    password = f"RefusedUrlPw{uuid.uuid4().hex}"
    for url in (
        f"ftp://dave:{password}@example.com/",
        f"http://dave:{password}@example.com:99999/",
    ):
        response = call(secure_stack, "POST", "/v1/jobs", json=one_off(url))
        assert response.status_code == 400, response.text
        assert password not in response.text


# -- key rotation --------------------------------------------------------------------


def test_rotate_secrets_reseals_every_job_with_the_new_key(secure_stack):
    token = f"RotatedToken{uuid.uuid4().hex}"
    legacy_token = f"LegacyToken{uuid.uuid4().hex}"
    job = post_job(
        secure_stack,
        {
            "type": "HTTP",
            "execute_at": later(),
            "http_job": {
                "url": "http://127.0.0.1:9/rotate",
                "method": "GET",
                "auth": {"type": "bearer", "bearer_token": token},
            },
        },
    )
    # A job stored before sealing existed: its token in clear in the payload.
    legacy = post_job(
        secure_stack,
        {
            "type": "HTTP",
            "execute_at": later(),
            "http_job": {
                "url": "http://127.0.0.1:9/legacy",
                "method": "GET",
                "auth": {"type": "bearer", "bearer_token": "placeholder-token"},
            },
        },
    )
    run_sql(
        secure_stack.environ,
        "UPDATE jobs SET secrets = NULL, http_job = jsonb_set(http_job, '{auth,bearer_token}', "
        "to_jsonb(%s::text)) WHERE id = %s",
        legacy_token,
        legacy["id"],
    )
    [(sealed_before,)] = run_sql(
        secure_stack.environ, "SELECT count(*) FROM jobs WHERE secrets IS NOT NULL"
    )
    assert sealed_before >= 1

    new_key = generate_key()
    environ = {
        name: value
        for name, value in secure_stack.environ.items()
        if name.startswith("SCHEDULER_DB_") or name == "SCHEDULER_LOG_LEVEL"
    }
    environ["SCHEDULER_SECRET_KEY"] = f"{new_key},{SECRET_KEY}"
    completed = subprocess.run(
        [SCHEDULER, "rotate-secrets"],
        env=process_environ(environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    assert f"re-sealed {sealed_before} job(s)" in completed.stdout, completed.stdout
    assert "sealed 1 kept in clear" in completed.stdout, completed.stdout

    new_only, old_only = SecretBox((new_key,)), SecretBox((SECRET_KEY,))
    rows = dict(
        run_sql(
            secure_stack.environ,
            "SELECT id::text, secrets FROM jobs WHERE id IN (%s, %s)",
            job["id"],
            legacy["id"],
        )
    )
    assert new_only.open(rows[job["id"]]) == {"http.auth.bearer_token": token}
    assert new_only.open(rows[legacy["id"]]) == {"http.auth.bearer_token": legacy_token}
    with pytest.raises(SealingError):
        old_only.open(rows[job["id"]])
    [(payload,)] = run_sql(
        secure_stack.environ, "SELECT http_job::text FROM jobs WHERE id = %s", legacy["id"]
    )
    assert legacy_token not in payload and '"***"' in payload
    # Every sealed row now opens with the new key alone.
    for (sealed,) in run_sql(
        secure_stack.environ, "SELECT secrets FROM jobs WHERE secrets IS NOT NULL"
    ):
        new_only.open(sealed)


def test_limits_hold_on_the_live_api(secure_stack, target):
    body = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    too_big = call(secure_stack, "POST", "/v1/jobs", data=body)
    assert too_big.status_code == 413 and "error" in too_big.json()
    job = one_off(f"{target.url}/limits", body="x" * (256 * 1024 + 1))
    refused = call(secure_stack, "POST", "/v1/jobs", json=job)
    assert refused.status_code == 400
    assert refused.json()["error"] == "HTTP job body is over 262144 bytes"
    assert call(secure_stack, "GET", "/v1/jobs", params={"limit": 1001}).status_code == 400
