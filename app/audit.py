"""The audit log: who changed what through the API, appended in the transaction
that made the change, so there is no change without its entry nor an entry
without its change.

An entry names its job (or, for a flow control, its key) and holds only the
fields that changed, before and after, as the job's row keeps them: secrets are
sealed apart and stand as "***" there (app/secrets/redaction.py), so an entry
never holds one. Entries outlive their job, and are pruned after
audit-retention (app/retention.py).
"""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.jobs.views import timestamp

ANONYMOUS = "anonymous"
ACTIONS = (
    "create",
    "update",
    "upsert",
    "delete",
    "pause",
    "resume",
    "run",
    "redrive",
    "dead_letter_delete",
    "bulk",
    "flow_control_set",
    "flow_control_delete",
)


@dataclass(frozen=True)
class Actor:
    """Who asks for a change: `name` is the first 8 hex digits of the SHA-256 of
    the API key used (enough to tell keys apart, nothing to guess one from) or
    "anonymous"; `request_id` is the request's X-Request-Id."""

    name: str = ANONYMOUS
    request_id: str | None = None


def changes(before: dict | None, after: dict | None) -> dict:
    """The fields that differ, as {"before": {...}, "after": {...}}; all of them
    where one side is absent (a create, a delete)."""
    if before is None or after is None:
        return {"before": before, "after": after}
    names = [name for name in {**before, **after} if before.get(name) != after.get(name)]
    return {
        "before": {name: before.get(name) for name in names},
        "after": {name: after.get(name) for name in names},
    }


@dataclass(frozen=True)
class Entry:
    action: str
    job_id: uuid.UUID | None = None
    key: str | None = None
    changes: dict | None = None


_INSERT = """
INSERT INTO audit_log (at, action, job_id, key, actor, request_id, changes)
SELECT %(at)s, e.action, e.job_id, e.key, %(actor)s, %(request_id)s, e.changes
FROM jsonb_to_recordset(%(entries)s::jsonb)
    AS e(action text, job_id uuid, key text, changes jsonb)
"""


def record(db, by: Actor, at: datetime, *entries: Entry) -> None:
    """Append entries in the caller's transaction, in one statement however many."""
    if not entries:
        return
    rows = [
        {
            "action": entry.action,
            "job_id": None if entry.job_id is None else str(entry.job_id),
            "key": entry.key,
            "changes": entry.changes,
        }
        for entry in entries
    ]
    params = {"at": at, "actor": by.name, "request_id": by.request_id, "entries": json.dumps(rows)}
    db.execute_sql(_INSERT, params)


_LIST = """
SELECT id, at, action, job_id, key, actor, request_id, changes FROM audit_log
WHERE (%(job_id)s::uuid IS NULL OR job_id = %(job_id)s::uuid)
  AND (%(action)s::text IS NULL OR action = %(action)s::text)
  AND (%(since)s::timestamptz IS NULL OR at >= %(since)s::timestamptz)
  AND (%(until)s::timestamptz IS NULL OR at < %(until)s::timestamptz)
  AND (%(after)s::bigint IS NULL OR id < %(after)s::bigint)
ORDER BY id DESC
LIMIT %(limit)s
"""


def entries(
    db,
    limit: int,
    *,
    job_id: uuid.UUID | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int | None = None,
) -> list[dict[str, Any]]:
    """Entries newest first; `after`: only those older than that entry (keyset
    paging: pass the last id of a page to get the next)."""
    params = {
        "job_id": job_id,
        "action": action,
        "since": since,
        "until": until,
        "after": after,
        "limit": limit,
    }
    with db.connection_context():
        rows = db.execute_sql(_LIST, params).fetchall()
    return [
        {
            "id": row[0],
            "at": timestamp(row[1]),
            "action": row[2],
            "job_id": None if row[3] is None else str(row[3]),
            "key": row[4],
            "actor": row[5],
            "request_id": row[6],
            "changes": row[7],
        }
        for row in rows
    ]
