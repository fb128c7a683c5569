-- Shaping the traffic (issue 15). Jitter: a recurring job's slots fire up to
-- `jitter` seconds after them, by a deterministic offset per job and slot, so
-- that jobs sharing a schedule do not all call at once. next_run is then the fire time, which the
-- due index and the claim follow, and next_slot the slot it serves (its delivery
-- id and X-Scheduler-Scheduled-For); next_slot is null without jitter, where the
-- two are one.
ALTER TABLE jobs
    ADD COLUMN jitter double precision CHECK (jitter > 0),  -- seconds
    ADD COLUMN next_slot timestamptz;

-- What becomes of a recurring job's slots that come while its execution runs:
-- 'skip' records each as a SKIPPED execution, 'buffer_one' runs the first of
-- them as soon as the execution ends and skips the rest.
ALTER TABLE jobs
    ADD COLUMN overlap_policy text NOT NULL DEFAULT 'skip'
        CHECK (overlap_policy IN ('skip', 'buffer_one'));
