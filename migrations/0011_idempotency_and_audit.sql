-- Idempotency keys and the audit log (issue 16).
--
-- An Idempotency-Key's answer is stored in the transaction that acted, so a key
-- is either unused or holds the answer of what was done: never one without the
-- other. Keys are per API key (scope: the SHA-256 of the key, or 'anonymous'),
-- and answer again for 24 hours (api/idempotency.py).
CREATE TABLE idempotency_keys (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,  -- SHA-256 of the method, path and body
    status integer NOT NULL,
    response jsonb,
    etag text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (scope, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

-- Every change made through the API, appended in the transaction that made it
-- (app/audit.py). No foreign key: an entry outlives the job it names.
CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL,
    action text NOT NULL,
    job_id uuid,
    key text,  -- what the action names when it is not a job: a flow key
    actor text NOT NULL,  -- the first 8 hex digits of the API key's SHA-256, or 'anonymous'
    request_id text,
    changes jsonb
);
CREATE INDEX audit_log_job ON audit_log (job_id, id) WHERE job_id IS NOT NULL;
CREATE INDEX audit_log_at ON audit_log (at);
