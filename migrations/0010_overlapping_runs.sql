-- The overlap policy 'allow' (issue 15): a recurring job's slots start on time
-- even while earlier ones run, up to max_concurrent (default 10) at once. The
-- job row's claim is one per job, so an execution that may run beside others
-- leaves it as soon as its attempt starts: the job moves on to its next slot,
-- and the execution is fenced by a run of its own (app/claims/statements.py,
-- DETACH_IF_HELD), with its own token, expiry and attempt key.
ALTER TABLE jobs DROP CONSTRAINT jobs_overlap_policy_check;
ALTER TABLE jobs
    ADD CONSTRAINT jobs_overlap_policy_check
        CHECK (overlap_policy IN ('skip', 'buffer_one', 'allow')),
    ADD COLUMN max_concurrent integer CHECK (max_concurrent BETWEEN 1 AND 100);

CREATE TABLE runs (
    token uuid PRIMARY KEY,  -- the run's claim: every later step is fenced by it
    job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    scheduled_for timestamptz NOT NULL,  -- the slot, as the claim carried it
    fire_at timestamptz,
    manual boolean NOT NULL DEFAULT false,
    redrive_of bigint,
    flow_key text,  -- the job's, counted in its key's in_flight
    locked_until timestamptz NOT NULL,
    locked_by text,
    attempt_key uuid
);
CREATE INDEX runs_job ON runs (job_id);
CREATE INDEX runs_expiry ON runs (locked_until);
