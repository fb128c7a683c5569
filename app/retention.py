"""Execution retention: prune executions older than execution-retention.

Each tick process prunes in small batches (each its own short statement that
skips rows another pruner holds), so history is trimmed without long locks.
"""

import logging
import threading

import peewee
import psycopg2

log = logging.getLogger(__name__)

BATCH = 1000
# Seconds between pruning rounds; a round deletes batches until one comes back short.
EVERY = 60.0

# Delete one batch of executions older than the retention, oldest
# first, skipping rows another pruner holds, so no lock is held for long.
PRUNE_EXECUTIONS = """
DELETE FROM executions
WHERE id IN (
    SELECT id FROM executions
    WHERE end_time < now() - make_interval(secs => %(retention_seconds)s)
    ORDER BY end_time
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)
"""


def prune_executions(db, retention_seconds: float, batch: int = BATCH) -> int:
    """Delete one batch of executions that ended before the retention; how many went."""
    params = {"retention_seconds": retention_seconds, "batch": batch}
    with db.connection_context():
        return db.execute_sql(PRUNE_EXECUTIONS, params).rowcount


def prune_all(db, retention_seconds: float, stop: threading.Event, batch: int = BATCH) -> int:
    """Prune batch after batch until nothing old is left or `stop` is set."""
    total = 0
    while not stop.is_set():
        deleted = prune_executions(db, retention_seconds, batch)
        total += deleted
        if deleted < batch:
            break
    return total


def run_pruner(db, retention_seconds: float, stop: threading.Event) -> None:
    """Prune every EVERY seconds until `stop` is set; a retention of 0 keeps all."""
    if retention_seconds <= 0:
        return
    while not stop.is_set():
        try:
            deleted = prune_all(db, retention_seconds, stop)
        except (peewee.DatabaseError, psycopg2.Error) as error:
            log.warning("pruning executions failed, will try again: %s", error)
        else:
            if deleted:
                log.info("pruned %d executions past the retention", deleted)
        stop.wait(EVERY)


def start_pruner(db, retention_seconds: float, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(
        target=run_pruner, args=(db, retention_seconds, stop), name="pruner", daemon=True
    )
    thread.start()
    return thread
