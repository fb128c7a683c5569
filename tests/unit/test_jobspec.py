"""Job definitions sent to the API: app.jobspec.parse_create / apply_update."""

import base64
from datetime import UTC, datetime, timedelta

import pytest

from app.errors import InvalidJob
from app.jobs.spec import apply_update, parse_create

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
TOMORROW = "2026-01-16T12:00:00Z"


def _http(**changes):
    return {"url": "https://example.com/hook", "method": "POST", **changes}


def _amqp(**changes):
    return {
        "connection": "amqp://user:s3cret@rabbit.example:5672/vhost",
        "exchange": "events",
        "routing_key": "jobs.run",
        **changes,
    }


def _http_body(**changes):
    return {"type": "HTTP", "http_job": _http(), "cron_schedule": "*/5 * * * *", **changes}


def _amqp_body(**changes):
    return {"type": "AMQP", "amqp_job": _amqp(), "cron_schedule": "*/5 * * * *", **changes}


def _refused(body, message, now=NOW):
    with pytest.raises(InvalidJob) as raised:
        parse_create(body, now)
    assert str(raised.value) == message


def _refused_matching(body, fragment, now=NOW):
    with pytest.raises(InvalidJob) as raised:
        parse_create(body, now)
    assert fragment in str(raised.value)


# parse_create: accepted jobs


def test_recurring_http_job_is_accepted():
    spec = parse_create(_http_body(tags=["billing"]), NOW)
    assert spec.type == "HTTP"
    assert spec.schedule.cron == "*/5 * * * *"
    assert spec.schedule.execute_at is None
    assert spec.schedule.timezone == "UTC"
    assert spec.http_job["url"] == "https://example.com/hook"
    assert spec.amqp_job is None
    assert spec.tags == ["billing"]


def test_one_off_amqp_job_is_accepted():
    spec = parse_create(
        {"type": "AMQP", "amqp_job": _amqp(), "execute_at": "2026-01-16T13:00:00+01:00"}, NOW
    )
    assert spec.type == "AMQP"
    assert spec.schedule.execute_at == datetime(2026, 1, 16, 12, 0, tzinfo=UTC)
    assert spec.schedule.cron is None
    assert spec.amqp_job["exchange"] == "events"
    assert spec.http_job is None


def test_http_method_is_upper_cased():
    assert parse_create(_http_body(http_job=_http(method="post")), NOW).http_job["method"] == "POST"


def test_cron_whitespace_is_normalised():
    spec = parse_create(_http_body(cron_schedule="  */5   * * * *  "), NOW)
    assert spec.schedule.cron == "*/5 * * * *"


def test_six_field_cron_and_descriptor_are_accepted():
    assert parse_create(_http_body(cron_schedule="*/5 * * * * *"), NOW).schedule.cron
    assert parse_create(_http_body(cron_schedule="@daily"), NOW).schedule.cron == "@daily"


def test_timezone_is_kept():
    spec = parse_create(_http_body(timezone="Europe/Berlin"), NOW)
    assert spec.schedule.timezone == "Europe/Berlin"


def test_duplicate_tags_are_kept_once_in_order():
    assert parse_create(_http_body(tags=["b", "a", "b"]), NOW).tags == ["b", "a"]


def test_missing_tags_mean_no_tags():
    assert parse_create(_http_body(), NOW).tags == []


def test_unknown_fields_are_ignored():
    spec = parse_create(_http_body(id="ignored", status="RUNNING", next_run=None), NOW)
    assert spec.type == "HTTP"


# parse_create: body and type


@pytest.mark.parametrize("body", [None, [], "job", 42])
def test_body_that_is_not_an_object_is_refused(body):
    _refused(body, "request body must be a JSON object")


@pytest.mark.parametrize("kind", [None, "", "http", "SMTP", 1])
def test_type_must_be_http_or_amqp(kind):
    _refused(_http_body(type=kind), "job type must be either HTTP or AMQP")


def test_http_job_without_http_payload_is_refused():
    body = _http_body()
    del body["http_job"]
    _refused(body, "HTTP job must be defined")


def test_amqp_job_without_amqp_payload_is_refused():
    _refused(_amqp_body(amqp_job=None), "AMQP job must be defined")


def test_amqp_type_with_only_an_http_payload_is_refused():
    body = _http_body(type="AMQP")
    _refused(body, "AMQP job must be defined")


def test_job_with_both_payloads_is_refused():
    _refused(_http_body(amqp_job=_amqp()), "job cannot have both HTTP and AMQP fields defined")
    _refused(_amqp_body(http_job=_http()), "job cannot have both HTTP and AMQP fields defined")


