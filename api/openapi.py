"""GET /openapi.json: the API described from the schemas that validate it (app/jobs/schemas.py)."""

from app.audit import ACTIONS
from app.jobs import schemas
from app.jobs.spec import JOB_TYPES, STATUSES
from app.jobs.store import EXECUTION_STATUSES

_JSON = "application/json"


def _body(schema: dict, description: str, links: dict | None = None) -> dict:
    answer = {"description": description, "content": {_JSON: {"schema": schema}}}
    if links:
        answer["links"] = links
    return answer


_ERROR = _body(schemas.ERROR, "error")
# Any operation may answer these, each with the JSON error body.
_ERRORS = {"400": _ERROR, "401": _ERROR, "413": _ERROR, "503": _ERROR}

_JOB_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
_EXECUTION_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
_FLOW_KEY = {"name": "key", "in": "path", "required": True, "schema": schemas.FLOW_KEY}

# Operations on one job; a created job links to each, so clients (and the fuzzer)
# can follow from POST /v1/jobs to a real id.
_JOB_OPERATIONS = (
    "getJob",
    "updateJob",
    "deleteJob",
    "pauseJob",
    "resumeJob",
    "runJob",
    "listExecutions",
)
_JOB_LINKS = {
    name: {"operationId": name, "parameters": {"id": "$response.body#/id"}}
    for name in _JOB_OPERATIONS
}


def _query(name: str, schema: dict, description: str) -> dict:
    return {"name": name, "in": "query", "schema": schema, "description": description}


def _limit(default: int) -> dict:
    size = {"type": "integer", "minimum": 1, "maximum": 1000}
    return _query("limit", size, f"page size (default {default})")


_PAGE = [
    _query("limit", {"type": "integer", "minimum": 0, "maximum": 1000}, "page size (default 10)"),
    _query("offset", {"type": "integer", "minimum": 0}, "items to skip"),
]


def _operation(
    operation_id: str, summary: str, responses: dict, *, parameters=(), body=None, target=None
) -> dict:
    """An operation; `target` is the path parameter of the job or execution it acts on."""
    operation = {
        "operationId": operation_id,
        "summary": summary,
        "parameters": [*([target] if target else []), *parameters],
        "responses": {**responses, **_ERRORS, **({"404": _ERROR} if target else {})},
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {_JSON: {"schema": body}}}
    return operation


# Operations that take an Idempotency-Key (api/idempotency.py).
_IDEMPOTENT = frozenset(
    {"createJob", "runJob", "bulkJobs", "redriveDeadLetters", "redriveDeadLetter"}
)
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "sent again with the same body within 24 h: the first answer, "
    "without acting again",
}
_REPLAYED = {
    "Idempotent-Replayed": {
        "description": "true: the stored answer to this key's first request",
        "schema": {"enum": ["true"]},
    }
}
_IDEMPOTENCY_ERRORS = {
    "409": _body(schemas.ERROR, "busy, or the key's first request is still in progress"),
    "422": _body(schemas.ERROR, "the key was used for another request"),
}


def document() -> dict:
    """The API's description; every operation that changes something may also
    answer 403, to a key that may only read."""
    described = _described()
    for operations in described["paths"].values():
        for method, operation in operations.items():
            if method != "get":
                operation["responses"]["403"] = _body(schemas.ERROR, "the key may only read")
            if operation["operationId"] in _IDEMPOTENT:
                operation["parameters"].append(_IDEMPOTENCY_KEY)
                # Answers are shared between operations: each keyed one gets a copy.
                operation["responses"] = {
                    **_IDEMPOTENCY_ERRORS,
                    **{
                        status: {**answer, "headers": {**answer.get("headers", {}), **_REPLAYED}}
                        if status.startswith("2")
                        else answer
                        for status, answer in operation["responses"].items()
                    },
                }
    return described


# A job's answer carries its version as ETag; a change may name the version it
# was made from.
_ETAG = {"ETag": {"description": 'the job\'s version, quoted: "3"', "schema": schemas.STRING}}
_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "schema": schemas.STRING,
    "description": 'the ETag read ("3"): 412 if the job has changed since',
}
_STALE = {"412": _body(schemas.ERROR, "the job is not at the If-Match version")}


