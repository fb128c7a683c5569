"""Secrets in job payloads: app.redaction."""

import copy

import pytest

from app.secrets.redaction import (
    REDACTED,
    merge_secrets,
    placeholders_left,
    redact_amqp,
    redact_http,
    redact_url,
    restore_secrets,
    scrub,
    split_secrets,
)


def _http(auth=None, url="https://example.com/hook", headers=None, **fields):
    job = {
        "url": url,
        "method": "POST",
        "headers": {"X-A": "1"} if headers is None else headers,
        **fields,
    }
    if auth is not None:
        job["auth"] = auth
    return job


def _amqp(connection):
    return {"connection": connection, "exchange": "events", "routing_key": "jobs.run"}


def _basic(password="s3cret", username="alice"):
    return {"type": "basic", "username": username, "password": password}


# redact_*


def test_placeholder_is_three_stars():
    assert REDACTED == "***"


def test_basic_auth_password_is_hidden_and_username_kept():
    shown = redact_http(_http(_basic()))
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
    job = _http(_basic(), headers={"Cookie": "session=abc"})
    before = copy.deepcopy(job)
    redact_http(job)
    assert job == before


@pytest.mark.parametrize("name", ["Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key"])
def test_a_sensitive_header_value_is_hidden(name):
    shown = redact_http(_http(headers={name: "value-Hx81", "X-Trace": "visible"}))
    assert shown["headers"] == {name: "***", "X-Trace": "visible"}


@pytest.mark.parametrize("name", ["authorization", "COOKIE", "x-API-key", "proxy-AUTHORIZATION"])
def test_sensitive_header_names_are_matched_whatever_their_case(name):
    shown = redact_http(_http(headers={name: "value-Hx81"}))
    assert shown["headers"] == {name: "***"}


def test_a_header_listed_in_secret_headers_is_hidden_whatever_the_case():
    job = _http(
        headers={"X-Signature-Secret": "sig-Qa12", "X-Other": "plain"},
        secret_headers=["x-signature-SECRET"],
    )
    shown = redact_http(job)
    assert shown["headers"] == {"X-Signature-Secret": "***", "X-Other": "plain"}
    assert shown["secret_headers"] == ["x-signature-SECRET"]


def test_a_header_not_listed_as_secret_is_shown():
    shown = redact_http(_http(headers={"X-Signature-Secret": "sig-Qa12"}))
    assert shown["headers"] == {"X-Signature-Secret": "sig-Qa12"}


def test_password_in_an_http_url_is_hidden():
    shown = redact_http(_http(url="https://bob:url-pw-7@example.com:8443/hook?x=1"))
    assert shown["url"] == "https://bob:***@example.com:8443/hook?x=1"


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
        ("https://u:p@example.com/a@b", "https://u:***@example.com/a@b"),
    ],
)
def test_url_password_is_replaced_and_the_rest_kept(url, shown):
    assert redact_url(url) == shown


def test_redacted_url_does_not_contain_the_password():
    assert "hunter2" not in redact_url("amqp://guest:hunter2@localhost:5672/")


@pytest.mark.parametrize("port", ["abc", "99999", "-1", ""])
def test_url_with_a_malformed_port_is_still_redacted_without_raising(port):
    shown = redact_url(f"amqp://user:s3cret@rabbit.example:{port}/")
    assert shown == f"amqp://user:***@rabbit.example:{port}/"


def test_amqp_job_with_a_malformed_port_is_redacted_without_raising():
    shown = redact_amqp(_amqp("amqp://user:s3cret@rabbit.example:abc/"))
    assert "s3cret" not in shown["connection"]


# split_secrets / merge_secrets


def _every_secret_http():
    return _http(
        _basic("basic-pw"),
        url="https://bob:url-pw@example.com/hook",
        headers={
            "Authorization": "Token auth-hdr",
            "Cookie": "sid=cookie-val",
            "X-Sig": "sig-val",
            "X-Plain": "plain",
        },
        secret_headers=["X-Sig"],
    )


def test_split_secrets_returns_every_http_secret_by_its_path():
    _, _, secrets = split_secrets(_every_secret_http(), None)
    assert secrets == {
        "http.auth.password": "basic-pw",
        "http.headers.authorization": "Token auth-hdr",
        "http.headers.cookie": "sid=cookie-val",
        "http.headers.x-sig": "sig-val",
        "http.url": "url-pw",
    }


def test_split_secrets_names_a_bearer_token_by_its_path():
    _, _, secrets = split_secrets(_http({"type": "bearer", "bearer_token": "tok-1"}), None)
    assert secrets == {"http.auth.bearer_token": "tok-1"}


def test_split_secrets_names_an_amqp_url_password_by_its_path():
    _, amqp, secrets = split_secrets(None, _amqp("amqp://user:amqp-pw@rabbit.example/v"))
    assert secrets == {"amqp.connection": "amqp-pw"}
    assert amqp["connection"] == "amqp://user:***@rabbit.example/v"