# parse_create: schedule


def test_job_with_neither_execute_at_nor_cron_is_refused():
    body = _http_body()
    del body["cron_schedule"]
    _refused(body, "job must have only one of execute_at and cron_schedule defined")


def test_job_with_both_execute_at_and_cron_is_refused():
    _refused(
        _http_body(execute_at=TOMORROW),
        "job must have only one of execute_at and cron_schedule defined",
    )


@pytest.mark.parametrize(
    "at", ["2026-01-15T12:00:00Z", "2026-01-15T11:59:59Z", "2020-01-01T00:00:00Z"]
)
def test_execute_at_not_in_the_future_is_refused(at):
    _refused(_http_body(cron_schedule=None, execute_at=at), "execute_at must be in the future")


def test_execute_at_just_after_now_is_accepted():
    spec = parse_create(_http_body(cron_schedule=None, execute_at="2026-01-15T12:00:01Z"), NOW)
    assert spec.schedule.execute_at == NOW + timedelta(seconds=1)


@pytest.mark.parametrize("at", ["2026-01-16T12:00:00", "2026-01-16"])
def test_execute_at_without_offset_is_refused(at):
    _refused(
        _http_body(cron_schedule=None, execute_at=at),
        "execute_at must carry a UTC offset, e.g. 2030-01-01T09:00:00Z",
    )


@pytest.mark.parametrize("at", ["tomorrow", "2026-13-01T00:00:00Z", "16/01/2026 12:00"])
def test_execute_at_that_is_not_a_timestamp_is_refused(at):
    _refused(
        _http_body(cron_schedule=None, execute_at=at),
        f"execute_at is not an RFC 3339 timestamp: {at!r}",
    )


def test_execute_at_that_is_not_a_string_is_refused():
    _refused(
        _http_body(cron_schedule=None, execute_at=1768564800),
        "execute_at must be an RFC 3339 timestamp string",
    )


@pytest.mark.parametrize(
    "cron", ["* * * *", "* * * * * * *", "61 * * * *", "@reboot", "every minute"]
)
def test_invalid_cron_is_refused(cron):
    _refused_matching(_http_body(cron_schedule=cron), "invalid cron schedule")


def test_cron_that_is_not_a_string_is_refused():
    _refused(_http_body(cron_schedule=5), "cron_schedule must be a string")


@pytest.mark.parametrize("name", ["Mars/Olympus", "Europe/Nowhere", "../../etc/passwd"])
def test_unknown_timezone_is_refused(name):
    _refused_matching(_http_body(timezone=name), "unknown time zone")


@pytest.mark.parametrize("name", ["", 5])
def test_timezone_that_is_not_a_name_is_refused(name):
    _refused(
        _http_body(timezone=name), "timezone must be an IANA time zone name such as Europe/Berlin"
    )


# parse_create: HTTP payload


@pytest.mark.parametrize("url", [None, ""])
def test_empty_http_url_is_refused(url):
    _refused(_http_body(http_job=_http(url=url)), "HTTP job URL cannot be empty")


@pytest.mark.parametrize("url", ["ftp://example.com/file", "file:///etc/passwd", "http://"])
def test_http_url_that_is_not_http_is_refused(url):
    _refused_matching(_http_body(http_job=_http(url=url)), "must be an http(s) URL with a host")


def test_http_url_that_is_not_a_string_is_refused():
    _refused(_http_body(http_job=_http(url=5)), "HTTP job URL must be a string")


@pytest.mark.parametrize("method", [None, ""])
def test_empty_http_method_is_refused(method):
    _refused(_http_body(http_job=_http(method=method)), "HTTP job method cannot be empty")


@pytest.mark.parametrize("method", ["FETCH", "CONNECT", "TRACE", "GETT"])
def test_unknown_http_method_is_refused(method):
    _refused(
        _http_body(http_job=_http(method=method)),
        "HTTP job method must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
    )


def test_http_payload_that_is_not_an_object_is_refused():
    _refused(_http_body(http_job="https://example.com"), "http_job must be a JSON object")


def test_http_header_with_an_invalid_name_is_refused():
    _refused(
        _http_body(http_job=_http(headers={"Bad Header": "x"})),
        "invalid HTTP header name 'Bad Header'",
    )


def test_http_header_with_a_non_string_value_is_refused():
    _refused(
        _http_body(http_job=_http(headers={"X-Count": 1})),
        "HTTP job headers must be an object of string values",
    )


def test_http_body_that_is_not_a_string_is_refused():
    _refused(_http_body(http_job=_http(body={"a": 1})), "HTTP job body must be a string")


