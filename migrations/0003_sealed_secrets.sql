-- Job secrets sealed apart from the payloads (issue 5): http_job / amqp_job keep
-- "***" where a secret was, and `secrets` holds a Fernet token of {path: value}.
-- Rows written before this keep their secrets in the payload until
-- `scheduler rotate-secrets` seals them.
ALTER TABLE jobs ADD COLUMN secrets bytea;
