"""Every statement of the claim protocol, named, in one place (docs/design.md, "The
claim lifecycle").

Names say what a statement does and what fences it, as River's do: `_IF_HELD`
changes a job only while the caller still holds the claim it was given (its
token, and for an attempt its attempt key); `_MANY` takes a batch.

The columns keep the reference's lock words: `locked_until` is the claim's
expiry, `locked_by` its owner (a tick's scheduler-id), `lock_token` its token,
and `attempt_key` the key of the attempt running it.
"""

from app.db.wakeup import WAKE_CHANNEL

# A claim whose expiry has passed: its holder is gone (a tick, worker or message
# was lost), and the job is claimed again for the same slot. That is the whole of
# rescue: no sweeper, the next claim takes it.
EXPIRED = "locked_until <= now()"
FREE_TO_CLAIM = f"(locked_until IS NULL OR {EXPIRED})"

# Claim the jobs `chosen` names: give each a fresh token and this owner's expiry,
# and say which slot each claim is for. A job whose slot is due is claimed for
# its slot (which serves a run now too); one only requested runs its oldest
# pending redrive, for that dead letter's slot (so with its delivery id), unless
# a run now was asked before it: run_requested_at is the earliest request, a run
# now's or a redrive's. A slot with jitter is claimed for its fire time
# (next_run) and returns both (next_slot is the slot). Needs `horizon`.
_CLAIMED = """
claimed AS (
    UPDATE jobs AS j
    SET locked_until = now() + make_interval(secs => %(lock_seconds)s),
        locked_by = %(owner)s,
        lock_token = gen_random_uuid(),
        attempt_key = NULL
    FROM horizon
    WHERE j.id IN (SELECT id FROM chosen)
    RETURNING j.id, j.lock_token, j.flow_key, j.run_requested_at,
        CASE WHEN j.status = 'RUNNING' AND j.next_run <= horizon.due_by
             THEN COALESCE(j.next_slot, j.next_run) ELSE j.run_requested_at END AS slot,
        NOT COALESCE(j.status = 'RUNNING' AND j.next_run <= horizon.due_by, false) AS manual,
        CASE WHEN j.status = 'RUNNING' AND j.next_run <= horizon.due_by
                  AND j.next_slot IS NOT NULL
             THEN j.next_run END AS fire_at
), redrives AS (
    SELECT c.id AS job_id, d.id AS dead_letter_id, d.scheduled_for
    FROM claimed AS c CROSS JOIN LATERAL (
        SELECT id, scheduled_for, redrive_requested_at FROM dead_letters
        WHERE job_id = c.id AND redrive_requested_at IS NOT NULL
        ORDER BY redrive_requested_at, id
        LIMIT 1
    ) AS d
    WHERE c.manual AND d.redrive_requested_at <= c.run_requested_at
), claims AS (
    SELECT c.id, c.lock_token, COALESCE(r.scheduled_for, c.slot) AS slot, c.manual,
        r.dead_letter_id, c.fire_at, c.flow_key
    FROM claimed AS c LEFT JOIN redrives AS r ON r.job_id = c.id
)"""

_HORIZON = "horizon AS (SELECT now() + make_interval(secs => %(ahead)s) AS due_by)"
_DUE = "status = 'RUNNING' AND next_run <= (SELECT due_by FROM horizon)"
# Requested, and not due for a slot (which then serves the request).
_ONLY_REQUESTED = f"run_requested_at IS NOT NULL AND NOT COALESCE({_DUE}, false)"

