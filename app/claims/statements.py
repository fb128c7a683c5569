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
from app.timing.schedule import DEFAULT_MAX_CONCURRENT

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
# the database's clock, so the tick knows how long to sleep, whether any flow
# key exists (CLAIM_DUE_FLOWS then claims the jobs with one), and whether a run
# has expired (CLAIM_EXPIRED_RUNS then claims it again). Kept that
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
SELECT id, lock_token, slot, manual, dead_letter_id, fire_at, flow_key, NULL, NULL, NULL, NULL
FROM claims
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, free,
    EXTRACT(EPOCH FROM (SELECT min(next_run) FROM jobs
                        WHERE status = 'RUNNING' AND next_run > due_by AND flow_key IS NULL)
                       - due_by)::float8,
    EXISTS (SELECT 1 FROM flow_controls),
    EXISTS (SELECT 1 FROM runs WHERE locked_until <= now())
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
                       WHERE flow_key = f.key AND NOT {FREE_TO_CLAIM})
                    - (SELECT count(*) FROM runs
                       WHERE flow_key = f.key AND NOT {EXPIRED}) AS idle
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

# What an attempt runs, as Definition holds it, then the schedule and runs its
# finish computes the next run from.
_DEFINITION = """
    j.type, j.http_job, j.amqp_job, j.retry_policy, j.timeout, j.misfire_grace, j.secrets,
    j.on_success IS NOT NULL, j.on_failure IS NOT NULL, j.version, j.max_concurrent,
    j.execute_at, j.cron_schedule, j.timezone, j.starts_at, j.ends_at, j.max_runs, j.jitter,
    j.overlap_policy, j.runs"""

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
RETURNING j.id, held.token, {_DEFINITION}
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


def _count_failures(failed: str, reset: str, last_error: str) -> str:
    """The SET of every end of executions (with the job as j): its consecutive
    failures, and the pause when they reach pause_after_failures. The ends are
    given as SQL: `failed`, how many failed since the last success among them;
    `reset`, whether one succeeded; `last_error`, the last failure's message."""
    in_a_row = f"CASE WHEN {reset} THEN 0 ELSE j.consecutive_failures END + {failed}"
    pauses = f"j.status = 'RUNNING' AND {failed} > 0 AND {in_a_row} >= j.pause_after_failures"
    return f"""
        consecutive_failures = {in_a_row},
        status = CASE WHEN {pauses} THEN 'STOPPED' ELSE j.status END,
        version = CASE WHEN {pauses} THEN j.version + 1 ELSE j.version END,
        paused_reason = CASE WHEN {pauses}
            THEN format('%%s consecutive failures; last: %%s', {in_a_row}, {last_error})
            ELSE j.paused_reason END"""


def _paused_now(failed: str) -> str:
    """In the RETURNING of `_count_failures`: paused by these ends (only a pause
    sets the reason, and only these failures took the streak across), with an
    on_failure to tell."""
    return f"""j.paused_reason IS NOT NULL AND {failed} > 0
            AND j.consecutive_failures >= j.pause_after_failures
            AND j.consecutive_failures - {failed} < j.pause_after_failures
            AND j.on_failure IS NOT NULL"""


# One execution's end, as `finished` (f) holds it, for the two above.
_FAILED_ONE = "(f.status = 'FAILED')::int"


def _told_paused(ended: str, recorded_as: str) -> str:
    """The job.paused callback of each job a CTE `ended` (id, attempt_key,
    tell_paused) paused; `recorded_as` is where the finish's execution is found:
    its own insert, or the table, when an earlier statement recorded it."""
    return f"""told_paused AS (
    INSERT INTO callbacks (job_id, execution_id, event)
    SELECT a.id, e.id, 'job.paused'
    FROM {ended} AS a LEFT JOIN {recorded_as} AS e ON e.attempt_key = a.attempt_key
    WHERE a.tell_paused
)"""


