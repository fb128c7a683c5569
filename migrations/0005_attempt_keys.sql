-- The attempt running a claim (issue 7). RabbitMQ hands a message out again as
-- soon as its consumer's connection drops, while that consumer (or its dead
-- process's request) may still be at the target: the attempt key keeps a second
-- attempt of the same claim from starting. A finish retried after its connection
-- broke may have committed already: the key keeps its execution from being
-- recorded twice.
ALTER TABLE jobs ADD COLUMN attempt_key uuid;
ALTER TABLE executions ADD COLUMN attempt_key uuid;
CREATE UNIQUE INDEX executions_attempt_key ON executions (attempt_key);