# Claim up to (max_jobs - this owner's unfinished claims) due jobs without a
# flow key, skipping rows another claimer is locking: first jobs whose run was
# requested (run now, or a redrive), then jobs whose slot comes within `ahead`
# seconds, oldest first. Each scan follows its index and stops once it has
# enough, so a claim costs the same whatever the backlog. Always one row more
# than the claims, with the id NULL: it carries the free capacity found, the
# seconds until the next slot of such a job is within `ahead` (NULL: none), by
# the database's clock, so the tick knows how long to sleep, and whether any
# flow key exists (CLAIM_DUE_FLOWS then claims the jobs with one). Kept that
# small: the tick runs it up to every 10 ms in a burst, and each subquery more
# costs its planning every time (two more cost 0.06 ms of PostgreSQL CPU per
# execution in bench/burst.py).
CLAIM_DUE = f"""
WITH {_HORIZON}, capacity AS (
    SELECT GREATEST(%(max_jobs)s - count(*), 0) AS free
    FROM jobs
    WHERE locked_by = %(owner)s AND NOT {EXPIRED}
), requested AS (
    SELECT id FROM jobs
    WHERE {_ONLY_REQUESTED} AND flow_key IS NULL AND {FREE_TO_CLAIM}
    ORDER BY run_requested_at
    LIMIT (SELECT free FROM capacity)
    FOR UPDATE SKIP LOCKED
), scheduled AS (
    SELECT id FROM jobs
    WHERE {_DUE} AND flow_key IS NULL AND {FREE_TO_CLAIM}
    ORDER BY next_run
    LIMIT (SELECT free FROM capacity) - (SELECT count(*) FROM requested)
    FOR UPDATE SKIP LOCKED
), chosen AS (
    SELECT id FROM requested UNION ALL SELECT id FROM scheduled
), {_CLAIMED}
SELECT id, lock_token, slot, manual, dead_letter_id, fire_at, flow_key, NULL, NULL, NULL
FROM claims
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, free,
    EXTRACT(EPOCH FROM (SELECT min(next_run) FROM jobs
                        WHERE status = 'RUNNING' AND next_run > due_by AND flow_key IS NULL)
                       - due_by)::float8,
    EXISTS (SELECT 1 FROM flow_controls)
FROM capacity, horizon
"""

# Jobs with a flow key are claimed key by key, in a transaction of two
# statements, so that two ticks never claim for one key at once: this one locks
# the flow controls of the keys with work due, skipping those another tick is
# claiming for, and CLAIM_DUE_FLOWS (run even with no key locked, for when to
# look again), whose snapshot then sees every claim made for them before, claims
# what their limits allow. (Within one statement, a
# count made after waiting for a lock would still see the claims as they were
# before it.)
LOCK_FLOWS_DUE = f"""
WITH {_HORIZON}
SELECT key FROM flow_controls AS f
WHERE EXISTS (SELECT 1 FROM jobs WHERE flow_key = f.key AND {_DUE} AND {FREE_TO_CLAIM})
   OR EXISTS (SELECT 1 FROM jobs
              WHERE flow_key = f.key AND run_requested_at IS NOT NULL AND {FREE_TO_CLAIM})
ORDER BY key
FOR NO KEY UPDATE SKIP LOCKED
"""

# The attempts of the last period of each key, oldest first.
_RECENT = (
    "ARRAY(SELECT s FROM unnest(starts) AS s "
    "WHERE s > now() - make_interval(secs => period) ORDER BY s)"
)

