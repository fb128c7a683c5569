-- Flow control (issue 15): jobs naming one flow_key share its limits, across
-- every tick and worker: at most `parallelism` claims held at once (an attempt
-- running, or a retry waiting for its turn) and at most `rate` attempts started
-- in any `period` (app/claims/statements.py, CLAIM_DUE_FLOWS).
-- Every key a job names has a row, with no limits until some are set (the API
-- shows a key without limits as absent, and lifting them leaves the row): the
-- claim goes key by key, locking each key's row.
CREATE TABLE flow_controls (
    key text PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 200),
    rate integer CHECK (rate > 0),
    period double precision NOT NULL DEFAULT 1 CHECK (period > 0),  -- seconds
    parallelism integer CHECK (parallelism > 0),
    -- When the attempts of the last period started, oldest first: a sliding log
    -- (at most `rate` long), so that no window of `period` holds more than `rate`.
    starts timestamptz[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- No foreign key: its trigger costs every update of every job (some 0.02 ms of
-- PostgreSQL CPU per execution in bench/burst.py); the API writes a key's row in
-- the transaction of the job naming it, and a row is never deleted.
ALTER TABLE jobs ADD COLUMN flow_key text;

-- Keyed jobs wait behind their limits while due, so they leave the due index
-- that the claim of every other job walks: a backlog behind a limit never slows
-- it. Each job is in one of the two, so a run writes no more index entries.
DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs (next_run)
    WHERE status = 'RUNNING' AND next_run IS NOT NULL AND flow_key IS NULL;
-- A key's jobs, due first (its claim, its claims held: an index on
-- locked_until would stop every renewal from being a HOT update)...
CREATE INDEX jobs_flow ON jobs (flow_key, next_run) WHERE flow_key IS NOT NULL;
-- ...and all keys' next slots, for the tick to know when to wake.
CREATE INDEX jobs_flow_due ON jobs (next_run)
    WHERE status = 'RUNNING' AND next_run IS NOT NULL AND flow_key IS NOT NULL;
