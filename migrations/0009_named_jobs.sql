-- Named jobs and versions (issue 16). A job may have a unique name, so that a
-- deploy can register it again and again without making copies (PUT
-- /v1/jobs/by-name/{name}); `version` grows with every change of the job, so
-- that a client can update it only as it last read it (If-Match), and each
-- execution records the version it ran. Neither column changes on the hot path:
-- the claim's updates stay in place (HOT).
ALTER TABLE jobs
    ADD COLUMN name text CHECK (name ~ '^[A-Za-z0-9._:/-]{1,200}$'),
    ADD COLUMN version integer NOT NULL DEFAULT 1;
CREATE UNIQUE INDEX jobs_name ON jobs (name) WHERE name IS NOT NULL;

ALTER TABLE executions ADD COLUMN job_version integer;