# Claim the due jobs of the keys locked (`keys`), oldest first, each key up to
# what its limits allow now: `parallelism` less its claims held (an attempt
# running, or a retry waiting), `rate` less the attempts started in the last
# `period`; `free` in all. Each claim is an attempt started: the key's log of
# starts takes it. Returns the claims, as CLAIM_DUE does, and one more row: the
# seconds until a key held back by its rate may start again, or the next slot of
# a job with a flow key is within `ahead`, whichever comes first (NULL: neither).
CLAIM_DUE_FLOWS = f"""
WITH {_HORIZON}, limits AS (
    SELECT key, rate, period, {_RECENT} AS recent,
        parallelism - (SELECT count(*) FROM jobs
                       WHERE flow_key = f.key AND NOT {FREE_TO_CLAIM}) AS idle
    FROM flow_controls AS f
    WHERE key = ANY(%(keys)s)
), allowed AS (
    SELECT key, GREATEST(LEAST(rate - cardinality(recent), idle, %(free)s), 0) AS n
    FROM limits
), picked AS (
    SELECT c.id FROM allowed AS a CROSS JOIN LATERAL (
        SELECT id, due FROM (
            (SELECT id, run_requested_at AS due FROM jobs
             WHERE flow_key = a.key AND {_ONLY_REQUESTED} AND {FREE_TO_CLAIM}
             ORDER BY run_requested_at LIMIT a.n)
            UNION ALL
            (SELECT id, next_run FROM jobs
             WHERE flow_key = a.key AND {_DUE} AND {FREE_TO_CLAIM}
             ORDER BY next_run LIMIT a.n)
        ) AS due
        ORDER BY due LIMIT a.n
    ) AS c
    ORDER BY c.due
    LIMIT %(free)s
), chosen AS (  -- one another statement is changing (a finish, the API) waits a claim
    SELECT id FROM jobs
    WHERE id IN (SELECT id FROM picked) AND {FREE_TO_CLAIM}
    FOR UPDATE SKIP LOCKED
), {_CLAIMED}, started AS (
    UPDATE flow_controls AS f
    SET starts = l.recent || array_fill(now(), ARRAY[n.started::int])
    FROM limits AS l, (SELECT flow_key, count(*) AS started FROM claims GROUP BY flow_key) AS n
    WHERE f.key = l.key AND n.flow_key = l.key AND l.rate IS NOT NULL
    RETURNING f.key
)
SELECT id, lock_token, slot, manual, dead_letter_id, fire_at, flow_key, NULL
FROM claims
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, LEAST(
    (SELECT EXTRACT(EPOCH FROM min(COALESCE(l.recent[1], now())
                                   + make_interval(secs => l.period)) - now())::float8
     FROM limits AS l
     WHERE l.rate <= cardinality(l.recent)
                     + (SELECT count(*) FROM claims WHERE flow_key = l.key)),
    (SELECT EXTRACT(EPOCH FROM (SELECT min(next_run) FROM jobs
                                WHERE status = 'RUNNING' AND next_run > due_by
                                  AND flow_key IS NOT NULL) - due_by)::float8
     FROM horizon))
"""

# A retry of a claim with a flow key is an attempt too: it starts only if the
# key's rate allows (its claim, held, already counts against the parallelism),
# and is then logged. Returns the seconds to wait first: 0 to start now, and no
# row for a key without limits.
START_FLOW_ATTEMPT = f"""
WITH f AS (
    SELECT key, rate, period, {_RECENT} AS recent
    FROM flow_controls WHERE key = %(key)s
    FOR NO KEY UPDATE
), started AS (
    UPDATE flow_controls AS t
    SET starts = f.recent || now()
    FROM f
    WHERE t.key = f.key AND f.rate > cardinality(f.recent)
    RETURNING t.key
)
SELECT CASE WHEN f.rate IS NULL OR EXISTS (SELECT 1 FROM started) THEN 0.0
    ELSE EXTRACT(EPOCH FROM f.recent[1] + make_interval(secs => f.period) - now())::float8 END
FROM f
"""

# Statements that change many jobs lock them in id order first, so that two of
# them (two finishing workers, a finish and a renewal) never deadlock.
_LOCK_HELD = """
locked AS (
    SELECT id FROM jobs WHERE id = ANY(%(job_ids)s::uuid[]) ORDER BY id FOR NO KEY UPDATE
)"""

# The claims held, as (job id, token) pairs; the ids also lock in id order.
_HELD = "unnest(%(job_ids)s::uuid[], %(tokens)s::uuid[]) AS held(id, token)"
_IS_HELD = "j.id = held.id AND j.lock_token = held.token AND j.id IN (SELECT id FROM locked)"

