"""JSON Schemas of what the API accepts and answers.

The request schemas are enforced: once app/jobs/spec.py has validated a body (with
the reference's messages), the body must also satisfy its schema here, so what
the API accepts never exceeds what /openapi.json documents. The same dicts are
published in /openapi.json (api/openapi.py), and the fuzzing test checks every
answer against the response schemas.
"""

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from app.callbacks import EVENTS as CALLBACK_EVENTS
from app.errors import InvalidJob
from app.failures import KINDS as ERROR_KINDS
from app.timing.schedule import OVERLAP_POLICIES


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def _list_of(name: str, item: dict) -> dict:
    """An answer holding one list, under `name`: {"executions": [...]}."""
    return {
        "type": "object",
        "required": [name],
        "properties": {name: {"type": "array", "items": item}},
    }


# The values the contract names; app/jobs/spec.py and app/jobs/bulk.py check by them.
JOB_TYPES = ("HTTP", "AMQP")
STATUSES = ("RUNNING", "STOPPED")
BULK_ACTIONS = ("pause", "resume", "delete", "run")
BULK_MAX_JOBS = 10_000  # jobs one bulk call acts on
BULK_SHOWN_IDS = 1000  # of those, the ids its answer lists

STRING = {"type": "string"}
UUID = {"type": "string", "format": "uuid"}
TIMESTAMP = {"type": "string", "format": "date-time", "description": "RFC 3339 with an offset"}
DURATION = {"type": "string", "description": "Go-style duration: 500ms, 10s, 1m, 1h30m, 30d"}
NAME = {
    "type": "string",
    "pattern": "^[A-Za-z0-9._:/-]{1,200}$",
    "description": "unique: what PUT /v1/jobs/by-name/{name} registers the job by",
}
FLOW_KEY = {
    "type": "string",
    "pattern": "^[A-Za-z0-9._~:@-]{1,200}$",
    "description": 'shares limits with the jobs naming it; "host:" keys on the target host',
}
STRING_MAP = {"type": "object", "additionalProperties": STRING}

AUTH = {
    "type": "object",
    "properties": {
        "type": {"enum": ["none", "basic", "bearer"]},
        "username": _nullable(STRING),
        "password": _nullable(STRING),
        "bearer_token": _nullable(STRING),
    },
}

HTTP_JOB = {
    "type": "object",
    "properties": {
        "url": STRING,
        "method": STRING,
        "headers": _nullable(STRING_MAP),
        "secret_headers": _nullable({"type": "array", "items": STRING}),
        "body": _nullable(STRING),
        "valid_response_codes": _nullable({"type": "array", "items": {"type": "integer"}}),
        "auth": _nullable(AUTH),
        "follow_redirects": {"type": "boolean"},
    },
}

AMQP_JOB = {
    "type": "object",
    "properties": {
        "connection": STRING,
        "exchange": STRING,
        "routing_key": STRING,
        "headers": _nullable({"type": "object"}),
        "body": _nullable(STRING),
        "body_encoding": {"enum": [None, "base64"]},
        "content_type": _nullable(STRING),
    },
}

RETRY_POLICY = {
    "type": "object",
    "properties": {
        "max_attempts": _nullable({"type": "integer", "minimum": 1, "maximum": 20}),
        "min_backoff": _nullable(DURATION),
        "max_backoff": _nullable(DURATION),
    },
}

CALLBACK = {
    "type": "object",
    "description": "POSTed a JSON event after an execution (docs/api.md, Callbacks)",
    "properties": {
        "url": STRING,
        "headers": _nullable(STRING_MAP),
        "secret_headers": _nullable({"type": "array", "items": STRING}),
    },
    "required": ["url"],
}

