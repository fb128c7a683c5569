"""Every statement of the claim protocol, named, in one place (DESIGN.md, Claims).

Each statement after the claim is fenced by the lock token: it changes a job only
while the caller still holds the claim it was given.
"""

# Lock up to (max_jobs - this owner's unfinished claims) due jobs, oldest first,
# skipping rows another claimer is locking; give each a fresh token. A job is due
# when its scheduled slot has come (and it is not paused) or a run was requested;
# `scheduled` says which, and the slot is next_run or the time of the request.
CLAIM_DUE = """
WITH capacity AS (
    SELECT GREATEST(%(max_jobs)s - count(*), 0) AS free
    FROM jobs
    WHERE locked_by = %(owner)s AND locked_until > now()
), due AS (
    SELECT id FROM jobs
    WHERE ((status = 'RUNNING' AND next_run <= now()) OR run_requested_at IS NOT NULL)
      AND (locked_until IS NULL OR locked_until <= now())
    ORDER BY LEAST(CASE WHEN status = 'RUNNING' THEN next_run END, run_requested_at)
    LIMIT (SELECT free FROM capacity)
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs AS j
SET locked_until = now() + make_interval(secs => %(lock_seconds)s),
    locked_by = %(owner)s,
    lock_token = gen_random_uuid()
FROM due
WHERE j.id = due.id
RETURNING j.id, j.lock_token,
    CASE WHEN j.status = 'RUNNING' AND j.next_run <= now()
         THEN j.next_run ELSE j.run_requested_at END,
    NOT COALESCE(j.status = 'RUNNING' AND j.next_run <= now(), false)
"""

# Renew one claim and read the definition to run under it; no row: the claim is stale.
LEASE = """
UPDATE jobs
SET locked_until = now() + make_interval(secs => %(lock_seconds)s)
WHERE id = %(job_id)s AND lock_token = %(token)s
RETURNING type, http_job, amqp_job, retry_policy, timeout, misfire_grace, secrets
"""

# Renew many claims in one round trip; returns the ids whose token still matched.
EXTEND_LEASES = """
UPDATE jobs AS j
SET locked_until = now() + make_interval(secs => %(lock_seconds)s)
FROM unnest(%(job_ids)s::uuid[], %(tokens)s::uuid[]) AS held(id, token)
WHERE j.id = held.id AND j.lock_token = held.token
RETURNING j.id
"""

# Finish, step 1: lock the row and read its current schedule and the database clock.
LOCK_FOR_FINISH = """
SELECT execute_at, cron_schedule, timezone, starts_at, ends_at, max_runs, runs, now()
FROM jobs
WHERE id = %(job_id)s
FOR UPDATE
"""

# Finish, step 2: the history row, whether or not the claim is still held.
RECORD_EXECUTION = """
INSERT INTO executions (job_id, delivery_id, scheduled_for, manual, start_time, end_time,
                        status, attempts, error_message, status_code, response_excerpt,
                        lag_ms, duration_ms)
VALUES (%(job_id)s, %(delivery_id)s, %(scheduled_for)s, %(manual)s, %(start_time)s,
        %(end_time)s, %(status)s, %(attempts)s, %(error_message)s, %(status_code)s,
        %(response_excerpt)s, %(lag_ms)s, %(duration_ms)s)
"""

# Finish, step 3: move the job on and release it, only under the claim's token.
# A requested run leaves the schedule as it is; any pending request is served.
ADVANCE = """
UPDATE jobs
SET next_run = CASE WHEN %(manual)s THEN next_run ELSE %(next_run)s END,
    runs = runs + %(served)s,
    run_requested_at = NULL,
    locked_until = NULL, locked_by = NULL, lock_token = NULL
WHERE id = %(job_id)s AND lock_token = %(token)s
"""

# Give claims back without running them (enqueue failed, worker stopping): the
# job stays due and the next tick claims it again.
RELEASE = """
UPDATE jobs AS j
SET locked_until = NULL, locked_by = NULL, lock_token = NULL
FROM unnest(%(job_ids)s::uuid[], %(tokens)s::uuid[]) AS held(id, token)
WHERE j.id = held.id AND j.lock_token = held.token
"""

# Retention: delete one batch of executions older than the retention, oldest
# first, skipping rows another pruner holds, so no lock is held for long.
PRUNE_EXECUTIONS = """
DELETE FROM executions
WHERE id IN (
    SELECT id FROM executions
    WHERE end_time < now() - make_interval(secs => %(retention_seconds)s)
    ORDER BY end_time
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)
"""