@pytest.mark.parametrize("kind", ["digest", "", "Basic", 1])
def test_invalid_auth_type_is_refused(kind):
    _refused(
        _http_body(http_job=_http(auth={"type": kind})),
        "auth type must be either none, basic, or bearer",
    )


def test_basic_auth_without_username_is_refused():
    _refused(
        _http_body(http_job=_http(auth={"type": "basic", "password": "s3cret"})),
        "username must be defined for basic auth",
    )


def test_basic_auth_without_password_is_refused():
    _refused(
        _http_body(http_job=_http(auth={"type": "basic", "username": "alice", "password": ""})),
        "password must be defined for basic auth",
    )


def test_bearer_auth_without_token_is_refused():
    _refused(
        _http_body(http_job=_http(auth={"type": "bearer"})),
        "bearer token must be defined for bearer auth",
    )


def test_missing_auth_means_none():
    assert parse_create(_http_body(), NOW).http_job["auth"] == {"type": "none"}


def test_basic_and_bearer_auth_keep_only_their_own_fields():
    basic = {"type": "basic", "username": "alice", "password": "s3cret", "bearer_token": "t"}
    bearer = {"type": "bearer", "bearer_token": "tok", "password": "p"}
    assert parse_create(_http_body(http_job=_http(auth=basic)), NOW).http_job["auth"] == {
        "type": "basic",
        "username": "alice",
        "password": "s3cret",
    }
    assert parse_create(_http_body(http_job=_http(auth=bearer)), NOW).http_job["auth"] == {
        "type": "bearer",
        "bearer_token": "tok",
    }


def test_valid_response_codes_default_to_200():
    assert parse_create(_http_body(), NOW).http_job["valid_response_codes"] == [200]


def test_valid_response_codes_are_kept():
    http_job = _http(valid_response_codes=[200, 201, 204])
    spec = parse_create(_http_body(http_job=http_job), NOW)
    assert spec.http_job["valid_response_codes"] == [200, 201, 204]


@pytest.mark.parametrize("codes", [[99], [600], ["200"], [200.0], [True], "200", {"200": 1}])
def test_bad_valid_response_codes_are_refused(codes):
    _refused(
        _http_body(http_job=_http(valid_response_codes=codes)),
        "valid_response_codes must be an array of HTTP status codes",
    )


# parse_create: AMQP payload


@pytest.mark.parametrize("connection", [None, ""])
def test_amqp_connection_is_required(connection):
    _refused(
        _amqp_body(amqp_job=_amqp(connection=connection)),
        "connection must be defined for AMQP jobs",
    )


@pytest.mark.parametrize("connection", ["http://rabbit.example/", "amqp://", "rabbit.example"])
def test_amqp_connection_must_be_an_amqp_url(connection):
    _refused(
        _amqp_body(amqp_job=_amqp(connection=connection)),
        "connection must be an amqp:// or amqps:// URL with a host and valid port",
    )


def test_amqp_connection_with_a_malformed_port_is_refused():
    with pytest.raises(InvalidJob):
        parse_create(_amqp_body(amqp_job=_amqp(connection="amqp://u:p@rabbit:abc/")), NOW)


@pytest.mark.parametrize("exchange", [None, ""])
def test_amqp_exchange_is_required(exchange):
    _refused(
        _amqp_body(amqp_job=_amqp(exchange=exchange)), "exchange must be defined for AMQP jobs"
    )


@pytest.mark.parametrize("routing_key", [None, ""])
def test_amqp_routing_key_is_required(routing_key):
    _refused(
        _amqp_body(amqp_job=_amqp(routing_key=routing_key)),
        "routing key must be defined for AMQP jobs",
    )


@pytest.mark.parametrize("encoding", ["gzip", "BASE64", "", "utf-8"])
def test_body_encoding_must_be_null_or_base64(encoding):
    _refused(
        _amqp_body(amqp_job=_amqp(body="aGk=", body_encoding=encoding)),
        "body_encoding must be null or base64",
    )


@pytest.mark.parametrize("body", ["not base64!", "aGk", "a"])
def test_base64_body_must_decode(body):
    _refused(
        _amqp_body(amqp_job=_amqp(body=body, body_encoding="base64")),
        "body is not valid base64 although body_encoding is base64",
    )


def test_valid_base64_body_is_accepted():
    body = base64.b64encode(b"\x00\x01binary").decode()
    spec = parse_create(_amqp_body(amqp_job=_amqp(body=body, body_encoding="base64")), NOW)
    assert spec.amqp_job["body"] == body
    assert spec.amqp_job["body_encoding"] == "base64"


def test_amqp_headers_must_be_an_object():
    _refused(_amqp_body(amqp_job=_amqp(headers=["x"])), "AMQP job headers must be an object")