_SCHEDULE_FIELDS = {
    "cron_schedule": _nullable(STRING),
    "execute_at": _nullable(TIMESTAMP),
    "timezone": _nullable(STRING),
    "starts_at": _nullable(TIMESTAMP),
    "ends_at": _nullable(TIMESTAMP),
    "max_runs": _nullable({"type": "integer", "minimum": 1}),
    "jitter": _nullable(DURATION),
    "overlap_policy": _nullable({"enum": list(OVERLAP_POLICIES)}),
    "flow_key": _nullable(FLOW_KEY),
    "max_concurrent": _nullable({"type": "integer", "minimum": 1, "maximum": 100}),
    "name": _nullable(NAME),
    "misfire_grace": _nullable(DURATION),
    "retry_policy": _nullable(RETRY_POLICY),
    "timeout": _nullable(DURATION),
    "tags": _nullable({"type": "array", "items": STRING, "maxItems": 32}),
    "pause_after_failures": _nullable({"type": "integer", "minimum": 1, "maximum": 100}),
    "on_failure": _nullable(CALLBACK),
    "on_success": _nullable(CALLBACK),
}

JOB_CREATE = {
    "type": "object",
    "examples": [
        {
            "type": "HTTP",
            "cron_schedule": "*/5 * * * *",
            "timezone": "Europe/Berlin",
            "tags": ["billing"],
            "http_job": {"url": "https://example.com/hook", "method": "POST", "body": "{}"},
        }
    ],
    "properties": {
        "type": {"enum": list(JOB_TYPES)},
        "http_job": _nullable(HTTP_JOB),
        "amqp_job": _nullable(AMQP_JOB),
        **_SCHEDULE_FIELDS,
    },
}

JOB_UPDATE = {
    "type": "object",
    "examples": [{"tags": ["billing", "eu"]}, {"cron_schedule": "0 * * * *"}],
    "properties": {
        "type": _nullable({"enum": list(JOB_TYPES)}),
        "http": _nullable(HTTP_JOB),
        "amqp": _nullable(AMQP_JOB),
        "status": _nullable({"enum": list(STATUSES)}),
        **_SCHEDULE_FIELDS,
    },
}

PREVIEW = {
    "type": "object",
    "examples": [{"cron_schedule": "30 2 * * *", "timezone": "America/New_York", "count": 3}],
    "properties": {
        "cron_schedule": STRING,
        "timezone": _nullable(STRING),
        "count": _nullable({"type": "integer", "minimum": 1, "maximum": 100}),
        "starts_at": _nullable(TIMESTAMP),
        "ends_at": _nullable(TIMESTAMP),
        "jitter": _nullable(DURATION),
        "job_id": _nullable(UUID),
    },
    "required": ["cron_schedule"],
}

# Answers.

JOB = {
    "type": "object",
    "required": [
        "id",
        "type",
        "status",
        "execute_at",
        "cron_schedule",
        "tags",
        "next_run",
        "created_at",
        "updated_at",
    ],
    "properties": {
        "id": UUID,
        "name": _nullable(NAME),
        "version": {"type": "integer", "minimum": 1, "description": "also the answer's ETag"},
        "type": {"enum": list(JOB_TYPES)},
        "status": {"enum": list(STATUSES)},
        "execute_at": _nullable(TIMESTAMP),
        "cron_schedule": _nullable(STRING),
        "timezone": STRING,
        "starts_at": _nullable(TIMESTAMP),
        "ends_at": _nullable(TIMESTAMP),
        "max_runs": _nullable({"type": "integer"}),
        "jitter": _nullable(DURATION),
        "overlap_policy": {"enum": list(OVERLAP_POLICIES)},
        "flow_key": _nullable(FLOW_KEY),
        "max_concurrent": _nullable({"type": "integer"}),
        "runs": {"type": "integer"},
        "misfire_grace": _nullable(DURATION),
        "retry_policy": {
            "type": "object",
            "properties": {
                "max_attempts": {"type": "integer"},
                "min_backoff": DURATION,
                "max_backoff": DURATION,
            },
        },
        "timeout": _nullable(DURATION),
        "tags": {"type": "array", "items": STRING},
        "next_run": _nullable(TIMESTAMP),
        "next_runs": {"type": "array", "items": TIMESTAMP},
        "schedule_text": STRING,
        "last_execution": _nullable(
            {
                "type": "object",
                "required": ["status", "end_time"],
                "properties": {
                    "status": {"enum": ["SUCCESSFUL", "FAILED", "SKIPPED"]},
                    "end_time": TIMESTAMP,
                    "status_code": _nullable({"type": "integer"}),
                },
            }
        ),
        "run_requested_at": _nullable(TIMESTAMP),
        "pause_after_failures": _nullable({"type": "integer"}),
        "consecutive_failures": {"type": "integer"},
        "paused_reason": _nullable(STRING),
        "on_failure": _nullable(CALLBACK),
        "on_success": _nullable(CALLBACK),
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
        "http_job": HTTP_JOB,
        "amqp_job": AMQP_JOB,
    },
}