def _advancing(recorded_as: str) -> str:
    """The advance, after CTEs naming `finished` and `locked`."""
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
        {_count_failures(_FAILED_ONE, "f.status = 'SUCCESSFUL'", "f.error_message")},
        locked_until = NULL, locked_by = NULL, lock_token = NULL, attempt_key = NULL
    FROM finished AS f
    WHERE j.id = f.job_id AND j.lock_token = f.token AND j.id IN (SELECT id FROM locked)
      AND (j.execute_at, j.cron_schedule, j.timezone, j.starts_at, j.ends_at, j.max_runs,
           j.jitter, j.overlap_policy, j.runs)
          IS NOT DISTINCT FROM
          (f.execute_at, f.cron_schedule, f.timezone, f.starts_at, f.ends_at, f.max_runs,
           f.jitter, f.overlap, f.runs)
    RETURNING j.id, f.token, j.next_run, j.run_requested_at, j.flow_key, f.attempt_key,
        {_paused_now(_FAILED_ONE)} AS tell_paused
), {_told_paused("advanced", recorded_as)}"""


# Wakes the ticks (as a FROM item) when a job advanced is now due within
# `wake_within` seconds, sooner than they may poll, is still requested, or has a
# flow key (a key at its parallelism may start another).
_WOKEN = f"""(
    SELECT count(pg_notify('{WAKE_CHANNEL}', '')) FROM (
        SELECT 1 FROM advanced
        WHERE next_run <= now() + make_interval(secs => %(wake_within)s)
           OR run_requested_at IS NOT NULL
           OR flow_key IS NOT NULL
        LIMIT 1
    ) AS soon
) AS woken"""

_ADVANCED = f"SELECT a.id, a.token FROM advanced AS a, {_WOKEN}"

# An execution's record, whether or not its claim still holds (the delivery
# happened; a job deleted meanwhile gets no record; an attempt already recorded,
# by a try whose answer was lost, is not recorded again), with a dead letter for
# a FAILED one and the callback its job asks for in the outbox (app/callbacks.py),
# and a SKIPPED one for each slot that came while it ran (`skipped`, by the job's
# overlap policy; only while the job's claim is held, since the slots are then the
# holder's to account for); the dead letter it redrove marked redriven (a
# success) or tried (a failure, which has a dead letter of its own).
_RECORDED = """recorded AS (
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
)"""

# Finish a batch of executions in one statement: record each one as above, and
# advance its job, only under its claim's token and only if its schedule is still
# the one the next run was computed from (a requested run leaves the schedule as
# it is; a pending run now is served, and the redrives still pending but the one
# served keep the job requested), counting its failures; returns the ids
# advanced. A finish not advanced (stale claim, or the schedule changed during the
# run) is retried with ADVANCE_IF_HELD under a row lock, from the schedule as it
# is now.
FINISH_MANY = f"WITH {_FINISHED}, {_LOCK_HELD}, {_RECORDED}, {_advancing('recorded')}\n{_ADVANCED}"

ADVANCE_IF_HELD = f"WITH {_FINISHED}, {_LOCK_HELD}, {_advancing('executions')}\n{_ADVANCED}"

# An execution of a job whose overlap policy is 'allow' leaves the job's claim as
# soon as its attempt starts, so that the next slot can be claimed while it runs:
# in one statement, the job is advanced as a finish would (without counting a
# failure), its claim given back, and a run of the execution's own inserted,
# fenced by a new token and held by the attempt's key, if the job has fewer runs
# than its max_concurrent. Returns the run's token (NULL: not detached; the claim
# is stale, the schedule changed, or the job is at its max_concurrent) and the
# job's runs, counted before. The dead letter a redrive runs is taken off the
# pending ones, since the job no longer holds it.
DETACH_IF_HELD = f"""
WITH {_FINISHED}, locked AS (
    SELECT id FROM jobs AS j
    WHERE id = ANY(%(job_ids)s::uuid[])
      AND (SELECT count(*) FROM runs WHERE job_id = j.id)
          < COALESCE(j.max_concurrent, {DEFAULT_MAX_CONCURRENT})
    ORDER BY id
    FOR NO KEY UPDATE
), {_advancing("executions")}, run AS (
    INSERT INTO runs (token, job_id, scheduled_for, fire_at, manual, redrive_of, flow_key,
                      locked_until, attempt_key)
    SELECT gen_random_uuid(), a.id, f.scheduled_for, %(fire_at)s, f.manual, f.redrive_of,
        a.flow_key, now() + make_interval(secs => %(lock_seconds)s), f.attempt_key
    FROM advanced AS a JOIN finished AS f ON f.job_id = a.id
    RETURNING token, redrive_of
), taken AS (
    UPDATE dead_letters SET redrive_requested_at = NULL
    WHERE id IN (SELECT redrive_of FROM run)
)
SELECT (SELECT token FROM run), (SELECT count(*) FROM runs WHERE job_id = ANY(%(job_ids)s::uuid[]))
FROM {_WOKEN}
"""

# A run's claim, as (job id, token) pairs in `held`.
_IS_RUN_HELD = "r.token = held.token AND r.job_id = held.id"

# START_ATTEMPTS_IF_HELD of runs.
START_RUNS_IF_HELD = f"""
UPDATE runs AS r
SET locked_until = now() + make_interval(secs => %(lock_seconds)s), attempt_key = held.key
FROM unnest(%(job_ids)s::uuid[], %(tokens)s::uuid[], %(keys)s::uuid[]) AS held(id, token, key),
    jobs AS j
