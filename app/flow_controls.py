"""Flow control: limits shared by the jobs naming one flow key (docs/design.md,
"Flow control").

The claim enforces them (app/claims/statements.py: LOCK_FLOWS_DUE,
CLAIM_DUE_FLOWS, START_FLOW_ATTEMPT); this module checks limits, writes them,
and reads them with their live figures. Every key a job names has a row
(`name_key`, in the job's own transaction), without limits until some are set,
and keeps it once they are lifted; the API shows a key without limits as absent.
"""

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from app import audit
from app.audit import Actor, Entry
from app.claims.statements import EXPIRED, FREE_TO_CLAIM
from app.errors import InvalidJob, JobNotFound
from app.jobs.spec import duration_field, integer_field, parse_flow_key

MAX_RATE = 1000  # attempts per period: the log of starts is kept on the key's row
MAX_PARALLELISM = 1000
MAX_PERIOD = 86400.0
MIN_PERIOD = 0.1


@dataclass(frozen=True)
class Limits:
    rate: int | None = None  # attempts started per period
    period: float = 1.0  # seconds
    parallelism: int | None = None  # claims held at once


def parse_limits(body: Any) -> Limits:
    """The limits of a PUT /v1/flow-controls/{key} body: rate (with its period,
    default 1s) or parallelism, or both."""
    if not isinstance(body, dict):
        raise InvalidJob("request body must be a JSON object")
    rate, period, parallelism = (body.get(name) for name in ("rate", "period", "parallelism"))
    if rate is None and parallelism is None:
        raise InvalidJob("give rate (with period), parallelism, or both")
    if rate is None and period is not None:
        raise InvalidJob("period applies to a rate: give rate too")
    return Limits(
        rate=None if rate is None else integer_field(rate, "rate", 1, MAX_RATE),
        period=1.0 if period is None else duration_field(period, "period", MAX_PERIOD, MIN_PERIOD),
        parallelism=None
        if parallelism is None
        else integer_field(parallelism, "parallelism", 1, MAX_PARALLELISM),
    )


parse_key = parse_flow_key

_LIMITED = "(f.rate IS NOT NULL OR f.parallelism IS NOT NULL)"

# A key named by a job: its row, if it has none yet.
_NAME_KEY = "INSERT INTO flow_controls (key) VALUES (%(key)s) ON CONFLICT DO NOTHING"

# Set a key's limits; those it had before (all NULL: none, a PUT's 201).
_SET_LIMITS = f"""
WITH before AS (
    SELECT rate, period, parallelism
    FROM flow_controls AS f WHERE key = %(key)s AND {_LIMITED} FOR NO KEY UPDATE
), set AS (
    INSERT INTO flow_controls AS f (key, rate, period, parallelism)
    VALUES (%(key)s, %(rate)s, %(period)s, %(parallelism)s)
    ON CONFLICT (key) DO UPDATE
    SET rate = EXCLUDED.rate, period = EXCLUDED.period, parallelism = EXCLUDED.parallelism,
        created_at = CASE WHEN {_LIMITED} THEN f.created_at ELSE now() END,
        updated_at = now()
)
SELECT rate, period, parallelism FROM before
"""

# The limits of keys that have some, with what is happening now: the claims held
# (attempts running, retries waiting; a job's or a run's), the jobs due and held
# back, the attempts started in the last period.
_LIVE = f"""
SELECT f.key, f.rate, f.period, f.parallelism, f.created_at, f.updated_at,
    (SELECT count(*) FROM jobs WHERE flow_key = f.key AND NOT {FREE_TO_CLAIM})
    + (SELECT count(*) FROM runs WHERE flow_key = f.key AND NOT {EXPIRED}),
    (SELECT count(*) FROM jobs
     WHERE flow_key = f.key AND {FREE_TO_CLAIM}
       AND (run_requested_at IS NOT NULL OR (status = 'RUNNING' AND next_run <= now()))),
    (SELECT count(*) FROM unnest(f.starts) AS s
     WHERE s > now() - make_interval(secs => f.period))
FROM flow_controls AS f
WHERE {_LIMITED}
"""
_GET = _LIVE + " AND f.key = %(key)s"
_LIST = _LIVE + " AND f.key > %(after)s ORDER BY f.key LIMIT %(limit)s"

_CLEAR = """
UPDATE flow_controls AS f
SET rate = NULL, parallelism = NULL, period = 1, starts = '{}', updated_at = now()
FROM (
    SELECT key, rate, period, parallelism FROM flow_controls
    WHERE key = %(key)s FOR NO KEY UPDATE
) AS before
WHERE f.key = before.key AND (before.rate IS NOT NULL OR before.parallelism IS NOT NULL)
RETURNING before.rate, before.period, before.parallelism
"""


@dataclass(frozen=True)
class FlowControl:
    key: str
    rate: int | None
    period: float
    parallelism: int | None
    created_at: Any
    updated_at: Any
    in_flight: int
    waiting: int
    started_last_period: int


def name_key(db, key: str | None) -> None:
    """Give `key` its row, in the caller's transaction (a job about to name it)."""
    if key is not None:
        db.execute_sql(_NAME_KEY, {"key": key})


def _shown(limits: Limits | None) -> dict | None:
    return None if limits is None else asdict(limits)


def set_limits(db, key: str, limits: Limits, now: datetime, by: Actor) -> tuple[FlowControl, bool]:
    """Set the key's limits; (its flow control, whether it is new). The same
    limits again leave no audit entry: nothing changed."""
    with db.atomic():
        row = db.execute_sql(_SET_LIMITS, {"key": key, **asdict(limits)}).fetchone()
        before = None if row is None else Limits(*row)
        if before != limits:
            changes = audit.changes(_shown(before), _shown(limits))
            audit.record(db, by, now, Entry("flow_control_set", key=key, changes=changes))
        return get(db, key), before is None


def get(db, key: str) -> FlowControl:
    row = db.execute_sql(_GET, {"key": key}).fetchone()
    if row is None:
        raise JobNotFound(f"flow control {key!r} not found")
    return FlowControl(*row)


def list_all(db, limit: int, after: str | None = None) -> list[FlowControl]:
    """Keys with limits, in key order; `after`: only those after that key."""
    rows = db.execute_sql(_LIST, {"after": after or "", "limit": limit}).fetchall()
    return [FlowControl(*row) for row in rows]


def waiting(db) -> dict[str, int]:
    """Jobs due and held back, by key with limits (scheduler_flow_waiting)."""
    with db.connection_context():
        return {row[0]: row[7] for row in db.execute_sql(_LIVE).fetchall()}


def delete(db, key: str, now: datetime, by: Actor) -> None:
    """Lift the key's limits: its jobs are claimed as if it had none. The row
    stays, for the jobs that may still name the key."""
    with db.atomic():
        row = db.execute_sql(_CLEAR, {"key": key}).fetchone()
        if row is None:
            raise JobNotFound(f"flow control {key!r} not found")
        changes = audit.changes(_shown(Limits(*row)), None)
        audit.record(db, by, now, Entry("flow_control_delete", key=key, changes=changes))