def test_split_secrets_leaves_stars_in_every_secret_place():
    http, amqp, _ = split_secrets(_every_secret_http(), None)
    assert amqp is None
    assert http["auth"]["password"] == "***"
    assert http["url"] == "https://bob:***@example.com/hook"
    assert http["headers"] == {
        "Authorization": "***",
        "Cookie": "***",
        "X-Sig": "***",
        "X-Plain": "plain",
    }


def test_split_secrets_leaves_no_secret_value_in_the_payload():
    http, _, secrets = split_secrets(_every_secret_http(), None)
    for value in secrets.values():
        assert value not in repr(http)


def test_split_secrets_does_not_count_a_placeholder_as_a_secret():
    _, _, secrets = split_secrets(_http(_basic("***")), _amqp("amqp://user:***@rabbit.example/"))
    assert secrets == {}


def test_split_secrets_of_payloads_without_secrets_finds_none():
    http, amqp, secrets = split_secrets(_http({"type": "none"}), _amqp("amqp://h/"))
    assert secrets == {}
    assert http == _http({"type": "none"})
    assert amqp == _amqp("amqp://h/")


def test_merge_secrets_of_the_split_gives_back_the_original_http_payload():
    original = _every_secret_http()
    http, amqp, secrets = split_secrets(copy.deepcopy(original), None)
    assert merge_secrets(http, amqp, secrets) == (original, None)


def test_merge_secrets_of_the_split_gives_back_the_original_amqp_payload():
    original = _amqp("amqp://user:amqp-pw@rabbit.example:5672/v")
    http, amqp, secrets = split_secrets(None, copy.deepcopy(original))
    assert merge_secrets(http, amqp, secrets) == (None, original)


def test_merge_secrets_of_the_split_gives_back_a_bearer_payload():
    original = _http({"type": "bearer", "bearer_token": "tok-1"})
    http, amqp, secrets = split_secrets(copy.deepcopy(original), None)
    assert merge_secrets(http, amqp, secrets) == (original, None)


def test_merge_secrets_without_secrets_leaves_placeholders():
    http, _ = merge_secrets(_http(_basic("***")), None, {})
    assert http["auth"]["password"] == "***"


# restore_secrets


def test_redacted_basic_password_is_restored_from_the_stored_job():
    old = _http(_basic("s3cret"))
    new = _http(_basic("***"))
    assert restore_secrets(new, None, old, None)[0]["auth"]["password"] == "s3cret"


def test_redacted_bearer_token_is_restored_from_the_stored_job():
    old = _http({"type": "bearer", "bearer_token": "tok-123"})
    new = _http({"type": "bearer", "bearer_token": "***"})
    assert restore_secrets(new, None, old, None)[0]["auth"]["bearer_token"] == "tok-123"


def test_redacted_headers_and_url_password_are_restored_from_the_stored_job():
    old = _every_secret_http()
    new = redact_http(old)
    new["headers"]["X-Plain"] = "changed"
    restored, _ = restore_secrets(new, None, old, None)
    assert restored["headers"] == {**old["headers"], "X-Plain": "changed"}
    assert restored["url"] == old["url"]


def test_a_redacted_http_secret_is_kept_when_only_the_path_changes():
    old = _http(_basic("s3cret"))
    new = _http(_basic("***"), url="https://example.com/another/path")
    assert restore_secrets(new, None, old, None)[0]["auth"]["password"] == "s3cret"


def test_new_password_replaces_the_stored_one():
    old = _http(_basic("s3cret"))
    new = _http(_basic("n3w"))
    assert restore_secrets(new, None, old, None)[0]["auth"]["password"] == "n3w"


def test_a_new_header_value_replaces_the_stored_one():
    old = _http(headers={"Cookie": "old-cookie"})
    new = _http(headers={"Cookie": "new-cookie"})
    assert restore_secrets(new, None, old, None)[0]["headers"]["Cookie"] == "new-cookie"


def test_redacted_http_job_round_trips_to_the_stored_secret():
    old = _every_secret_http()
    assert restore_secrets(redact_http(old), None, old, None) == (old, None)


def test_restore_without_a_stored_job_keeps_what_was_sent():
    new = _http({"type": "bearer", "bearer_token": "***"})
    assert restore_secrets(new, None, None, None)[0]["auth"]["bearer_token"] == "***"


@pytest.mark.parametrize(
    "url",
    [
        "https://attacker.example/hook",
        "https://example.com:8443/hook",
        "https://mallory@example.com/hook",
    ],
    ids=["other-host", "other-port", "other-url-user"],
)
def test_a_stored_http_secret_is_not_given_to_another_host_or_url_user(url):
    old = _http(_basic("s3cret"), headers={"Cookie": "sid=1"})
    new = _http(_basic("***"), url=url, headers={"Cookie": "***"})
    restored, _ = restore_secrets(new, None, old, None)
    assert restored["auth"]["password"] == "***"
    assert restored["headers"]["Cookie"] == "***"