WHERE {_IS_RUN_HELD} AND j.id = r.job_id AND (r.attempt_key IS NULL OR r.attempt_key = held.key)
RETURNING j.id, held.token, {_DEFINITION}
"""

# RENEW_IF_HELD of runs.
RENEW_RUNS_IF_HELD = f"""
UPDATE runs AS r
SET locked_until = GREATEST(r.locked_until, now() + make_interval(secs => %(lock_seconds)s))
FROM {_HELD}
WHERE {_IS_RUN_HELD}
RETURNING r.job_id
"""

# HOLD_FOR_RETRY_IF_HELD of a run.
HOLD_RUN_FOR_RETRY_IF_HELD = """
UPDATE runs
SET locked_until = now() + make_interval(secs => %(lock_seconds)s), attempt_key = NULL
WHERE job_id = %(job_id)s AND token = %(token)s AND attempt_key = %(key)s
"""

# Finish runs: record each execution as FINISH_MANY does, end its run (only
# under its token; a stale run's execution is still recorded) and count its
# failures on the job, which it no longer holds: the runs of one job that end in
# one batch are counted together, in the order they ended (`streak`). Returns
# the runs ended. Wakes the ticks when a run with a flow key ends, as a finish
# of a keyed job does.
FINISH_RUNS = f"""
WITH {_FINISHED}, {_LOCK_HELD}, {_RECORDED}, ended AS (
    DELETE FROM runs AS r
    USING finished AS f
    WHERE r.token = f.token AND r.job_id = f.job_id
    RETURNING r.job_id, r.token, r.flow_key
), streak AS (
    SELECT job_id, bool_or(status = 'SUCCESSFUL') AS reset,
        count(*) FILTER (WHERE status = 'FAILED'
                         AND end_time > COALESCE(last_success, '-infinity')) AS failed,
        (array_agg(error_message ORDER BY end_time DESC)
            FILTER (WHERE status = 'FAILED'))[1] AS last_error,
        (array_agg(attempt_key ORDER BY end_time DESC)
            FILTER (WHERE status = 'FAILED'))[1] AS attempt_key
    FROM (
        SELECT f.*, max(f.end_time) FILTER (WHERE f.status = 'SUCCESSFUL')
            OVER (PARTITION BY f.job_id) AS last_success
        FROM finished AS f JOIN ended AS e ON e.token = f.token
    ) AS f
    GROUP BY job_id
), counted AS (
    UPDATE jobs AS j
    SET {_count_failures("s.failed", "s.reset", "s.last_error")}
    FROM streak AS s
    WHERE j.id = s.job_id AND j.id IN (SELECT id FROM locked)
    RETURNING j.id, s.attempt_key, {_paused_now("s.failed")} AS tell_paused
), {_told_paused("counted", "recorded")}
SELECT e.job_id, e.token FROM ended AS e, (
    SELECT count(pg_notify('{WAKE_CHANNEL}', '')) FROM (
        SELECT 1 FROM ended WHERE flow_key IS NOT NULL LIMIT 1
    ) AS freed
) AS woken
"""

# Give runs back (a worker stopping): expired at once, so that the tick claims
# them again (CLAIM_EXPIRED_RUNS) and is woken to.
RELEASE_RUNS_IF_HELD = f"""
WITH released AS (
    UPDATE runs AS r
    SET locked_until = now(), attempt_key = NULL
    FROM {_HELD}
    WHERE {_IS_RUN_HELD}
    RETURNING r.token
)
SELECT count(pg_notify('{WAKE_CHANNEL}', ''))
FROM (SELECT 1 FROM released LIMIT 1) AS first_released
"""

# Rescue of runs whose holder is gone: up to `free` expired runs get a new token
# and this owner's expiry, and are sent again for their slot, as an expired
# claim of a job is claimed again.
CLAIM_EXPIRED_RUNS = f"""
WITH expired AS (
    SELECT token FROM runs
    WHERE {EXPIRED}
    ORDER BY locked_until
    LIMIT %(free)s
    FOR UPDATE SKIP LOCKED
)
UPDATE runs AS r
SET token = gen_random_uuid(), locked_until = now() + make_interval(secs => %(lock_seconds)s),
    locked_by = %(owner)s, attempt_key = NULL
FROM expired AS e
WHERE r.token = e.token
RETURNING r.job_id, r.token, r.scheduled_for, r.manual, r.redrive_of, r.fire_at, r.flow_key
"""

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
