"""Validation of job definitions sent to the API: pure, with `now` as an argument.

`parse_create(body, now)` and `apply_update(spec, body, now)` return a `JobSpec`
or raise `InvalidJob` with a message meant for the client. The rules and their
messages follow the reference scheduler; additions are noted where they occur.
Unknown fields are ignored, as the reference does, so that clients written for it
(or sending a job back as they received it) keep working.
"""

import base64
import binascii
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from app.errors import InvalidJob
from app.jobs.schemas import JOB_CREATE, JOB_TYPES, JOB_UPDATE, PREVIEW, STATUSES, enforce
from app.secrets.redaction import (
    CALLBACKS,
    REDACTED,
    placeholders_left,
    redact_url,
    restore_callback,
    restore_secrets,
)
from app.timing.durations import format_duration, parse_duration
from app.timing.retry import DEFAULT_POLICY, MAX_ATTEMPTS_LIMIT, MAX_BACKOFF_LIMIT, RetryPolicy
from app.timing.schedule import OVERLAP_POLICIES, Schedule, ScheduleError, check_cron, zone

AUTH_TYPES = ("none", "basic", "bearer")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MAX_TAGS = 32
MAX_TAG_LENGTH = 100
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


# Limits of the per-job options (seconds).
MAX_TIMEOUT = 300.0  # one attempt; Dramatiq's time limit of a message is 10 min
MAX_MISFIRE_GRACE = 365 * 86400.0
MAX_RUNS_LIMIT = 1_000_000_000
MAX_PAUSE_AFTER_FAILURES = 100
MAX_JITTER = 86400.0
MAX_CONCURRENT = 100
# Limits of a job's payload.
MAX_PAYLOAD_BODY = 256 * 1024  # bytes of an HTTP or AMQP body
MAX_HEADERS = 50
MAX_HEADER_VALUE = 8192  # characters


@dataclass(frozen=True)
class JobSpec:
    type: str
    schedule: Schedule
    http_job: dict | None = None
    amqp_job: dict | None = None
    tags: list[str] = field(default_factory=list)
    misfire_grace: float | None = None  # seconds; None: a late slot always runs
    retry_policy: RetryPolicy | None = None  # None: the default policy
    timeout: float | None = None  # seconds per attempt; None: the configured default
    pause_after_failures: int | None = None  # consecutive FAILED executions; None: never
    on_failure: dict | None = None  # callback: {"url", "headers"}
    on_success: dict | None = None
    flow_key: str | None = None  # whose limits its attempts count against
    name: str | None = None  # unique; PUT /v1/jobs/by-name/{name} registers it
    max_concurrent: int | None = None  # overlap_policy allow: executions at once (default 10)


def parse_create(body: Any, now: datetime) -> JobSpec:
    """A new job from a POST /v1/jobs body."""
    spec = _parsed(body)
    _check(spec, now, execute_at_changed=True)
    enforce(JOB_CREATE, body)
    return spec


def parse_replacement(body: Any, now: datetime, current: JobSpec) -> JobSpec:
    """The whole definition of a PUT /v1/jobs/by-name/{name} body, to replace
    `current`: read as a POST body, but `***` keeps a stored secret, and an
    execute_at sent as it is stored may lie in the past (a deploy registering a
    job again is not rescheduling it)."""
    spec = _with_secrets_of(_parsed(body), current)
    at = spec.schedule.execute_at
    _check(spec, now, execute_at_changed=at is not None and at != current.schedule.execute_at)
    enforce(JOB_CREATE, body)
    return spec