# Start an attempt of each claim: renew it for `lock_seconds`, take it for the
# attempt's key, and read the job's definition to run, with the schedule its finish
# computes the next run from. An attempt starts only if no other attempt holds the
# claim (a message RabbitMQ handed out again while its first consumer may still be
# running it); its key is kept until the attempt ends. A claim with no row is
# stale or held by another attempt.
START_ATTEMPTS_IF_HELD = f"""
WITH {_LOCK_HELD}
UPDATE jobs AS j
SET locked_until = now() + make_interval(secs => %(lock_seconds)s), attempt_key = held.key
FROM unnest(%(job_ids)s::uuid[], %(tokens)s::uuid[], %(keys)s::uuid[]) AS held(id, token, key)
WHERE {_IS_HELD} AND (j.attempt_key IS NULL OR j.attempt_key = held.key)
RETURNING j.id, held.token,
    type, http_job, amqp_job, retry_policy, timeout, misfire_grace, secrets,
    on_success IS NOT NULL, on_failure IS NOT NULL, version,
    execute_at, cron_schedule, timezone, starts_at, ends_at, max_runs, jitter, overlap_policy,
    runs
"""

# Renew claims for `lock_seconds` whoever's attempt runs them; returns the ids still
# held. Never shortens a claim: a renewal that crosses a hold for retry (backoff
# plus lock time) leaves the hold as it is. Only locked_until changes, so the row
# is updated in place (HOT).
RENEW_IF_HELD = f"""
WITH {_LOCK_HELD}
UPDATE jobs AS j
SET locked_until = GREATEST(j.locked_until, now() + make_interval(secs => %(lock_seconds)s))
FROM {_HELD}
WHERE {_IS_HELD}
RETURNING j.id
"""

# A failed attempt keeps the claim through its retry's wait, and lets go of its
# attempt key so that the retry can start; only the attempt holding the key may.
HOLD_FOR_RETRY_IF_HELD = """
UPDATE jobs
SET locked_until = now() + make_interval(secs => %(lock_seconds)s), attempt_key = NULL
WHERE id = %(job_id)s AND lock_token = %(token)s AND attempt_key = %(key)s
"""

# The finishes of a batch, one JSON object each (one parameter however many, cheap
# to send): the execution to record and the next run computed from the job's
# schedule as it was read (execute_at .. runs; runs null when it was not read,
# which matches no job). `job_ids` lists their jobs, to lock.
_FINISHED = """
finished AS (
    SELECT * FROM jsonb_to_recordset(%(finished)s::jsonb) AS f(
        job_id uuid, token uuid, delivery_id uuid, scheduled_for timestamptz,
        manual boolean, start_time timestamptz, end_time timestamptz, status text,
        attempts int, error_message text, status_code int, response_excerpt text,
        lag_ms bigint, duration_ms bigint, attempt_key uuid, error_kind text,
        error_detail text, request jsonb, redrive_of bigint, callback text, job_version int,
        next_run timestamptz, next_slot timestamptz, served int,
        execute_at timestamptz, cron_schedule text, timezone text, starts_at timestamptz,
        ends_at timestamptz, max_runs int, jitter float8, overlap text, runs int,
        skipped jsonb)
)"""

# Move each job on and release it, only under its claim's token and only if its
# schedule is still the one the next run was computed from. A requested run
# leaves the schedule as it is; a pending run now is served, and the redrives
# still pending (but the one served) keep the job requested. Counts consecutive
# failures, and pauses a job that reached its pause_after_failures (with a
# job.paused callback to its on_failure). Wakes the ticks when a job is now due
# within `wake_within` seconds, sooner than they may poll, is still requested, or
# has a flow key (a key at its parallelism may start another).
_FAILED_IN_A_ROW = (
    "j.status = 'RUNNING' AND f.status = 'FAILED' "
    "AND j.consecutive_failures + 1 >= j.pause_after_failures"
)