EXECUTION = {
    "type": "object",
    "required": ["id", "job_id", "start_time", "end_time", "success", "error_message"],
    "properties": {
        "id": {"type": "integer"},
        "job_id": UUID,
        "delivery_id": UUID,
        "scheduled_for": TIMESTAMP,
        "manual": {"type": "boolean"},
        "start_time": TIMESTAMP,
        "end_time": TIMESTAMP,
        "success": {"type": "boolean"},
        "status": {"enum": ["SUCCESSFUL", "FAILED", "SKIPPED"]},
        "attempts": {"type": "integer"},
        "error_message": _nullable(STRING),
        "status_code": _nullable({"type": "integer"}),
        "response_excerpt": _nullable(STRING),
        "lag_ms": _nullable({"type": "integer"}),
        "duration_ms": _nullable({"type": "integer"}),
        "error_kind": _nullable({"enum": list(ERROR_KINDS)}),
        "error_detail": _nullable(STRING),
        "redrive_of": _nullable({"type": "integer"}),
        "job_version": _nullable({"type": "integer"}),
    },
}

DEAD_LETTER = {
    "type": "object",
    "required": ["id", "job_id", "execution_id", "delivery_id", "scheduled_for", "failed_at"],
    "properties": {
        "id": {"type": "integer"},
        "job_id": UUID,
        "execution_id": {"type": "integer"},
        "delivery_id": UUID,
        "scheduled_for": TIMESTAMP,
        "failed_at": TIMESTAMP,
        "attempts": {"type": "integer"},
        "status_code": _nullable({"type": "integer"}),
        "error_kind": _nullable({"enum": list(ERROR_KINDS)}),
        "error_message": _nullable(STRING),
        "error_detail": _nullable(STRING),
        "request": _nullable({"type": "object", "description": "what was sent, secrets as ***"}),
        "redrive_of": _nullable({"type": "integer"}),
        "redrive_requested_at": _nullable(TIMESTAMP),
        "redriven_at": _nullable(TIMESTAMP),
        "redrive_execution_id": _nullable({"type": "integer"}),
    },
}
DEAD_LETTERS = _list_of("dead_letters", DEAD_LETTER)
# Which dead letters a bulk redrive or delete takes (app/jobs/dead_letters.py).
DEAD_LETTER_SELECTOR = {
    "type": "object",
    "examples": [{"ids": [12, 13]}, {"job_id": "6f1c2a7e-1d2b-4c3d-9e8f-0a1b2c3d4e5f"}],
    "properties": {
        "ids": {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 1000},
        "job_id": UUID,
        "from": TIMESTAMP,
        "to": TIMESTAMP,
    },
}
COUNT = {"type": "object", "additionalProperties": {"type": "integer"}}

CALLBACK_OUTCOME = {
    "type": "object",
    "properties": {
        "event": {"enum": list(CALLBACK_EVENTS)},
        "status": {"enum": ["PENDING", "DELIVERED", "FAILED"]},
        "attempts": {"type": "integer"},
        "status_code": _nullable({"type": "integer"}),
        "last_error": _nullable(STRING),
        "delivered_at": _nullable(TIMESTAMP),
        "next_attempt_at": _nullable(TIMESTAMP),
    },
}
ONE_EXECUTION = {
    **EXECUTION,
    "properties": {**EXECUTION["properties"], "callback": _nullable(CALLBACK_OUTCOME)},
}