def _parsed(body: Any) -> JobSpec:
    body = _object(body, "request body")
    spec = JobSpec(
        type=_job_type(body.get("type")),
        schedule=Schedule(
            execute_at=parse_timestamp(body.get("execute_at"), "execute_at"),
            cron=_cron(body.get("cron_schedule")),
            timezone="UTC" if body.get("timezone") is None else _timezone(body["timezone"]),
            starts_at=parse_timestamp(body.get("starts_at"), "starts_at"),
            ends_at=parse_timestamp(body.get("ends_at"), "ends_at"),
            max_runs=_max_runs(body.get("max_runs")),
            jitter=_jitter(body.get("jitter")),
            overlap=_overlap(body.get("overlap_policy")),
        ),
        http_job=_http_job(body["http_job"]) if body.get("http_job") is not None else None,
        amqp_job=_amqp_job(body["amqp_job"]) if body.get("amqp_job") is not None else None,
        tags=_tags(body.get("tags")),
        **_options(body),
    )
    return _host_keyed(spec)


PREVIEW_LIMIT = 100


def parse_preview(body: Any) -> tuple[Schedule, int, uuid.UUID | None]:
    """(schedule, count, job id) from a POST /v1/schedules/preview body; with
    jitter, the job id whose offsets to show is needed."""
    body = _object(body, "request body")
    cron = _cron(body.get("cron_schedule"))
    if cron is None:
        raise InvalidJob("cron_schedule must be defined")
    schedule = Schedule(
        cron=cron,
        timezone="UTC" if body.get("timezone") is None else _timezone(body["timezone"]),
        starts_at=parse_timestamp(body.get("starts_at"), "starts_at"),
        ends_at=parse_timestamp(body.get("ends_at"), "ends_at"),
        jitter=_jitter(body.get("jitter")),
    )
    _check_window(schedule)
    count = body.get("count")
    count = 5 if count is None else integer_field(count, "count", 1, PREVIEW_LIMIT)
    job_id = parse_uuid(body.get("job_id"), "job_id")
    if schedule.jitter is not None and job_id is None:
        raise InvalidJob("jitter: give job_id too, as each job's offsets are its own")
    enforce(PREVIEW, body)
    return schedule, count, job_id


def parse_status(value: Any) -> str:
    if value not in STATUSES:
        raise InvalidJob("status must be either RUNNING or STOPPED")
    return value


def _options(body: dict) -> dict:
    """The per-job options present in `body` (null clears one)."""
    parsers = {
        "misfire_grace": lambda v: duration_field(v, "misfire_grace", MAX_MISFIRE_GRACE),
        "retry_policy": _retry_policy,
        "timeout": lambda v: duration_field(v, "timeout", MAX_TIMEOUT),
        "pause_after_failures": lambda v: integer_field(
            v, "pause_after_failures", 1, MAX_PAUSE_AFTER_FAILURES
        ),
        "on_failure": lambda v: _callback(v, "on_failure"),
        "on_success": lambda v: _callback(v, "on_success"),
        "flow_key": parse_flow_key,
        "name": parse_name,
        "max_concurrent": lambda v: integer_field(v, "max_concurrent", 1, MAX_CONCURRENT),
    }
    return {
        name: None if body[name] is None else parse(body[name])
        for name, parse in parsers.items()
        if name in body
    }