def _advanced(recorded_as: str) -> str:
    """The advance, after CTEs naming `finished` and `locked`; `recorded_as` is
    where the finish's execution is found, for the pause's callback to show: its
    own insert, or the table, when an earlier statement recorded it."""
    return f"""
advanced AS (
    UPDATE jobs AS j
    SET next_run = CASE WHEN f.manual THEN j.next_run ELSE f.next_run END,
        next_slot = CASE WHEN f.manual THEN j.next_slot ELSE f.next_slot END,
        runs = j.runs + f.served,
        run_requested_at = CASE WHEN j.run_requested_at IS NULL THEN NULL ELSE (
            SELECT min(d.redrive_requested_at) FROM dead_letters AS d
            WHERE d.job_id = j.id AND d.redrive_requested_at IS NOT NULL
              AND d.id IS DISTINCT FROM f.redrive_of) END,
        consecutive_failures = CASE f.status WHEN 'FAILED' THEN j.consecutive_failures + 1
                                             WHEN 'SUCCESSFUL' THEN 0
                                             ELSE j.consecutive_failures END,
        status = CASE WHEN {_FAILED_IN_A_ROW} THEN 'STOPPED' ELSE j.status END,
        version = CASE WHEN {_FAILED_IN_A_ROW} THEN j.version + 1 ELSE j.version END,
        paused_reason = CASE WHEN {_FAILED_IN_A_ROW}
            THEN format('%%s consecutive failures; last: %%s', j.consecutive_failures + 1,
                        f.error_message)
            ELSE j.paused_reason END,
        locked_until = NULL, locked_by = NULL, lock_token = NULL, attempt_key = NULL
    FROM finished AS f
    WHERE j.id = f.job_id AND j.lock_token = f.token AND j.id IN (SELECT id FROM locked)
      AND (j.execute_at, j.cron_schedule, j.timezone, j.starts_at, j.ends_at, j.max_runs,
           j.jitter, j.overlap_policy, j.runs)
          IS NOT DISTINCT FROM
          (f.execute_at, f.cron_schedule, f.timezone, f.starts_at, f.ends_at, f.max_runs,
           f.jitter, f.overlap, f.runs)
    RETURNING j.id, f.token, j.next_run, j.run_requested_at, j.flow_key, f.attempt_key,
        -- paused by this finish (only a pause sets the reason, and only once a streak)
        j.paused_reason IS NOT NULL AND f.status = 'FAILED'
            AND j.consecutive_failures = j.pause_after_failures
            AND j.on_failure IS NOT NULL AS tell_paused
), told_paused AS (
    INSERT INTO callbacks (job_id, execution_id, event)
    SELECT a.id, e.id, 'job.paused'
    FROM advanced AS a LEFT JOIN {recorded_as} AS e ON e.attempt_key = a.attempt_key
    WHERE a.tell_paused
)
SELECT a.id, a.token FROM advanced AS a, (
    SELECT count(pg_notify('{WAKE_CHANNEL}', '')) FROM (
        SELECT 1 FROM advanced
        WHERE next_run <= now() + make_interval(secs => %(wake_within)s)
           OR run_requested_at IS NOT NULL
           OR flow_key IS NOT NULL  -- its key may have work waiting for this claim
        LIMIT 1
    ) AS soon
) AS woken
"""