def test_a_stored_http_password_is_not_given_to_another_auth_username():
    old = _http(_basic("s3cret", username="alice"))
    new = _http(_basic("***", username="mallory"))
    assert restore_secrets(new, None, old, None)[0]["auth"]["password"] == "***"


def test_the_host_comparison_ignores_case():
    old = _http(_basic("s3cret"), url="https://Example.COM/hook")
    new = _http(_basic("***"), url="https://example.com/hook")
    assert restore_secrets(new, None, old, None)[0]["auth"]["password"] == "s3cret"


def test_redacted_amqp_password_is_restored_from_the_stored_url():
    old = _amqp("amqp://user:s3cret@rabbit.example:5672/vhost")
    new = _amqp("amqp://user:***@rabbit.example:5672/vhost")
    restored = restore_secrets(None, new, None, old)[1]
    assert restored["connection"] == "amqp://user:s3cret@rabbit.example:5672/vhost"


def test_redacted_amqp_job_round_trips_to_the_stored_url():
    old = _amqp("amqp://user:s3cret@rabbit.example:5672/vhost")
    assert restore_secrets(None, redact_amqp(old), None, old) == (None, old)


def test_new_amqp_password_replaces_the_stored_one():
    old = _amqp("amqp://user:s3cret@rabbit.example/")
    new = _amqp("amqp://user:n3w@rabbit.example/")
    restored = restore_secrets(None, new, None, old)[1]
    assert restored["connection"] == "amqp://user:n3w@rabbit.example/"


def test_redacted_amqp_url_without_a_stored_password_is_kept_as_sent():
    old = _amqp("amqp://rabbit.example/")
    new = _amqp("amqp://user:***@rabbit.example/")
    assert restore_secrets(None, new, None, old) == (None, new)
    assert restore_secrets(None, new, None, None) == (None, new)


@pytest.mark.parametrize(
    "url", ["amqp://user:***@attacker.example/", "amqp://other:***@rabbit.example/"]
)
def test_stored_amqp_password_is_not_sent_to_another_host_or_user(url):
    old = _amqp("amqp://user:s3cret@rabbit.example/")
    assert restore_secrets(None, _amqp(url), None, old)[1]["connection"] == url


# placeholders_left


def test_placeholders_left_names_every_secret_still_hidden():
    http = _http({"type": "bearer", "bearer_token": "***"}, headers={"Cookie": "***"})
    amqp = _amqp("amqp://user:***@rabbit.example/")
    assert placeholders_left(http, None) == ["http.auth.bearer_token", "http.headers.cookie"]
    assert placeholders_left(None, amqp) == ["amqp.connection"]
    assert placeholders_left(http, amqp) == [
        "amqp.connection",
        "http.auth.bearer_token",
        "http.headers.cookie",
    ]


def test_placeholders_left_is_empty_when_every_secret_is_given():
    assert placeholders_left(_every_secret_http(), None) == []
    assert placeholders_left(None, _amqp("amqp://user:pw@rabbit.example/")) == []
    assert placeholders_left(None, None) == []


def test_placeholders_left_after_a_refused_restore_names_the_secret():
    old = _http(_basic("s3cret"))
    new = _http(_basic("***"), url="https://attacker.example/")
    assert placeholders_left(*restore_secrets(new, None, old, None)) == ["http.auth.password"]


# scrub


def test_scrub_replaces_every_occurrence_of_every_secret():
    text = "401 from https://u:pw-Abc@h/ with token tok-Xyz; again tok-Xyz"
    assert scrub(text, {"http.url": "pw-Abc", "http.auth.bearer_token": "tok-Xyz"}) == (
        "401 from https://u:***@h/ with token ***; again ***"
    )


def test_scrub_replaces_a_longer_secret_before_a_shorter_one_inside_it():
    text = "value abcdef"
    assert scrub(text, {"a": "abc", "b": "abcdef"}) == "value ***"


def test_scrub_leaves_secrets_shorter_than_three_characters():
    assert scrub("a pw here", {"x": "pw", "y": ""}) == "a pw here"


def test_scrub_replaces_a_three_character_secret():
    assert scrub("a pwd here", {"x": "pwd"}) == "a *** here"


@pytest.mark.parametrize("text", [None, ""])
def test_scrub_leaves_none_and_empty_text_alone(text):
    assert scrub(text, {"x": "secret"}) == text


def test_scrub_without_secrets_leaves_the_text_alone():
    assert scrub("nothing to hide", {}) == "nothing to hide"
