"""Reading what a client sent: JSON bodies, ids and query parameters."""

import json
import uuid
from datetime import datetime

import falcon

from app.audit import ANONYMOUS, Actor
from app.errors import InvalidJob
from app.jobs.spec import parse_timestamp

MAX_LIMIT = 1000
DEFAULT_LIMIT = 10


def raw_body(req: falcon.Request, max_bytes: int) -> bytes:
    """The body's bytes, read once per request (an Idempotency-Key reads it before
    the resource does); a body over `max_bytes` is refused before it is read."""
    if getattr(req.context, "raw_body", None) is None:
        if req.content_length and req.content_length > max_bytes:
            raise falcon.HTTPContentTooLarge(description=f"body over {max_bytes} bytes")
        raw = req.bounded_stream.read(max_bytes + 1)
        if len(raw) > max_bytes:
            raise falcon.HTTPContentTooLarge(description=f"body over {max_bytes} bytes")
        req.context.raw_body = raw
    return req.context.raw_body


def json_body(req: falcon.Request, max_bytes: int):
    """The body as JSON whatever Content-Type says (curl -d sends a form type)."""
    raw = raw_body(req, max_bytes)
    if not raw.strip():
        raise InvalidJob("request body must be a JSON object")
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidJob("malformed JSON: nested too deeply") from None
    except ValueError as error:  # includes UnicodeDecodeError
        raise InvalidJob(f"malformed JSON: {error}") from None
    check_strings(body)
    return body


def _no_constant(name: str):
    # NaN and Infinity are not JSON, and PostgreSQL's jsonb refuses them.
    raise ValueError(f"{name} is not a JSON value")


def check_strings(value) -> None:
    """Refuse what PostgreSQL text cannot store: NUL characters and lone surrogates."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise InvalidJob("strings must not contain NUL (\\u0000) characters")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidJob("strings must be valid Unicode (no lone surrogates)") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def actor(req: falcon.Request) -> Actor:
    """Who makes the change a request asks for, as the audit log names them."""
    digest = req.context.key_digest
    return Actor(digest if digest == ANONYMOUS else digest[:8], req.context.request_id)


def job_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidJob(f"invalid job id {value!r}: expected a UUID") from None


def page(req: falcon.Request) -> tuple[int, int]:
    """(limit, offset); as in the reference a missing or zero limit means 10."""
    limit = _integer(req, "limit") or DEFAULT_LIMIT
    offset = _integer(req, "offset") or 0
    if limit > MAX_LIMIT:
        raise InvalidJob(f"limit must be at most {MAX_LIMIT}")
    return limit, offset


def keyset_limit(req: falcon.Request, default: int) -> int:
    """The page size of a list paged by `after` (1 to MAX_LIMIT; absent: `default`)."""
    limit = req.get_param_as_int("limit", min_value=1, max_value=MAX_LIMIT)
    return default if limit is None else limit


def execution_id(value: str, what: str = "execution id") -> int:
    if not (value.isascii() and value.isdigit()) or int(value) > 2**63 - 1:
        raise InvalidJob(f"invalid {what} {value!r}: expected a positive integer")
    return int(value)


def uuid_param(req: falcon.Request, name: str) -> uuid.UUID | None:
    """An optional query parameter holding a UUID."""
    value = req.get_param(name)
    if value is None or value == "":
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidJob(f"{name} must be a UUID") from None


def choice(req: falcon.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    """An optional query parameter that must be one of `allowed`."""
    value = req.get_param(name)
    if value is None or value == "":
        return None
    if value not in allowed:
        raise InvalidJob(f"{name} must be one of {', '.join(allowed)}")
    return value


def when(req: falcon.Request, name: str) -> datetime | None:
    """An optional RFC 3339 query parameter."""
    return parse_timestamp(req.get_param(name) or None, name)


def tags(req: falcon.Request) -> list[str]:
    values = req.get_param_as_list("tags") or []
    check_strings(values)
    return values


def flag(req: falcon.Request, name: str) -> bool:
    value = req.get_param(name)
    if value is None or value == "":
        return False
    lowered = value.lower()
    if lowered in ("true", "1", "t"):
        return True
    if lowered in ("false", "0", "f"):
        return False
    raise InvalidJob(f"{name} must be true or false")


def _integer(req: falcon.Request, name: str) -> int | None:
    value = req.get_param(name)
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()):
        raise InvalidJob(f"{name} must be a non-negative integer")
    number = int(value)
    if number > 2**31:
        raise InvalidJob(f"{name} is too large")
    return number