def apply_update(spec: JobSpec, body: Any, now: datetime) -> JobSpec:
    """`spec` after a PUT /v1/jobs/{id} partial update.

    Setting one of execute_at / cron_schedule replaces the other; giving `http`
    drops the AMQP payload and the other way round, as in the reference.
    """
    body = _object(body, "request body")
    changes: dict[str, Any] = {}
    schedule = spec.schedule
    if body.get("type") is not None:
        changes["type"] = _job_type(body["type"])
    if body.get("http") is not None:
        changes.update(http_job=_http_job(body["http"]), amqp_job=None)
    if body.get("amqp") is not None:
        changes.update(amqp_job=_amqp_job(body["amqp"]), http_job=None)
    if body.get("http") is not None and body.get("amqp") is not None:
        raise InvalidJob("job cannot have both HTTP and AMQP fields defined")
    if body.get("cron_schedule") is not None and body.get("execute_at") is not None:
        raise InvalidJob("job must have only one of execute_at and cron_schedule defined")
    if body.get("cron_schedule") is not None:
        schedule = replace(schedule, cron=_cron(body["cron_schedule"]), execute_at=None)
    if body.get("execute_at") is not None:
        # A one-off job has no window: switching to one drops the recurring limits.
        schedule = replace(
            schedule,
            execute_at=parse_timestamp(body["execute_at"], "execute_at"),
            cron=None,
            starts_at=None,
            ends_at=None,
            max_runs=None,
            jitter=None,
        )
    if body.get("timezone") is not None:
        schedule = replace(schedule, timezone=_timezone(body["timezone"]))
    for name in ("starts_at", "ends_at"):
        if name in body:
            schedule = replace(schedule, **{name: parse_timestamp(body[name], name)})
    if "max_runs" in body:
        schedule = replace(schedule, max_runs=_max_runs(body["max_runs"]))
    if "jitter" in body:
        schedule = replace(schedule, jitter=_jitter(body["jitter"]))
    if "overlap_policy" in body:
        schedule = replace(schedule, overlap=_overlap(body["overlap_policy"]))
    if "tags" in body:
        changes["tags"] = _tags(body["tags"])
    changes.update(_options(body))
    updated = _host_keyed(_with_secrets_of(replace(spec, schedule=schedule, **changes), spec))
    # Only a newly given time must be in the future: a client sending the job back
    # as it read it, with its past execute_at, is not rescheduling it.
    moved = schedule.execute_at is not None and schedule.execute_at != spec.schedule.execute_at
    _check(updated, now, execute_at_changed=moved)
    enforce(JOB_UPDATE, body)
    return updated


def _with_secrets_of(updated: JobSpec, spec: JobSpec) -> JobSpec:
    """`updated` with each `***` it holds replaced by the secret `spec` stores."""
    http_job, amqp_job = restore_secrets(
        updated.http_job, updated.amqp_job, spec.http_job, spec.amqp_job
    )
    callbacks = {
        name: restore_callback(getattr(updated, name), getattr(spec, name))
        for name in CALLBACKS
        if getattr(updated, name) is not None
    }
    return replace(updated, http_job=http_job, amqp_job=amqp_job, **callbacks)


def _check(spec: JobSpec, now: datetime, *, execute_at_changed: bool) -> None:
    if spec.type == "HTTP":
        if spec.http_job is None:
            raise InvalidJob("HTTP job must be defined")
        if spec.amqp_job is not None:
            raise InvalidJob("job cannot have both HTTP and AMQP fields defined")
    else:
        if spec.amqp_job is None:
            raise InvalidJob("AMQP job must be defined")
        if spec.http_job is not None:
            raise InvalidJob("job cannot have both HTTP and AMQP fields defined")
    schedule = spec.schedule
    if (schedule.execute_at is None) == (schedule.cron is None):
        raise InvalidJob("job must have only one of execute_at and cron_schedule defined")
    if execute_at_changed and schedule.execute_at is not None and schedule.execute_at <= now:
        raise InvalidJob("execute_at must be in the future")
    if spec.max_concurrent is not None and schedule.overlap != "allow":
        raise InvalidJob('max_concurrent applies with overlap_policy "allow" only')
    window = (schedule.starts_at, schedule.ends_at, schedule.max_runs, schedule.jitter)
    if schedule.cron is None and window != (None, None, None, None):
        raise InvalidJob("starts_at, ends_at, max_runs and jitter apply to recurring jobs only")
    _check_window(schedule)
    left = placeholders_left(spec.http_job, spec.amqp_job) + [
        f"{name}.{path.removeprefix('http.')}"
        for name in CALLBACKS
        if getattr(spec, name) is not None
        for path in placeholders_left({"method": "POST", **getattr(spec, name)}, None)
    ]
    if left:
        field_name = left[0].replace("http.", "http_job.", 1).replace("amqp.", "amqp_job.", 1)
        raise InvalidJob(
            f"{field_name} is the redaction placeholder {REDACTED!r}, but no secret is stored "
            "to keep: send the real value"
        )


_FLOW_KEY = re.compile(r"^[A-Za-z0-9._~:@-]{1,200}$")
_NAME = re.compile(r"^[A-Za-z0-9._:/-]{1,200}$")