EXECUTIONS = _list_of("executions", EXECUTION)
JOBS = {"type": "array", "items": JOB}
NEXT_RUNS = _list_of("next_runs", TIMESTAMP)
HEALTH = {"type": "object", "properties": {"status": STRING, "database": STRING}}
ERROR = {"type": "object", "required": ["error"], "properties": {"error": STRING}}
ACCESS = {
    "type": "object",
    "required": ["access"],
    "properties": {"access": {"enum": ["read", "write"]}},
}

FLOW_LIMITS = {
    "type": "object",
    "examples": [{"rate": 10, "period": "1s", "parallelism": 5}],
    "properties": {
        "rate": _nullable({"type": "integer", "minimum": 1, "maximum": 1000}),
        "period": _nullable(DURATION),
        "parallelism": _nullable({"type": "integer", "minimum": 1, "maximum": 1000}),
    },
}
_COUNT = {"type": "integer", "minimum": 0}
FLOW_CONTROL = {
    "type": "object",
    "required": ["key", "rate", "period", "parallelism", "in_flight", "waiting"],
    "properties": {
        "key": FLOW_KEY,
        **FLOW_LIMITS["properties"],
        "in_flight": {**_COUNT, "description": "claims held: attempts running, retries waiting"},
        "waiting": {**_COUNT, "description": "jobs due and held back by the limits"},
        "started_last_period": _COUNT,
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
    },
}
FLOW_CONTROLS = _list_of("flow_controls", FLOW_CONTROL)

# POST /v1/jobs/bulk (app/jobs/bulk.py checks what a schema cannot: a criterion).
BULK_REQUEST = {
    "type": "object",
    "required": ["action", "selector"],
    "additionalProperties": False,
    "examples": [{"action": "pause", "selector": {"tags": ["billing"]}}],
    "properties": {
        "action": {"enum": list(BULK_ACTIONS)},
        "selector": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {
                "ids": {"type": "array", "items": UUID, "maxItems": BULK_MAX_JOBS},
                "tags": {"type": "array", "items": STRING},
                "status": {"enum": list(STATUSES)},
                "type": {"enum": list(JOB_TYPES)},
                "name_prefix": NAME,
            },
        },
        "dry_run": {"type": "boolean"},
    },
}
BULK_RESULT = {
    "type": "object",
    "required": ["matched", "affected", "job_ids", "more", "dry_run"],
    "properties": {
        "matched": _COUNT,
        "affected": _COUNT,
        "job_ids": {"type": "array", "items": UUID, "maxItems": BULK_SHOWN_IDS},
        "more": {"type": "boolean", "description": "over 10,000 matched: call again"},
        "dry_run": {"type": "boolean"},
    },
}
AUDIT_ENTRY = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "at": TIMESTAMP,
        "action": STRING,
        "job_id": _nullable(UUID),
        "key": _nullable(STRING),
        "actor": {"type": "string", "description": "8 hex digits of the key's SHA-256"},
        "request_id": _nullable(STRING),
        "changes": _nullable({"type": "object"}),
    },
}
AUDIT_ENTRIES = _list_of("entries", AUDIT_ENTRY)

_VALIDATORS: dict[int, Draft202012Validator] = {}


def enforce(schema: dict, body: Any) -> None:
    """Raise InvalidJob if `body` does not satisfy `schema`."""
    validator = _VALIDATORS.setdefault(id(schema), Draft202012Validator(schema))
    # best_match looks inside anyOf (every nullable field is one) for the real reason.
    error = best_match(validator.iter_errors(body))
    if error is not None:
        where = ".".join(str(part) for part in error.absolute_path) or "body"
        raise InvalidJob(f"{where}: {error.message}")