# Finish a batch of executions in one statement: record each one, whether or not
# its claim still holds (the delivery happened; a job deleted meanwhile gets no
# record; an attempt already recorded, by a try whose answer was lost, is not
# recorded again), with a dead letter for each FAILED one and the callback its job
# asks for in the outbox (app/callbacks.py), and a SKIPPED one for each slot that
# came while it ran (`skipped`, by the job's overlap policy; only while the claim
# is held, since the slots are then the holder's to account for); mark the dead letters
# redriven (a success) or tried (a failure, which has a dead letter of its own);
# and advance the jobs as above; returns the ids advanced. A finish not advanced
# (stale claim, or the schedule changed during the run) is retried with
# ADVANCE_IF_HELD under a row lock, from the schedule as it is now.
FINISH_MANY = f"""
WITH {_FINISHED}, {_LOCK_HELD}, recorded AS (
    INSERT INTO executions (job_id, delivery_id, scheduled_for, manual, start_time, end_time,
                            status, attempts, error_message, status_code, response_excerpt,
                            lag_ms, duration_ms, attempt_key, error_kind, error_detail,
                            redrive_of, job_version)
    SELECT f.job_id, f.delivery_id, f.scheduled_for, f.manual, f.start_time, f.end_time,
        f.status, f.attempts, f.error_message, f.status_code, f.response_excerpt,
        f.lag_ms, f.duration_ms, f.attempt_key, f.error_kind, f.error_detail, f.redrive_of,
        f.job_version
    FROM finished AS f
    WHERE f.job_id IN (SELECT id FROM locked)
    ON CONFLICT (attempt_key) DO NOTHING
    RETURNING id, job_id, attempt_key, status, end_time, redrive_of
), dead AS (
    INSERT INTO dead_letters (job_id, execution_id, delivery_id, scheduled_for, failed_at,
                              attempts, status_code, error_kind, error_message, error_detail,
                              request, redrive_of)
    SELECT r.job_id, r.id, f.delivery_id, f.scheduled_for, f.end_time, f.attempts,
        f.status_code, f.error_kind, f.error_message, f.error_detail, f.request, f.redrive_of
    FROM recorded AS r JOIN finished AS f ON f.attempt_key = r.attempt_key
    WHERE r.status = 'FAILED'
    RETURNING id, execution_id
), told AS (
    INSERT INTO callbacks (job_id, execution_id, dead_letter_id, event)
    SELECT r.job_id, r.id, d.id, f.callback
    FROM recorded AS r JOIN finished AS f ON f.attempt_key = r.attempt_key
    LEFT JOIN dead AS d ON d.execution_id = r.id
    WHERE f.callback IS NOT NULL
), overlapped AS (
    INSERT INTO executions (job_id, delivery_id, scheduled_for, start_time, end_time, status,
                            attempts, error_message, job_version)
    SELECT f.job_id, (s.slot ->> 'delivery_id')::uuid, (s.slot ->> 'slot')::timestamptz,
        f.end_time, f.end_time, 'SKIPPED', 0, 'previous execution still running', f.job_version
    FROM recorded AS r JOIN finished AS f ON f.attempt_key = r.attempt_key
    CROSS JOIN LATERAL jsonb_array_elements(f.skipped) AS s(slot)
    JOIN jobs AS j ON j.id = f.job_id AND j.lock_token = f.token
), redriven AS (
    UPDATE dead_letters AS d
    SET redrive_requested_at = NULL,
        redriven_at = COALESCE(d.redriven_at,
                               CASE WHEN r.status = 'SUCCESSFUL' THEN r.end_time END),
        redrive_execution_id = CASE WHEN d.redriven_at IS NULL THEN r.id
                                    ELSE d.redrive_execution_id END
    FROM recorded AS r
    WHERE d.id = r.redrive_of
), {_advanced("recorded")}"""

ADVANCE_IF_HELD = f"WITH {_FINISHED}, {_LOCK_HELD}, {_advanced('executions')}"

# The fallback of a finish: the job's schedule as it is now, read under a row lock.
SCHEDULE_FOR_UPDATE = """
SELECT execute_at, cron_schedule, timezone, starts_at, ends_at, max_runs, jitter, overlap_policy,
    runs, now()
FROM jobs
WHERE id = %(job_id)s
FOR UPDATE
"""

# Give claims back without running them (enqueue failed, worker stopping): the
# job stays due, and the ticks are woken to claim it again at once.
RELEASE_IF_HELD = f"""
WITH {_LOCK_HELD}, released AS (
    UPDATE jobs AS j
    SET locked_until = NULL, locked_by = NULL, lock_token = NULL, attempt_key = NULL
    FROM {_HELD}
    WHERE {_IS_HELD}
    RETURNING j.id
)
SELECT count(pg_notify('{WAKE_CHANNEL}', ''))
FROM (SELECT 1 FROM released LIMIT 1) AS first_released
"""