def test_amqp_optional_fields_get_defaults():
    amqp_job = parse_create(_amqp_body(), NOW).amqp_job
    assert amqp_job["headers"] == {}
    assert amqp_job["body"] == ""
    assert amqp_job["body_encoding"] is None
    assert amqp_job["content_type"] == ""


# parse_create: tags


@pytest.mark.parametrize("tags", ["billing", ["a", 1], ["a", ""], [None], {"a": 1}])
def test_tags_must_be_an_array_of_strings(tags):
    _refused(_http_body(tags=tags), "tags must be an array of non-empty strings")


def test_too_many_tags_are_refused():
    _refused(_http_body(tags=[f"t{i}" for i in range(33)]), "a job has at most 32 tags")


def test_too_long_tag_is_refused():
    _refused(_http_body(tags=["x" * 101]), "a tag has at most 100 characters")


# apply_update


def _stored_http_one_off(password="s3cret"):
    auth = {"type": "basic", "username": "alice", "password": password}
    body = {"type": "HTTP", "http_job": _http(auth=auth), "execute_at": TOMORROW, "tags": ["a"]}
    return parse_create(body, NOW)


def _stored_amqp_recurring():
    return parse_create(_amqp_body(tags=["a"]), NOW)


def test_update_with_an_empty_body_changes_nothing():
    spec = _stored_http_one_off()
    assert apply_update(spec, {}, NOW) == spec


def test_update_body_that_is_not_an_object_is_refused():
    with pytest.raises(InvalidJob, match="request body must be a JSON object"):
        apply_update(_stored_http_one_off(), ["tags"], NOW)


def test_setting_cron_schedule_replaces_execute_at():
    updated = apply_update(_stored_http_one_off(), {"cron_schedule": "0 * * * *"}, NOW)
    assert updated.schedule.cron == "0 * * * *"
    assert updated.schedule.execute_at is None


def test_setting_execute_at_replaces_cron_schedule():
    updated = apply_update(_stored_amqp_recurring(), {"execute_at": TOMORROW}, NOW)
    assert updated.schedule.execute_at == datetime(2026, 1, 16, 12, 0, tzinfo=UTC)
    assert updated.schedule.cron is None


def test_update_with_both_execute_at_and_cron_is_refused():
    with pytest.raises(InvalidJob, match="only one of execute_at and cron_schedule"):
        apply_update(
            _stored_amqp_recurring(), {"execute_at": TOMORROW, "cron_schedule": "@daily"}, NOW
        )


def test_update_with_invalid_cron_is_refused():
    with pytest.raises(InvalidJob, match="invalid cron schedule"):
        apply_update(_stored_amqp_recurring(), {"cron_schedule": "61 * * * *"}, NOW)


def test_update_with_unknown_timezone_is_refused():
    with pytest.raises(InvalidJob, match="unknown time zone"):
        apply_update(_stored_amqp_recurring(), {"timezone": "Mars/Olympus"}, NOW)


def test_update_changes_the_timezone():
    updated = apply_update(_stored_amqp_recurring(), {"timezone": "Europe/Berlin"}, NOW)
    assert updated.schedule.timezone == "Europe/Berlin"
    assert updated.schedule.cron == "*/5 * * * *"


def test_giving_http_to_an_amqp_job_with_type_http_changes_its_type():
    updated = apply_update(
        _stored_amqp_recurring(), {"type": "HTTP", "http": _http(method="GET")}, NOW
    )
    assert updated.type == "HTTP"
    assert updated.http_job["method"] == "GET"
    assert updated.amqp_job is None


def test_giving_amqp_to_an_http_job_with_type_amqp_changes_its_type():
    updated = apply_update(_stored_http_one_off(), {"type": "AMQP", "amqp": _amqp()}, NOW)
    assert updated.type == "AMQP"
    assert updated.amqp_job["exchange"] == "events"
    assert updated.http_job is None


def test_giving_http_without_changing_the_type_of_an_amqp_job_is_refused():
    with pytest.raises(InvalidJob, match="AMQP job must be defined"):
        apply_update(_stored_amqp_recurring(), {"http": _http()}, NOW)


def test_changing_the_type_without_a_payload_of_that_type_is_refused():
    with pytest.raises(InvalidJob, match="HTTP job must be defined"):
        apply_update(_stored_amqp_recurring(), {"type": "HTTP"}, NOW)


def test_update_with_both_http_and_amqp_is_refused():
    with pytest.raises(InvalidJob, match="both HTTP and AMQP"):
        apply_update(_stored_amqp_recurring(), {"http": _http(), "amqp": _amqp()}, NOW)


