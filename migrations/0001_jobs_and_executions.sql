-- Jobs and their execution history (docs/design.md, "Data model").

CREATE TABLE jobs (
    id              uuid PRIMARY KEY,
    type            text NOT NULL CHECK (type IN ('HTTP', 'AMQP')),
    status          text NOT NULL DEFAULT 'RUNNING' CHECK (status IN ('RUNNING', 'STOPPED')),
    execute_at      timestamptz,
    cron_schedule   text,
    timezone        text NOT NULL DEFAULT 'UTC',
    http_job        jsonb,
    amqp_job        jsonb,
    tags            text[] NOT NULL DEFAULT '{}',
    next_run        timestamptz,
    locked_until    timestamptz,
    locked_by       text,
    lock_token      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT jobs_one_schedule CHECK ((execute_at IS NULL) <> (cron_schedule IS NULL)),
    CONSTRAINT jobs_payload_matches_type CHECK (
        (type = 'HTTP' AND http_job IS NOT NULL AND amqp_job IS NULL)
        OR (type = 'AMQP' AND amqp_job IS NOT NULL AND http_job IS NULL)
    )
);

-- The due scan reads only runnable rows in next_run order, so its cost follows the
-- number of due jobs, not the number stored.
CREATE INDEX jobs_due ON jobs (next_run) WHERE status = 'RUNNING' AND next_run IS NOT NULL;
-- Counting one tick's unfinished claims (its backpressure) reads only locked rows.
CREATE INDEX jobs_locked_by ON jobs (locked_by) WHERE locked_by IS NOT NULL;
CREATE INDEX jobs_tags ON jobs USING gin (tags);
CREATE INDEX jobs_created ON jobs (created_at, id);

CREATE TABLE executions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id          uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    delivery_id     uuid NOT NULL,
    scheduled_for   timestamptz NOT NULL,
    start_time      timestamptz NOT NULL,
    end_time        timestamptz NOT NULL,
    status          text NOT NULL CHECK (status IN ('SUCCESSFUL', 'FAILED')),
    attempts        integer NOT NULL CHECK (attempts >= 1),
    error_message   text,
    http_status     integer,
    response_body   text
);

CREATE INDEX executions_job ON executions (job_id, start_time DESC, id DESC);
