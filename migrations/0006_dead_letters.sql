-- Failures someone can act on (issue 14): readable failures, dead letters and
-- their redrive, callbacks, and pausing a job after consecutive failures.

-- error_message is one short sentence, error_kind its class, error_detail the
-- library's own text (docs/api.md, "Failures"). redrive_of: the dead letter whose
-- failed delivery the execution ran again.
ALTER TABLE executions
    ADD COLUMN error_kind text,
    ADD COLUMN error_detail text,
    ADD COLUMN redrive_of bigint;

-- One row per FAILED execution, written by the statement that records it. The
-- execution may be pruned before its dead letter: execution_id is a reference,
-- not a foreign key.
CREATE TABLE dead_letters (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id                  uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    execution_id            bigint NOT NULL,
    delivery_id             uuid NOT NULL,
    scheduled_for           timestamptz NOT NULL,
    failed_at               timestamptz NOT NULL,
    attempts                integer NOT NULL,
    status_code             integer,
    error_kind              text,
    error_message           text,
    error_detail            text,
    request                 jsonb,  -- what was sent, secrets as "***"
    redrive_of              bigint, -- the dead letter whose redrive failed again
    redrive_requested_at    timestamptz,  -- a redrive waits for the tick
    redriven_at             timestamptz,  -- a redrive succeeded
    redrive_execution_id    bigint
);

-- Newest first, for all jobs or one; pruning by age.
CREATE INDEX dead_letters_job ON dead_letters (job_id, id DESC);
CREATE INDEX dead_letters_failed_at ON dead_letters (failed_at);
-- The claim finds a job's oldest pending redrive among the few that wait.
CREATE INDEX dead_letters_redrive_requested ON dead_letters (job_id, redrive_requested_at, id)
    WHERE redrive_requested_at IS NOT NULL;

-- Pause after N consecutive FAILED executions (null: never); the count and the
-- reason are cleared by resume.
ALTER TABLE jobs
    ADD COLUMN pause_after_failures integer CHECK (pause_after_failures BETWEEN 1 AND 100),
    ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0,
    ADD COLUMN paused_reason text;

-- Callbacks: {"url": ..., "headers": {...}} with "***" where a secret header was
-- (sealed in jobs.secrets), POSTed after an execution is recorded.
ALTER TABLE jobs
    ADD COLUMN on_failure jsonb,
    ADD COLUMN on_success jsonb;

-- The outbox of callbacks: a row per callback to send, written in the statement
-- that records its execution (or pauses its job), so none is lost with a worker.
-- Senders lease due rows (locked_until, lock_token) and finish them under the token.
CREATE TABLE callbacks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id          uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    execution_id    bigint,  -- null for job.paused
    dead_letter_id  bigint,
    event           text NOT NULL,
    status          text NOT NULL DEFAULT 'PENDING'
                    CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
    attempts        integer NOT NULL DEFAULT 0,
    status_code     integer,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    lock_token      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);

CREATE INDEX callbacks_due ON callbacks (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX callbacks_execution ON callbacks (execution_id);
CREATE INDEX callbacks_created ON callbacks (created_at);
