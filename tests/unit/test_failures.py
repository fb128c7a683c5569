"""Failures a person can read (app/failures.py): the kind and the one sentence made
from what requests and pika raise, and what a dead letter keeps of a request."""

import ssl
import uuid
from datetime import UTC, datetime

import pika
import pika.exceptions
import pytest
import requests

from actors.delivery import USER_AGENT, Delivery, request_sent
from actors.http import HttpExecutor
from app import failures
from app.failures import Failure, NameNotResolved


def raised(call) -> BaseException:
    with pytest.raises(Exception) as caught:
        call()
    return caught.value


def test_a_closed_port_is_connection_refused_by_the_host_and_port_given():
    error = raised(lambda: requests.get("http://127.0.0.1:9/hooks/invoice", timeout=2))
    failure = failures.unreachable(error, "127.0.0.1", "127.0.0.1:9", 30)
    assert failure.kind == "connection_refused"
    assert failure.message == "connection refused by 127.0.0.1:9"
    assert "Max retries exceeded" in failure.detail  # the library's words, kept apart


def test_a_closed_amqp_port_is_connection_refused_too():
    parameters = pika.URLParameters("amqp://guest:guest@127.0.0.1:1/x")
    parameters.connection_attempts = 1
    error = raised(lambda: pika.BlockingConnection(parameters))
    failure = failures.unreachable(error, "127.0.0.1", "127.0.0.1:1", 5)
    assert failure.kind == "connection_refused"
    assert failure.message == "connection refused by 127.0.0.1:1"


def test_a_name_that_does_not_resolve_is_dns():
    error = NameNotResolved("cannot resolve api.example.invalid: [Errno -2] Name not known")
    failure = failures.unreachable(error, "api.example.invalid", "api.example.invalid:443", 30)
    assert (failure.kind, failure.message) == ("dns", "cannot resolve api.example.invalid")


@pytest.mark.parametrize(
    "error",
    [requests.ReadTimeout("read timed out"), requests.ConnectTimeout("connect"), TimeoutError()],
)
def test_a_target_that_does_not_answer_in_time_is_a_timeout(error):
    failure = failures.unreachable(error, "h", "h:80", 30, timeouts=(requests.Timeout,))
    assert (failure.kind, failure.message) == ("timeout", "no answer within 30 s")


def certificate_error(code: int, message: str) -> requests.exceptions.SSLError:
    """requests' error around an OpenSSL verification failure, as it wraps one."""
    cause = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] {message}")
    cause.verify_code, cause.verify_message = code, message
    try:
        raise requests.exceptions.SSLError("HTTPSConnectionPool: Max retries exceeded") from cause
    except requests.exceptions.SSLError as error:
        return error


def test_a_certificate_for_another_name_is_tls_and_says_for_which():
    error = certificate_error(62, "Hostname mismatch, certificate is not valid for 'api.x.com'")
    failure = failures.unreachable(error, "api.example.com", "api.example.com:443", 30)
    assert (failure.kind, failure.message) == ("tls", "certificate not valid for api.example.com")


def test_an_untrusted_certificate_is_tls_with_openssl_reason():
    error = certificate_error(18, "self-signed certificate")
    failure = failures.unreachable(error, "api.example.com", "api.example.com:443", 30)
    assert failure.kind == "tls"
    assert failure.message == "certificate of api.example.com not accepted: self-signed certificate"


def test_a_server_that_speaks_no_tls_is_a_tls_handshake_failure():
    error = requests.exceptions.SSLError(ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER]"))
    failure = failures.unreachable(error, "127.0.0.1", "127.0.0.1:5672", 30)
    assert (failure.kind, failure.message) == ("tls", "TLS handshake with 127.0.0.1:5672 failed")


def test_anything_else_is_other_and_names_the_target():
    failure = failures.unreachable(requests.ConnectionError("odd"), "h", "h:80", 30)
    assert (failure.kind, failure.message) == ("other", "could not reach h:80")
    reset = failures.unreachable(ConnectionResetError(104, "reset"), "h", "h:80", 30)
    assert (reset.kind, reset.message) == ("other", "connection to h:80 reset")


