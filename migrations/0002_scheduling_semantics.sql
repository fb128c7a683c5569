-- Pause/resume, run now, windows, max runs, misfire grace, per-job retry policy
-- and timeout; richer execution history (issue 4).

ALTER TABLE jobs
    ADD COLUMN run_requested_at timestamptz,
    ADD COLUMN starts_at timestamptz,
    ADD COLUMN ends_at timestamptz,
    ADD COLUMN max_runs integer CHECK (max_runs >= 1),
    ADD COLUMN runs integer NOT NULL DEFAULT 0,
    ADD COLUMN misfire_grace double precision CHECK (misfire_grace > 0),  -- seconds
    -- {"max_attempts": n, "min_backoff": seconds, "max_backoff": seconds}; null: the default
    ADD COLUMN retry_policy jsonb,
    ADD COLUMN timeout double precision CHECK (timeout > 0);  -- seconds per attempt

-- Run-now requests are claimed whatever next_run says.
CREATE INDEX jobs_run_requested ON jobs (run_requested_at) WHERE run_requested_at IS NOT NULL;
CREATE INDEX jobs_status_type ON jobs (status, type);

ALTER TABLE executions RENAME COLUMN http_status TO status_code;
ALTER TABLE executions RENAME COLUMN response_body TO response_excerpt;
ALTER TABLE executions
    ADD COLUMN manual boolean NOT NULL DEFAULT false,
    ADD COLUMN lag_ms bigint,
    ADD COLUMN duration_ms bigint,
    DROP CONSTRAINT executions_status_check,
    ADD CONSTRAINT executions_status_check CHECK (status IN ('SUCCESSFUL', 'FAILED', 'SKIPPED')),
    DROP CONSTRAINT executions_attempts_check,
    ADD CONSTRAINT executions_attempts_check CHECK (attempts >= 0);

-- Retention prunes by age.
CREATE INDEX executions_end_time ON executions (end_time);
