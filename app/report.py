"""What an operator asks of the jobs table: how many jobs in each state, what is
due and unclaimed, what failed lately, how late things fire. Read-only; shown by
`scheduler status` (app/commands/status.py) and, in part, by web's /metrics."""

from dataclasses import dataclass

from app.claims.statements import EXPIRED, FREE_TO_CLAIM

# Due now and not claimed (but jobs a flow control holds back, which wait by
# design: scheduler_flow_waiting counts them); claimed but past the lock time
# (holder gone). Both scan the due range of the two due indexes only (jobs without
# and with a flow key), so they cost what the backlog is. And the dead letters not
# redriven, which retention bounds.
BACKLOG = f"""
SELECT count(*) FILTER (WHERE {FREE_TO_CLAIM} AND NOT limited),
       count(*) FILTER (WHERE lock_token IS NOT NULL AND {EXPIRED}),
       (SELECT count(*) FROM dead_letters WHERE redriven_at IS NULL)
FROM (
    SELECT locked_until, lock_token, false AS limited FROM jobs
    WHERE status = 'RUNNING' AND next_run <= now() AND flow_key IS NULL
    UNION ALL
    SELECT locked_until, lock_token, EXISTS (
        SELECT 1 FROM flow_controls AS f
        WHERE f.key = flow_key AND (f.rate IS NOT NULL OR f.parallelism IS NOT NULL))
    FROM jobs
    WHERE status = 'RUNNING' AND next_run <= now() AND flow_key IS NOT NULL
) AS due
"""

JOBS_BY_STATUS = "SELECT status, count(*) FROM jobs GROUP BY status ORDER BY status"

# Over the executions that ended in the last `seconds`, by the end_time index.
RECENT_EXECUTIONS = """
SELECT count(*),
       count(*) FILTER (WHERE status = 'FAILED'),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY lag_ms),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY lag_ms)
FROM executions
WHERE end_time > now() - make_interval(secs => %(seconds)s)
"""


@dataclass(frozen=True)
class Status:
    jobs_by_status: dict[str, int]
    due_unclaimed: int
    expired_claims: int
    dead_letters: int  # not redriven
    executions: int  # in the window
    failures: int
    lag_p50_ms: float | None
    lag_p99_ms: float | None


def backlog(db) -> tuple[int, int, int]:
    """(due and unclaimed, claimed past their lock time, dead letters not redriven)."""
    with db.connection_context():
        return tuple(db.execute_sql(BACKLOG).fetchone())


def status(db, window_seconds: float = 3600) -> Status:
    with db.connection_context():
        by_status = dict(db.execute_sql(JOBS_BY_STATUS).fetchall())
        recent = db.execute_sql(RECENT_EXECUTIONS, {"seconds": window_seconds}).fetchone()
        waiting = db.execute_sql(BACKLOG).fetchone()
    return Status(by_status, *waiting, *recent)