def test_status_guard_and_internal_sentences():
    assert failures.unexpected_status(503, [200, 204]) == Failure(
        "status", "HTTP 503; accepted: 200, 204"
    )
    guard = failures.refused_by_guard("metadata.internal: 169.254.169.254 is in denied network")
    assert guard.kind == "refused_by_guard" and guard.message.startswith("refused by the outbound")
    internal = failures.internal(KeyError("url"))
    assert (internal.kind, internal.message, internal.detail) == (
        "other",
        "internal error: KeyError",
        "'url'",
    )


@pytest.mark.parametrize(
    ("url", "port", "expected"),
    [
        ("https://api.example.com/x", 443, ("api.example.com", "api.example.com:443")),
        ("http://api.example.com:8080/x", 80, ("api.example.com", "api.example.com:8080")),
        ("amqp://u:p@rabbit:5673/v", 5672, ("rabbit", "rabbit:5673")),
        ("http://h:notaport/", 80, ("h", "h:80")),
    ],
)
def test_address_is_the_host_and_port_the_job_gave(url, port, expected):
    assert failures.address(url, port) == expected


def test_every_kind_made_is_a_documented_kind():
    made = {
        failures.unexpected_status(500, [200]).kind,
        failures.refused_by_guard("x").kind,
        failures.internal(ValueError()).kind,
    }
    assert made <= set(failures.KINDS)


def test_the_executor_classifies_a_closed_port_with_the_name_the_job_gave():
    delivery = Delivery(uuid.uuid4(), uuid.uuid4(), datetime.now(UTC), 1)
    result = HttpExecutor().execute({"url": "http://127.0.0.1:9/h", "method": "GET"}, delivery, 2)
    assert result.failure.kind == "connection_refused"
    assert result.error == "connection refused by 127.0.0.1:9"


def test_the_request_a_dead_letter_keeps_hides_secrets_and_shows_our_headers():
    delivery = Delivery(uuid.uuid4(), uuid.uuid4(), datetime(2030, 1, 1, tzinfo=UTC), 3)
    http_job = {
        "url": "https://user:pw-in-url@api.example.com/hook",
        "method": "POST",
        "headers": {"X-Api-Key": "k-123456", "X-Trace": "t"},
        "body": '{"a": 1}',
        "auth": {"type": "bearer", "bearer_token": "tok-123456"},
    }
    sent = request_sent("HTTP", http_job, None, delivery)
    assert sent["method"] == "POST" and sent["body"] == '{"a": 1}'
    assert sent["url"] == "https://user:***@api.example.com/hook"
    headers = sent["headers"]
    assert (headers["X-Api-Key"], headers["Authorization"]) == ("***", "***")
    assert headers["X-Trace"] == "t"
    assert headers["User-Agent"] == USER_AGENT
    assert headers["X-Scheduler-Delivery-Id"] == str(delivery.delivery_id)
    assert headers["X-Scheduler-Attempt"] == "3"
    assert "pw-in-url" not in str(sent) and "tok-123456" not in str(sent)


def test_the_request_of_an_amqp_job_names_exchange_and_key_without_the_password():
    delivery = Delivery(uuid.uuid4(), uuid.uuid4(), datetime(2030, 1, 1, tzinfo=UTC), 1)
    amqp_job = {
        "connection": "amqp://u:secret-pw@rabbit:5672/v",
        "exchange": "jobs",
        "routing_key": "jobs.run",
        "headers": {"x-kind": "t"},
        "body": "hello",
    }
    sent = request_sent("AMQP", None, amqp_job, delivery)
    assert sent["connection"] == "amqp://u:***@rabbit:5672/v"
    assert (sent["exchange"], sent["routing_key"], sent["body"]) == ("jobs", "jobs.run", "hello")
    assert sent["headers"]["x-kind"] == "t"
    assert sent["headers"]["X-Scheduler-Job-Id"] == str(delivery.job_id)


def test_user_agent_names_us_and_our_version():
    assert USER_AGENT.startswith("Scheduler/") and USER_AGENT[len("Scheduler/") :][0].isdigit()


def test_a_pika_timeout_is_a_timeout():
    error = pika.exceptions.AMQPConnectionError(TimeoutError("timed out"))
    assert failures.unreachable(error, "r", "r:5672", 5).kind == "timeout"
