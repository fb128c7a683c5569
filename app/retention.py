"""Retention: prune executions (and their callbacks) older than
execution-retention, dead letters older than dead-letter-retention, audit
entries older than audit-retention, and idempotency keys after a day.

Each tick process prunes in small batches (each its own short statement that
skips rows another pruner holds), so history is trimmed without long locks.
"""

import logging
import threading
from dataclasses import dataclass

import peewee
import psycopg2

log = logging.getLogger(__name__)

BATCH = 1000
# Seconds between pruning rounds; a round deletes batches until one comes back short.
EVERY = 60.0


@dataclass(frozen=True)
class Kept:
    """Rows of one table kept for a while: which, by which time they age, and which
    of the old ones stay all the same."""

    what: str
    table: str
    aged_by: str
    unless: str = "false"

    @property
    def prune(self) -> str:
        """Delete one batch of rows older than the retention, oldest first, skipping
        rows another pruner holds, so no lock is held for long."""
        return f"""
DELETE FROM {self.table}
WHERE id IN (
    SELECT id FROM {self.table}
    WHERE {self.aged_by} < now() - make_interval(secs => %(retention_seconds)s)
      AND NOT ({self.unless})
    ORDER BY {self.aged_by}
    LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED
)
"""


EXECUTIONS = Kept("executions", "executions", "end_time")
# Callbacks are kept as long as executions, but one still to send.
CALLBACKS = Kept("callbacks", "callbacks", "created_at", unless="status = 'PENDING'")
# A dead letter whose redrive is pending stays until it has run.
DEAD_LETTERS = Kept(
    "dead letters", "dead_letters", "failed_at", unless="redrive_requested_at IS NOT NULL"
)


AUDIT = Kept("audit entries", "audit_log", "at")
IDEMPOTENCY_KEYS = Kept("idempotency keys", "idempotency_keys", "created_at")
# How long an Idempotency-Key answers again (api/idempotency.py).
IDEMPOTENCY_KEPT_SECONDS = 24 * 3600.0


def prune(db, kept: Kept, retention_seconds: float, batch: int = BATCH) -> int:
    """Delete one batch of rows older than the retention; how many went."""
    params = {"retention_seconds": retention_seconds, "batch": batch}
    with db.connection_context():
        return db.execute_sql(kept.prune, params).rowcount


def prune_executions(db, retention_seconds: float, batch: int = BATCH) -> int:
    return prune(db, EXECUTIONS, retention_seconds, batch)


def prune_all(
    db,
    retention_seconds: float,
    stop: threading.Event,
    batch: int = BATCH,
    kept: Kept = EXECUTIONS,
) -> int:
    """Prune batch after batch until nothing old is left or `stop` is set."""
    total = 0
    while not stop.is_set():
        deleted = prune(db, kept, retention_seconds, batch)
        total += deleted
        if deleted < batch:
            break
    return total


def run_pruner(db, retentions: dict[Kept, float], stop: threading.Event) -> None:
    """Prune every EVERY seconds until `stop` is set; a retention of 0 keeps all."""
    retentions = {kept: seconds for kept, seconds in retentions.items() if seconds > 0}
    if not retentions:
        return
    while not stop.is_set():
        for kept, seconds in retentions.items():
            try:
                deleted = prune_all(db, seconds, stop, kept=kept)
            except (peewee.DatabaseError, psycopg2.Error) as error:
                log.warning("pruning %s failed, will try again: %s", kept.what, error)
            else:
                if deleted:
                    log.info("pruned %d %s past the retention", deleted, kept.what)
        stop.wait(EVERY)


def start_pruner(db, config, stop: threading.Event) -> threading.Thread:
    """Prune by the configured retentions, from a thread of its own."""
    retentions = {
        EXECUTIONS: config.execution_retention,
        CALLBACKS: config.execution_retention,
        DEAD_LETTERS: config.dead_letter_retention,
        AUDIT: config.audit_retention,
        IDEMPOTENCY_KEYS: IDEMPOTENCY_KEPT_SECONDS,
    }
    thread = threading.Thread(
        target=run_pruner, args=(db, retentions, stop), name="pruner", daemon=True
    )
    thread.start()
    return thread
