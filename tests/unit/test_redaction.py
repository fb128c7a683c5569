"""Secrets in job payloads: app.redaction."""

import pytest

from app.redaction import (
    REDACTED,
    placeholders_left,
    redact_amqp,
    redact_http,
    redact_url,
    restore_amqp,
    restore_http,
)


def _http(auth=None):
    job = {"url": "https://example.com/hook", "method": "POST", "headers": {"X-A": "1"}}
    if auth is not None:
        job["auth"] = auth
    return job


def _amqp(connection):
    return {"connection": connection, "exchange": "events", "routing_key": "jobs.run"}


# redact_*


def test_placeholder_is_three_stars():
    assert REDACTED == "***"


def test_basic_auth_password_is_hidden_and_username_kept():
    shown = redact_http(_http({"type": "basic", "username": "alice", "password": "s3cret"}))
    assert shown["auth"] == {"type": "basic", "username": "alice", "password": "***"}


def test_bearer_token_is_hidden():
    shown = redact_http(_http({"type": "bearer", "bearer_token": "tok-123"}))
    assert shown["auth"] == {"type": "bearer", "bearer_token": "***"}


def test_http_job_without_secrets_is_shown_unchanged():
    job = _http({"type": "none"})
    assert redact_http(job) == job


def test_http_job_without_auth_is_shown_with_auth_none():
    shown = redact_http(_http())
    assert shown["auth"] == {"type": "none"}
    assert shown["url"] == "https://example.com/hook"


def test_redact_http_does_not_modify_the_stored_job():
    job = _http({"type": "basic", "username": "alice", "password": "s3cret"})
    redact_http(job)
    assert job["auth"]["password"] == "s3cret"


def test_password_in_an_amqp_url_is_hidden():
    shown = redact_amqp(_amqp("amqp://user:s3cret@rabbit.example:5672/vhost"))
    assert shown["connection"] == "amqp://user:***@rabbit.example:5672/vhost"
    assert shown["exchange"] == "events"
    assert shown["routing_key"] == "jobs.run"


def test_redact_amqp_does_not_modify_the_stored_job():
    job = _amqp("amqp://user:s3cret@rabbit.example/")
    redact_amqp(job)
    assert job["connection"] == "amqp://user:s3cret@rabbit.example/"


@pytest.mark.parametrize(
    "url",
    [
        "amqp://rabbit.example:5672/",
        "amqp://user@rabbit.example/",
        "amqps://rabbit.example/vhost?heartbeat=30",
        "https://example.com/path",
    ],
)
def test_url_without_password_is_unchanged(url):
    assert redact_url(url) == url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://u:p@h/", "amqp://u:***@h/"),
        ("amqps://u:p@h:5671/v?heartbeat=30", "amqps://u:***@h:5671/v?heartbeat=30"),
        ("amqp://:p@h/", "amqp://:***@h/"),
        ("amqp://u:p@[::1]:5672/", "amqp://u:***@[::1]:5672/"),
    ],
)
def test_url_password_is_replaced_and_the_rest_kept(url, shown):
    assert redact_url(url) == shown


def test_redacted_url_does_not_contain_the_password():
    assert "hunter2" not in redact_url("amqp://guest:hunter2@localhost:5672/")


def test_url_with_a_malformed_port_is_still_redacted_without_raising():
    shown = redact_url("amqp://user:s3cret@rabbit.example:abc/")
    assert "s3cret" not in shown


# restore_*


def test_redacted_basic_password_is_restored_from_the_stored_job():
    old = _http({"type": "basic", "username": "alice", "password": "s3cret"})
    new = _http({"type": "basic", "username": "alice", "password": "***"})
    assert restore_http(new, old)["auth"]["password"] == "s3cret"


def test_redacted_bearer_token_is_restored_from_the_stored_job():
    old = _http({"type": "bearer", "bearer_token": "tok-123"})
    new = _http({"type": "bearer", "bearer_token": "***"})
    assert restore_http(new, old)["auth"]["bearer_token"] == "tok-123"


def test_new_password_replaces_the_stored_one():
    old = _http({"type": "basic", "username": "alice", "password": "s3cret"})
    new = _http({"type": "basic", "username": "alice", "password": "n3w"})
    assert restore_http(new, old)["auth"]["password"] == "n3w"


def test_redacted_http_job_round_trips_to_the_stored_secret():
    old = _http({"type": "basic", "username": "alice", "password": "s3cret"})
    assert restore_http(redact_http(old), old) == old


def test_restore_http_without_a_stored_job_keeps_what_was_sent():
    new = _http({"type": "bearer", "bearer_token": "***"})
    assert restore_http(new, None)["auth"]["bearer_token"] == "***"


def test_redacted_amqp_password_is_restored_from_the_stored_url():
    old = _amqp("amqp://user:s3cret@rabbit.example:5672/vhost")
    new = _amqp("amqp://user:***@rabbit.example:5672/vhost")
    assert restore_amqp(new, old)["connection"] == "amqp://user:s3cret@rabbit.example:5672/vhost"


def test_redacted_amqp_job_round_trips_to_the_stored_url():
    old = _amqp("amqp://user:s3cret@rabbit.example:5672/vhost")
    assert restore_amqp(redact_amqp(old), old) == old


def test_new_amqp_password_replaces_the_stored_one():
    old = _amqp("amqp://user:s3cret@rabbit.example/")
    new = _amqp("amqp://user:n3w@rabbit.example/")
    assert restore_amqp(new, old)["connection"] == "amqp://user:n3w@rabbit.example/"


def test_redacted_amqp_url_without_a_stored_password_is_kept_as_sent():
    old = _amqp("amqp://rabbit.example/")
    new = _amqp("amqp://user:***@rabbit.example/")
    assert restore_amqp(new, old) == new
    assert restore_amqp(new, None) == new


def test_stored_amqp_password_is_not_sent_to_another_host_or_user():
    old = _amqp("amqp://user:s3cret@rabbit.example/")
    for url in ("amqp://user:***@attacker.example/", "amqp://other:***@rabbit.example/"):
        assert restore_amqp(_amqp(url), old)["connection"] == url


def test_placeholders_left_names_every_secret_still_hidden():
    http = _http({"type": "bearer", "bearer_token": "***"})
    amqp = _amqp("amqp://user:***@rabbit.example/")
    assert placeholders_left(http, None) == ["http_job.auth.bearer_token"]
    assert placeholders_left(None, amqp) == ["amqp_job.connection password"]
    assert placeholders_left(_http({"type": "basic", "username": "a", "password": "p"}), None) == []