def _described() -> dict:
    job = {**_body(schemas.JOB, "the job"), "headers": _ETAG}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Scheduler", "version": "1"},
        "components": {"securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}}},
        "security": [{"apiKey": []}],
        "paths": {
            "/v1/jobs": {
                "post": _operation(
                    "createJob",
                    "Create a job",
                    {
                        "201": {**_body(schemas.JOB, "created", _JOB_LINKS), "headers": _ETAG},
                        "409": _body(schemas.ERROR, "its name is taken"),
                    },
                    body=schemas.JOB_CREATE,
                ),
                "get": _operation(
                    "listJobs",
                    "List jobs, oldest first",
                    {"200": _body(schemas.JOBS, "jobs")},
                    parameters=[
                        *_PAGE,
                        _query(
                            "after",
                            {"type": "string", "format": "uuid"},
                            "keyset page: the jobs after this job id (the last of the page before)",
                        ),
                        {
                            **_query("tags", {"type": "array", "items": schemas.STRING}, "all of"),
                            "style": "form",
                            "explode": True,
                        },
                        _query("status", {"enum": list(STATUSES)}, "only this status"),
                        _query("type", {"enum": list(JOB_TYPES)}, "only this type"),
                        _query("name", schemas.NAME, "the job of this name"),
                    ],
                ),
            },
            "/v1/jobs/bulk": {
                "post": _operation(
                    "bulkJobs",
                    "Pause, resume, delete or run the jobs a selector takes (at most "
                    "10,000 a call); dry_run says what would change",
                    {"200": _body(schemas.BULK_RESULT, "what was taken and changed")},
                    body=schemas.BULK_REQUEST,
                )
            },
            "/v1/jobs/by-name/{name}": {
                "put": _operation(
                    "upsertJob",
                    "Create the job of this name, or replace its definition; the same "
                    "definition again changes nothing",
                    {
                        "201": {**_body(schemas.JOB, "created", _JOB_LINKS), "headers": _ETAG},
                        "200": job,
                        **_STALE,
                    },
                    body=schemas.JOB_CREATE,
                    parameters=[
                        {"name": "name", "in": "path", "required": True, "schema": schemas.NAME},
                        _IF_MATCH,
                        {
                            "name": "If-None-Match",
                            "in": "header",
                            "schema": {"enum": ["*"]},
                            "description": "*: only create; 412 if the name exists",
                        },
                    ],
                )
            },
            "/v1/jobs/{id}": {
                "get": _operation("getJob", "A job", {"200": job}, target=_JOB_ID),
                "put": _operation(
                    "updateJob",
                    "Update a job partially",
                    {"200": job, "409": _body(schemas.ERROR, "its new name is taken"), **_STALE},
                    body=schemas.JOB_UPDATE,
                    target=_JOB_ID,
                    parameters=[_IF_MATCH],
                ),
                "delete": _operation(
                    "deleteJob",
                    "Delete a job and its executions",
                    {"204": {"description": "deleted"}, **_STALE},
                    target=_JOB_ID,
                    parameters=[_IF_MATCH],
                ),
            },
            "/v1/jobs/{id}/pause": {
                "post": _operation(
                    "pauseJob",
                    "Pause a job",
                    {"200": job, **_STALE},
                    target=_JOB_ID,
                    parameters=[_IF_MATCH],
                )
            },
            "/v1/jobs/{id}/resume": {
                "post": _operation(
                    "resumeJob",
                    "Resume a job",
                    {"200": job, **_STALE},
                    target=_JOB_ID,
                    parameters=[_IF_MATCH],
                )
            },
            "/v1/jobs/{id}/run": {
                "post": _operation(
                    "runJob",
                    "Run a job now, outside its schedule",
                    {
                        "202": job,
                        "409": _body(schemas.ERROR, "executing, or redrives pending"),
                    },
                    target=_JOB_ID,
                )
            },
            "/v1/jobs/{id}/executions": {
                "get": _operation(
                    "listExecutions",
                    "A job's executions, newest first",
                    {"200": _body(schemas.EXECUTIONS, "executions")},
                    parameters=[
                        *_PAGE,
                        _query("failedOnly", {"type": "boolean"}, "only FAILED ones"),
                        _query("status", {"enum": list(EXECUTION_STATUSES)}, "only this status"),
                        _query("from", schemas.TIMESTAMP, "started at or after"),
                        _query("to", schemas.TIMESTAMP, "started before"),
                    ],
                    target=_JOB_ID,
                )
            },
            "/v1/executions/{id}": {
                "get": _operation(
                    "getExecution",
                    "An execution",
                    {"200": _body(schemas.ONE_EXECUTION, "the execution and its callback")},
                    target=_EXECUTION_ID,
                )
            },
            "/v1/schedules/preview": {
                "post": _operation(
                    "previewSchedule",
                    "The next fire times of a schedule; nothing is stored",
                    {"200": _body(schemas.NEXT_RUNS, "fire times in the schedule's zone")},
                    body=schemas.PREVIEW,
                )
            },
            "/v1/dead-letters": {
                "get": _operation(
                    "listDeadLetters",
                    "Dead letters, newest first",
                    {"200": _body(schemas.DEAD_LETTERS, "dead letters")},
                    parameters=[
                        _limit(20),
                        _query("after", {"type": "integer"}, "keyset page: older than this id"),
                        _query("job_id", {"type": "string", "format": "uuid"}, "of this job"),
                        _query("from", schemas.TIMESTAMP, "failed at or after"),
                        _query("to", schemas.TIMESTAMP, "failed before"),
                    ],
                ),
                "delete": _operation(
                    "deleteDeadLetters",
                    "Delete the dead letters a selector takes (not those pending a redrive)",
                    {"200": _body(schemas.COUNT, '{"deleted": n}')},
                    body=schemas.DEAD_LETTER_SELECTOR,
                ),
            },
            "/v1/dead-letters/redrive": {
                "post": _operation(
                    "redriveDeadLetters",
                    "Redrive the dead letters a selector takes",
                    {"202": _body(schemas.COUNT, '{"redriven": n}')},
                    body=schemas.DEAD_LETTER_SELECTOR,
                )
            },
            "/v1/dead-letters/{id}": {
                "get": _operation(
                    "getDeadLetter",
                    "A dead letter",
                    {"200": _body(schemas.DEAD_LETTER, "dead letter")},
                    target=_EXECUTION_ID,
                ),
                "delete": _operation(
                    "deleteDeadLetter",
                    "Delete a dead letter",
                    {
                        "204": {"description": "deleted"},
                        "409": _body(schemas.ERROR, "its redrive is pending"),
                    },
                    target=_EXECUTION_ID,
                ),
            },
            "/v1/dead-letters/{id}/redrive": {
                "post": _operation(
                    "redriveDeadLetter",
                    "Run a dead letter's delivery again, with its delivery id",
                    {
                        "202": _body(schemas.DEAD_LETTER, "the dead letter, its redrive pending"),
                        "409": _body(schemas.ERROR, "the job is executing, or already redriven"),
                    },
                    target=_EXECUTION_ID,
                )
            },
            "/v1/flow-controls": {
                "get": _operation(
                    "listFlowControls",
                    "Flow keys with limits, in key order, with what they hold back now",
                    {"200": _body(schemas.FLOW_CONTROLS, "flow controls")},
                    parameters=[
                        _limit(100),
                        _query("after", schemas.FLOW_KEY, "keyset page: keys after this one"),
                    ],
                )
            },
            "/v1/flow-controls/{key}": {
                "get": _operation(
                    "getFlowControl",
                    "A flow key's limits and live figures",
                    {"200": _body(schemas.FLOW_CONTROL, "the flow control")},
                    target=_FLOW_KEY,
                ),
                "put": _operation(
                    "setFlowControl",
                    "Set the limits of the jobs naming a flow key",
                    {
                        "200": _body(schemas.FLOW_CONTROL, "limits replaced"),
                        "201": _body(schemas.FLOW_CONTROL, "limits set where there were none"),
                    },
                    body=schemas.FLOW_LIMITS,
                    parameters=[_FLOW_KEY],
                ),
                "delete": _operation(
                    "deleteFlowControl",
                    "Lift a flow key's limits",
                    {"204": {"description": "lifted"}},
                    target=_FLOW_KEY,
                ),
            },
            "/v1/audit": {
                "get": _operation(
                    "listAudit",
                    "Changes made through the API, newest first",
                    {"200": _body(schemas.AUDIT_ENTRIES, "audit entries")},
                    parameters=[
                        _limit(50),
                        _query("after", {"type": "integer"}, "keyset page: older than this id"),
                        _query("job_id", {"type": "string", "format": "uuid"}, "of this job"),
                        _query("action", {"enum": list(ACTIONS)}, "only this action"),
                        _query("from", schemas.TIMESTAMP, "at or after"),
                        _query("to", schemas.TIMESTAMP, "before"),
                    ],
                )
            },
            "/v1/access": {
                "get": _operation(
                    "getAccess",
                    "What the API key presented may do: read (GET only) or write",
                    {"200": _body(schemas.ACCESS, '{"access": "read"} or "write"')},
                )
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness: 200 when the database answers",
                    "security": [],
                    "responses": {
                        "200": _body(schemas.HEALTH, "healthy"),
                        "503": _body(schemas.HEALTH, "the database does not answer"),
                    },
                }
            },
        },
    }


class OpenApiResource:
    def __init__(self):
        self.document = document()

    def on_get(self, req, resp):
        resp.media = self.document
