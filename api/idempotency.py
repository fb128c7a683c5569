"""Idempotency-Key: a client that sends a POST again, after a timeout say, gets
the first answer back instead of a second job or a second run.

On the routes whose resource says `idempotent = True`, a request with the
header runs in one transaction that also stores its answer, so the key is
either unused or holds the answer of what was done: a crash in between leaves
neither. A transaction-scoped advisory lock on (scope, key) tells a request
sent while the first still runs (409) from one sent after (the stored answer).

- the same key, method, path and body (as JSON, not byte for byte) within 24
  hours: the stored status and body, and `Idempotent-Replayed: true`, without
  acting again;
- the same key with another body (or route): 422;
- an error answer is not stored: nothing was done, and the key may be used again.

Keys are scoped by API key (its SHA-256; "anonymous" for an open API), so two
tenants' keys never meet.
"""

import hashlib
import json

import falcon

from api.requests import raw_body
from app.errors import InvalidJob
from app.retention import IDEMPOTENCY_KEPT_SECONDS

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY = 255

# Held until the transaction ends; another request with the key fails to take it.
_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended(%(scope)s || ':' || %(key)s, 0))"

_STORED = f"""
SELECT request_hash, status, response, etag FROM idempotency_keys
WHERE scope = %(scope)s AND key = %(key)s
  AND created_at > now() - make_interval(secs => {IDEMPOTENCY_KEPT_SECONDS})
"""

# A key kept longer than that and not yet pruned is used afresh.
_STORE = """
INSERT INTO idempotency_keys (scope, key, request_hash, status, response, etag)
VALUES (%(scope)s, %(key)s, %(request_hash)s, %(status)s, %(response)s, %(etag)s)
ON CONFLICT (scope, key) DO UPDATE
SET request_hash = EXCLUDED.request_hash, status = EXCLUDED.status,
    response = EXCLUDED.response, etag = EXCLUDED.etag, created_at = now()
"""


def parse_key(value: str) -> str:
    """A key as a client may send one: 1..255 printable ASCII characters."""
    if not 1 <= len(value) <= MAX_KEY or not (value.isascii() and value.isprintable()):
        raise InvalidJob(f"{HEADER} must be 1 to {MAX_KEY} printable ASCII characters")
    return value


def request_hash(method: str, path: str, body: bytes) -> str:
    """What a key is bound to: the same key for another request is a client's bug.
    The body counts as the API reads it, so a client that sends the same JSON
    again, serialised with other spacing or key order, sends the same request."""
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(_as_read(body))
    return digest.hexdigest()


def _as_read(body: bytes) -> bytes:
    try:
        read = json.loads(body)
    except (ValueError, RecursionError):
        return body  # the resource refuses it, and a refusal is never kept
    return json.dumps(read, sort_keys=True, separators=(",", ":")).encode()


class _Held:
    """A keyed request's transaction and what its answer is stored under."""

    def __init__(self, transaction, params: dict):
        self.transaction = transaction
        self.params = params
        self.replayed = False


class Idempotency:
    """Middleware after the connection's: its transaction lives inside the
    request's borrowed connection."""

    def __init__(self, db, max_body: int):
        self.db = db
        self.max_body = max_body

    def process_resource(self, req, resp, resource, params) -> None:
        given = req.get_header(HEADER)
        if given is None or req.method != "POST" or not getattr(resource, "idempotent", False):
            return
        key = parse_key(given)
        body = raw_body(req, self.max_body)
        scope = req.context.key_digest
        held = _Held(
            self.db.atomic(),
            {"scope": scope, "key": key, "request_hash": request_hash(req.method, req.path, body)},
        )
        held.transaction.__enter__()
        req.context.idempotency = held
        (free,) = self.db.execute_sql(_LOCK, held.params).fetchone()
        if not free:
            raise falcon.HTTPConflict(
                description=f"a request with this {HEADER} is still in progress; "
                "send it again once it has finished to get its answer"
            )
        stored = self.db.execute_sql(_STORED, held.params).fetchone()
        if stored is None:
            return
        stored_hash, status, response, etag = stored
        if stored_hash != held.params["request_hash"]:
            raise falcon.HTTPUnprocessableEntity(
                description=f"this {HEADER} was used for another request "
                "(another route or body) in the last 24 hours: use a new key"
            )
        held.replayed = True
        resp.status = status
        resp.media = response
        if etag is not None:
            resp.set_header("ETag", etag)
        resp.set_header(REPLAYED, "true")
        resp.complete = True

    def process_response(self, req, resp, resource, req_succeeded: bool) -> None:
        held = getattr(req.context, "idempotency", None)
        if held is None:
            return
        commit = False
        try:
            if req_succeeded and resp.status_code < 300 and not held.replayed:
                answer = {
                    "status": resp.status_code,
                    "response": json.dumps(resp.media),
                    "etag": resp.get_header("ETag"),
                }
                self.db.execute_sql(_STORE, {**held.params, **answer})
                commit = True
        finally:
            # Nothing of a request that failed, was refused or replayed is kept.
            held.transaction.__exit__(None if commit else _NotKept, None, None)


class _NotKept(Exception):
    """What the transaction is told ended it, to roll it back."""
