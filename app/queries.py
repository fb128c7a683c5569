"""Every statement of the claim protocol, named, in one place (DESIGN.md, Claims).

Each statement after the claim is fenced by the lock token: it changes a job only
while the caller still holds the claim it was given.
"""

# Lock up to (max_jobs - this owner's unfinished claims) due jobs, oldest slot
# first, skipping rows another claimer is locking; give each a fresh token.
CLAIM_DUE = """
WITH capacity AS (
    SELECT GREATEST(%(max_jobs)s - count(*), 0) AS free
    FROM jobs
    WHERE locked_by = %(owner)s AND locked_until > now()
), due AS (
    SELECT id FROM jobs
    WHERE status = 'RUNNING'
      AND next_run <= now()
      AND (locked_until IS NULL OR locked_until <= now())
    ORDER BY next_run
    LIMIT (SELECT free FROM capacity)
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs AS j
SET locked_until = now() + make_interval(secs => %(lock_seconds)s),
    locked_by = %(owner)s,
    lock_token = gen_random_uuid()
FROM due
WHERE j.id = due.id
RETURNING j.id, j.lock_token, j.next_run
"""

# Renew one claim and read the definition to run under it; no row: the claim is stale.
LEASE = """
UPDATE jobs
SET locked_until = now() + make_interval(secs => %(lock_seconds)s)
WHERE id = %(job_id)s AND lock_token = %(token)s
RETURNING type, http_job, amqp_job
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
SELECT execute_at, cron_schedule, timezone, now()
FROM jobs
WHERE id = %(job_id)s
FOR UPDATE
"""

# Finish, step 2: the history row, whether or not the claim is still held.
RECORD_EXECUTION = """
INSERT INTO executions (job_id, delivery_id, scheduled_for, start_time, end_time, status,
                        attempts, error_message, http_status, response_body)
VALUES (%(job_id)s, %(delivery_id)s, %(scheduled_for)s, %(start_time)s, %(end_time)s,
        %(status)s, %(attempts)s, %(error_message)s, %(http_status)s, %(response_body)s)
"""

# Finish, step 3: move the job on and release it, only under the claim's token.
ADVANCE = """
UPDATE jobs
SET next_run = %(next_run)s, locked_until = NULL, locked_by = NULL, lock_token = NULL
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