def parse_name(value: Any) -> str:
    """A job's name: unique, what a deploy registers it by."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise InvalidJob("name must be 1 to 200 characters of letters, digits and . _ : / -")
    return value


HOST_KEY = "host:"


def parse_flow_key(value: Any) -> str:
    """A flow key: what jobs sharing limits name (app/flow_controls.py)."""
    if not isinstance(value, str) or not _FLOW_KEY.match(value):
        raise InvalidJob("flow_key must be 1 to 200 characters of letters, digits and . _ ~ : @ -")
    return value


def _host_keyed(spec: JobSpec) -> JobSpec:
    """`spec` with its flow key "host:" made "host:<its target's host>", and a
    "host:..." key checked against that host, which it claims to name."""
    key = spec.flow_key
    if key is None or not key.startswith(HOST_KEY):
        return spec
    target = spec.http_job["url"] if spec.http_job else (spec.amqp_job or {}).get("connection")
    if target is None:
        return spec  # refused by _check: no payload of the job's type
    host = _split(target if "://" in target else "https://" + target, "url").hostname
    if key == HOST_KEY:
        return replace(spec, flow_key=parse_flow_key(HOST_KEY + host))
    if key != HOST_KEY + host:
        raise InvalidJob(
            f"flow_key {key!r} names another host than the job's target {host!r}: "
            f'send "{HOST_KEY}" to key on the target\'s host'
        )
    return spec


def _check_window(schedule: Schedule) -> None:
    if schedule.starts_at and schedule.ends_at and schedule.ends_at <= schedule.starts_at:
        raise InvalidJob("ends_at must be after starts_at")


def _object(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidJob(f"{what} must be a JSON object")
    return value


def _string(value: Any, name: str, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise InvalidJob(f"{name} cannot be empty")
        return None if value is None else ""
    if not isinstance(value, str):
        raise InvalidJob(f"{name} must be a string")
    return value


def _job_type(value: Any) -> str:
    if value not in JOB_TYPES:
        raise InvalidJob("job type must be either HTTP or AMQP")
    return value


def parse_timestamp(value: Any, name: str) -> datetime | None:
    """An RFC 3339 timestamp with an offset, in UTC; None stays None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidJob(f"{name} must be an RFC 3339 timestamp string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidJob(f"{name} is not an RFC 3339 timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        raise InvalidJob(f"{name} must carry a UTC offset, e.g. 2030-01-01T09:00:00Z")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidJob(f"{name} is out of range: {value!r}") from None


def _overlap(value: Any) -> str:
    if value is None:
        return "skip"
    if value not in OVERLAP_POLICIES:
        raise InvalidJob(f"overlap_policy must be one of {', '.join(OVERLAP_POLICIES)}")
    return value


def _jitter(value: Any) -> float | None:
    return None if value is None else duration_field(value, "jitter", MAX_JITTER)


def parse_uuid(value: Any, name: str) -> uuid.UUID | None:
    """An id (a UUID string) in a body; None stays None."""
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return uuid.UUID(value)
    except ValueError:
        pass
    raise InvalidJob(f"{name} must be a job id (a UUID)")


def _max_runs(value: Any) -> int | None:
    return None if value is None else integer_field(value, "max_runs", 1, MAX_RUNS_LIMIT)


def integer_field(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidJob(f"{name} must be an integer from {low} to {high}")
    return value


def duration_field(value: Any, name: str, limit: float, minimum: float = 0.001) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as error:
        raise InvalidJob(f"{name}: {error}") from None
    if not minimum <= seconds <= limit:
        raise InvalidJob(
            f"{name} must be from {format_duration(minimum)} to {format_duration(limit)}"
        )
    return seconds


def _retry_policy(value: Any) -> RetryPolicy:
    value = _object(value, "retry_policy")
    default = DEFAULT_POLICY
    given = value.get("max_attempts")
    attempts = integer_field(
        default.max_attempts if given is None else given,
        "retry_policy.max_attempts",
        1,
        MAX_ATTEMPTS_LIMIT,
    )
    backoffs = {}
    for name in ("min_backoff", "max_backoff"):
        given = value.get(name)
        backoffs[name] = (
            getattr(default, name)
            if given is None
            else duration_field(given, f"retry_policy.{name}", MAX_BACKOFF_LIMIT, minimum=0)
        )
    if value.get("max_backoff") is None:  # the default cap gives way to a longer minimum
        backoffs["max_backoff"] = max(backoffs["max_backoff"], backoffs["min_backoff"])
    if backoffs["min_backoff"] > backoffs["max_backoff"]:
        raise InvalidJob("retry_policy.min_backoff must not exceed retry_policy.max_backoff")
    return RetryPolicy(max_attempts=attempts, **backoffs)


def _cron(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidJob("cron_schedule must be a string")
    expression = " ".join(value.split())
    try:
        check_cron(expression)
    except ScheduleError as error:
        raise InvalidJob(str(error)) from None
    return expression


def _timezone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidJob("timezone must be an IANA time zone name such as Europe/Berlin")
    try:
        zone(value)
    except ScheduleError as error:
        raise InvalidJob(f"timezone: {error}") from None
    return value


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(tag, str) and tag for tag in value):
        raise InvalidJob("tags must be an array of non-empty strings")
    if len(value) > MAX_TAGS:
        raise InvalidJob(f"a job has at most {MAX_TAGS} tags")
    if any(len(tag) > MAX_TAG_LENGTH for tag in value):
        raise InvalidJob(f"a tag has at most {MAX_TAG_LENGTH} characters")
    return list(dict.fromkeys(value))


def _string_map(value: Any, name: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidJob(f"{name} must be an object of string values")
    _bounded_headers(value, name)
    return value


def _bounded_headers(headers: dict, name: str) -> None:
    if len(headers) > MAX_HEADERS:
        raise InvalidJob(f"{name}: at most {MAX_HEADERS} headers")
    if any(len(str(value)) > MAX_HEADER_VALUE for value in headers.values()):
        raise InvalidJob(f"{name}: a value has at most {MAX_HEADER_VALUE} characters")


def _split(url: str, name: str):
    try:
        return urlsplit(url)
    except ValueError as error:  # e.g. an unclosed IPv6 bracket
        raise InvalidJob(f"{name} is not a valid URL: {error}") from None


def _port_ok(parts) -> bool:
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number in range)
    except ValueError:
        return False
    return True


def _http_job(value: Any) -> dict:
    value = _object(value, "http_job")
    url = _url(value.get("url"), "HTTP job URL")
    method = _string(value.get("method"), "HTTP job method")
    if not method:
        raise InvalidJob("HTTP job method cannot be empty")
    if method.upper() not in HTTP_METHODS:
        raise InvalidJob(f"HTTP job method must be one of {', '.join(HTTP_METHODS)}")
    headers = _string_map(value.get("headers"), "HTTP job headers")
    bad = [name for name in headers if not _HEADER_NAME.match(name)]
    if bad:
        raise InvalidJob(f"invalid HTTP header name {bad[0]!r}")
    codes = value.get("valid_response_codes")
    if codes is None or codes == []:
        codes = [200]
    if not isinstance(codes, list) or not all(
        isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599
        for code in codes
    ):
        raise InvalidJob("valid_response_codes must be an array of HTTP status codes")
    secret_headers = _secret_headers(value.get("secret_headers"), "secret_headers")
    follow = value.get("follow_redirects", False)
    if not isinstance(follow, bool):
        raise InvalidJob("follow_redirects must be true or false")
    body = _string(value.get("body"), "HTTP job body")
    _bounded_body(body, "HTTP job body")
    return {
        "url": url,
        "method": method.upper(),
        "headers": headers,
        "secret_headers": secret_headers,
        "body": body,
        "valid_response_codes": codes,
        "auth": _auth(value.get("auth")),
        "follow_redirects": follow,
    }


def _url(value: Any, name: str) -> str:
    """An http(s) URL with a host and a valid port (no scheme: https)."""
    url = _string(value, name)
    if not url:
        raise InvalidJob(f"{name} cannot be empty")
    parts = _split(url if "://" in url else "https://" + url, name)
    if parts.scheme not in ("http", "https") or not parts.hostname or not _port_ok(parts):
        raise InvalidJob(
            f"{name} {redact_url(url)!r} must be an http(s) URL with a host and a valid port"
        )
    return url


def _secret_headers(value: Any, name: str) -> list[str]:
    """Names of headers whose values are secrets, beyond the usual ones."""
    value = value or []
    if not isinstance(value, list) or not all(
        isinstance(header, str) and _HEADER_NAME.match(header) for header in value
    ):
        raise InvalidJob(f"{name} must be an array of header names")
    return value


def _callback(value: Any, name: str) -> dict:
    """A callback: where to POST (checked by the outbound guard when sent), with
    which headers."""
    value = _object(value, name)
    headers = _string_map(value.get("headers"), f"{name}.headers")
    bad = [header for header in headers if not _HEADER_NAME.match(header)]
    if bad:
        raise InvalidJob(f"{name}.headers: invalid header name {bad[0]!r}")
    callback = {"url": _url(value.get("url"), f"{name}.url"), "headers": headers}
    secret = _secret_headers(value.get("secret_headers"), f"{name}.secret_headers")
    return {**callback, "secret_headers": secret} if secret else callback


def _bounded_body(body: str | None, name: str) -> None:
    if body is not None and len(body.encode()) > MAX_PAYLOAD_BODY:
        raise InvalidJob(f"{name} is over {MAX_PAYLOAD_BODY} bytes")


def _auth(value: Any) -> dict:
    # The reference rejects a missing auth object; "none" is what such a client means.
    if value is None:
        return {"type": "none"}
    value = _object(value, "auth")
    kind = value.get("type")
    if kind not in AUTH_TYPES:
        raise InvalidJob("auth type must be either none, basic, or bearer")
    if kind == "basic":
        username = _string(value.get("username"), "username")
        password = _string(value.get("password"), "password")
        if not username:
            raise InvalidJob("username must be defined for basic auth")
        if not password:
            raise InvalidJob("password must be defined for basic auth")
        return {"type": kind, "username": username, "password": password}
    if kind == "bearer":
        token = _string(value.get("bearer_token"), "bearer_token")
        if not token:
            raise InvalidJob("bearer token must be defined for bearer auth")
        return {"type": kind, "bearer_token": token}
    return {"type": kind}


def _amqp_job(value: Any) -> dict:
    value = _object(value, "amqp_job")
    connection = _string(value.get("connection"), "AMQP connection")
    if not connection:
        raise InvalidJob("connection must be defined for AMQP jobs")
    parts = _split(connection, "connection")
    if parts.scheme not in ("amqp", "amqps") or not parts.hostname or not _port_ok(parts):
        raise InvalidJob("connection must be an amqp:// or amqps:// URL with a host and valid port")
    if not _string(value.get("exchange"), "exchange"):
        raise InvalidJob("exchange must be defined for AMQP jobs")
    if not _string(value.get("routing_key"), "routing key"):
        raise InvalidJob("routing key must be defined for AMQP jobs")
    headers = value.get("headers") or {}
    if not isinstance(headers, dict):
        raise InvalidJob("AMQP job headers must be an object")
    _bounded_headers(headers, "AMQP job headers")
    body = _string(value.get("body"), "AMQP job body") or ""
    _bounded_body(body, "AMQP job body")
    encoding = value.get("body_encoding")
    if encoding not in (None, "base64"):
        raise InvalidJob("body_encoding must be null or base64")
    if encoding == "base64":
        try:
            base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidJob("body is not valid base64 although body_encoding is base64") from None
    return {
        "connection": connection,
        "exchange": value["exchange"],
        "routing_key": value["routing_key"],
        "headers": headers,
        "body": body,
        "body_encoding": encoding,
        "content_type": _string(value.get("content_type"), "content_type") or "",
    }