def test_update_with_an_invalid_type_is_refused():
    with pytest.raises(InvalidJob, match="job type must be either HTTP or AMQP"):
        apply_update(_stored_amqp_recurring(), {"type": "SMTP"}, NOW)


def test_update_with_an_invalid_http_payload_is_refused():
    with pytest.raises(InvalidJob, match="HTTP job URL cannot be empty"):
        apply_update(_stored_http_one_off(), {"http": _http(url="")}, NOW)


def test_redacted_basic_password_in_an_update_keeps_the_stored_password():
    auth = {"type": "basic", "username": "alice", "password": "***"}
    updated = apply_update(_stored_http_one_off(), {"http": _http(method="PUT", auth=auth)}, NOW)
    assert updated.http_job["auth"]["password"] == "s3cret"
    assert updated.http_job["method"] == "PUT"


def test_new_basic_password_in_an_update_replaces_the_stored_one():
    auth = {"type": "basic", "username": "alice", "password": "n3w"}
    updated = apply_update(_stored_http_one_off(), {"http": _http(auth=auth)}, NOW)
    assert updated.http_job["auth"]["password"] == "n3w"


def test_redacted_bearer_token_in_an_update_keeps_the_stored_token():
    stored = parse_create(
        _http_body(http_job=_http(auth={"type": "bearer", "bearer_token": "tok-123"})), NOW
    )
    auth = {"type": "bearer", "bearer_token": "***"}
    updated = apply_update(stored, {"http": _http(auth=auth)}, NOW)
    assert updated.http_job["auth"]["bearer_token"] == "tok-123"


def test_redacted_amqp_url_password_in_an_update_keeps_the_stored_password():
    connection = "amqp://user:***@rabbit.example:5672/vhost"
    updated = apply_update(
        _stored_amqp_recurring(), {"amqp": _amqp(connection=connection, routing_key="k2")}, NOW
    )
    assert updated.amqp_job["connection"] == "amqp://user:s3cret@rabbit.example:5672/vhost"
    assert updated.amqp_job["routing_key"] == "k2"


def test_updating_only_tags_of_a_one_off_job_whose_time_has_passed_is_accepted():
    spec = _stored_http_one_off()
    later = NOW + timedelta(days=3)  # execute_at (tomorrow from NOW) is now in the past
    updated = apply_update(spec, {"tags": ["b", "c"]}, later)
    assert updated.tags == ["b", "c"]
    assert updated.schedule.execute_at == spec.schedule.execute_at


def test_newly_given_execute_at_in_the_past_is_refused():
    with pytest.raises(InvalidJob, match="execute_at must be in the future"):
        apply_update(_stored_amqp_recurring(), {"execute_at": "2026-01-15T11:00:00Z"}, NOW)


def test_newly_given_execute_at_without_offset_is_refused():
    with pytest.raises(InvalidJob, match="must carry a UTC offset"):
        apply_update(_stored_amqp_recurring(), {"execute_at": "2026-01-16T12:00:00"}, NOW)


def test_update_with_tags_null_clears_the_tags():
    assert apply_update(_stored_http_one_off(), {"tags": None}, NOW).tags == []


def test_update_with_bad_tags_is_refused():
    with pytest.raises(InvalidJob, match="tags must be an array of non-empty strings"):
        apply_update(_stored_http_one_off(), {"tags": "a"}, NOW)


def test_update_does_not_modify_the_spec_it_was_given():
    spec = _stored_http_one_off()
    apply_update(spec, {"cron_schedule": "@daily", "tags": ["z"]}, NOW)
    assert spec.schedule.execute_at is not None
    assert spec.schedule.cron is None
    assert spec.tags == ["a"]


def test_a_placeholder_secret_with_nothing_stored_is_refused():
    body = _http_body(http_job=_http(auth={"type": "bearer", "bearer_token": "***"}))
    _refused_matching(body, "http_job.auth.bearer_token is the redaction placeholder")


def test_a_null_timezone_means_utc():
    assert parse_create(_http_body(timezone=None), NOW).schedule.timezone == "UTC"


def test_a_cron_schedule_that_never_fires_is_refused():
    _refused(
        _http_body(execute_at=None, cron_schedule="0 0 30 2 *"),
        "cron schedule '0 0 30 2 *' never fires",
    )


def test_resending_the_stored_past_execute_at_is_accepted():
    spec = _stored_http_one_off()
    later = spec.schedule.execute_at + timedelta(days=2)
    body = {"execute_at": spec.schedule.execute_at.isoformat(), "tags": ["b"]}
    assert apply_update(spec, body, later).tags == ["b"]
