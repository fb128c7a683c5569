"""The run actor: execute one claimed slot of one job, then finish or retry it."""

import logging
import uuid
from dataclasses import replace
from datetime import datetime

import dramatiq
from dramatiq.middleware import CurrentMessage

from actors.amqp import AmqpExecutor
from actors.delivery import AttemptResult, Delivery, utcnow
from actors.http import HttpExecutor, Outbound
from actors.messages import ACTOR, QUEUE, claim_of
from actors.shutdown import GiveBackOnShutdown
from app import claims, metrics
from app.claims import Claim, Definition, Finishing, Outcome
from app.claims.batching import Batcher
from app.claims.keeper import ClaimKeeper
from app.config import Config
from app.outage import Outage, retry_through
from app.secrets.redaction import (
    basic_credentials,
    basic_token,
    merge_secrets,
    scrub,
    split_secrets,
)
from app.secrets.sealing import SealingError, SecretBox
from app.timing.durations import format_duration
from app.timing.retry import policy_from_json, retry_delay
from app.timing.schedule import delivery_id, lag_exceeds

log = logging.getLogger(__name__)

# Dramatiq's own retry limit: only a guard, since the actor decides when to stop
# (it records the last failure itself) and never retries more than the policy says.
_DRAMATIQ_MAX_RETRIES = 100
# How long a finish waits out a database outage, in seconds, before its message is
# retried by Dramatiq (calling the target again). The target was called: the
# record of it is worth a worker thread's wait.
_FINISH_PATIENCE = 600.0


class Runner:
    def __init__(
        self,
        db,
        lock_seconds: float,
        default_timeout: float,
        box: SecretBox | None = None,
        outbound: Outbound | None = None,
        wake_within: float = 0.0,
    ):
        self.db = db
        self.lock_seconds = lock_seconds
        self.default_timeout = default_timeout  # seconds per attempt
        self.box = box or SecretBox(())
        self.outage = Outage(log)
        self.keeper = ClaimKeeper(db, lock_seconds, self.outage)
        # The starts and finishes of this process's threads, each group-committed.
        self.start = Batcher(
            lambda attempts: claims.start_attempts(db, attempts, lock_seconds), "starts"
        )
        self.finish = Batcher(
            lambda batch: claims.finish_many(db, batch, wake_within=wake_within), "finishes"
        )
        self.executors = {"HTTP": HttpExecutor(outbound), "AMQP": AmqpExecutor()}

    @classmethod
    def from_config(cls, db, config: Config) -> "Runner":
        return cls(
            db,
            config.scheduler_max_job_lock_time,
            config.job_timeout,
            SecretBox(config.secret_key),
            Outbound(config.http_allow_networks, config.http_deny_networks, config.signing_key),
            config.scheduler_interval,
        )

    def run(self, job_id: str, token: str, scheduled_for: str, manual: bool = False) -> None:
        claim = claim_of(job_id, token, scheduled_for, manual)
        message = CurrentMessage.get_current_message()
        attempt = message.options.get("retries", 0) + 1
        ids = {"job_id": job_id, "attempt": attempt}
        key = uuid.uuid4()  # this attempt's, told apart from a copy of its message
        # Past the lock time, a claim not renewed has expired and is claimed again.
        definition = retry_through(lambda: self.start((claim, key)), self.outage, self.lock_seconds)
        if definition is None:
            # A copy of a message whose first consumer may still be at the target
            # is dropped too: if that consumer is gone, its claim lapses and the
            # tick claims the slot again.
            log.info(
                "run message dropped: its claim is no longer held, or another attempt "
                "is running it",
                extra=ids,
            )
            return
        # The execution starts with its first attempt; retries carry that time along.
        started = datetime.fromisoformat(
            message.options.setdefault("first_attempt_at", utcnow().isoformat())
        )
        delivery = Delivery(
            claim.job_id,
            delivery_id(claim.job_id, claim.scheduled_for),
            claim.scheduled_for,
            attempt,
        )
        ids["delivery_id"] = str(delivery.delivery_id)
        if not claim.manual and lag_exceeds(claim.scheduled_for, started, definition.misfire_grace):
            self._skip(claim, key, definition, delivery, started, ids)
            return
        with self.keeper.holding(claim):
            result = self._attempt(definition, delivery)
        metrics.ATTEMPTS.labels(definition.type, "success" if result.success else "failure").inc()
        if not result.success:
            policy = policy_from_json(definition.retry_policy)
            wait = retry_delay(attempt, policy, result.retryable, result.retry_after)
            # Keep the claim through the wait, so no other tick claims the job meanwhile.
            # A claim already lost is not retried; the attempt made is still recorded.
            if wait is not None and self._hold_through(claim, key, wait):
                log.info("attempt failed, retrying in %.2fs: %s", wait, result.error, extra=ids)
                raise dramatiq.Retry(result.error or "failed", delay=int(wait * 1000))
        outcome = Outcome(
            delivery_id=delivery.delivery_id,
            start_time=started,
            end_time=utcnow(),
            status="SUCCESSFUL" if result.success else "FAILED",
            attempts=attempt,
            error_message=result.error,
            status_code=result.status_code,
            response_excerpt=result.response_excerpt,
        )
        self._finish(Finishing(claim, outcome, definition.basis, key), definition.type, ids)

    def _attempt(self, definition: Definition, delivery: Delivery) -> AttemptResult:
        try:
            opened = self.box.open(definition.secrets)
        except SealingError as error:
            return AttemptResult(False, str(error), retryable=False)
        http_job, amqp_job = merge_secrets(definition.http_job, definition.amqp_job, opened)
        # Every secret value, sealed or (in a job from before sealing) still in clear,
        # and the base64 form of basic credentials, which a target may echo.
        secrets = split_secrets(http_job, amqp_job)[2]
        credentials = basic_credentials(http_job) if http_job else None
        if credentials is not None:
            secrets["http.auth.basic"] = basic_token(*credentials)
        payload = http_job if definition.type == "HTTP" else amqp_job
        timeout = definition.timeout or self.default_timeout
        try:
            result = self.executors[definition.type].execute(payload, delivery, timeout)
        except Exception as error:  # a bug here must end in the record, not lose the job
            log.error(
                "executor error: %s",
                scrub(repr(error), secrets),
                extra={"job_id": str(delivery.job_id)},
            )
            result = AttemptResult(False, f"internal error: {type(error).__name__}: {error}")
        # Neither the record nor the logs may repeat a secret, even one the target echoed.
        return replace(
            result,
            error=scrub(result.error, secrets),
            response_excerpt=scrub(result.response_excerpt, secrets),
        )

    def _skip(
        self,
        claim: Claim,
        key: uuid.UUID,
        definition: Definition,
        delivery: Delivery,
        started: datetime,
        ids: dict,
    ) -> None:
        grace = definition.misfire_grace
        late = format_duration((started - claim.scheduled_for).total_seconds())
        outcome = Outcome(
            delivery_id=delivery.delivery_id,
            start_time=started,
            end_time=started,
            status="SKIPPED",
            attempts=0,
            error_message=f"skipped: started {late} after its slot, misfire_grace is "
            f"{format_duration(grace)}",
        )
        self._finish(Finishing(claim, outcome, definition.basis, key), definition.type, ids)

    def _hold_through(self, claim: Claim, key: uuid.UUID, wait: float) -> bool:
        return retry_through(
            lambda: claims.hold_for_retry(self.db, claim, key, wait + self.lock_seconds),
            self.outage,
            self.lock_seconds,
        )

    def _finish(self, finishing: Finishing, job_type: str, ids: dict) -> None:
        if not retry_through(lambda: self.finish(finishing), self.outage, _FINISH_PATIENCE):
            log.warning("finished a stale claim: execution recorded, job left as is", extra=ids)
        outcome, slot = finishing.outcome, finishing.claim.scheduled_for
        metrics.EXECUTIONS.labels(job_type, outcome.status).inc()
        metrics.EXECUTION_DURATION.labels(job_type).observe(
            (outcome.end_time - outcome.start_time).total_seconds()
        )
        metrics.FIRE_LAG.labels(job_type).observe(
            max((outcome.start_time - slot).total_seconds(), 0.0)
        )
        log.info("execution %s", outcome.status.lower(), extra=ids)


def declare(broker: dramatiq.Broker, runner: Runner) -> dramatiq.Actor:
    """Register the run actor on `broker`, executing with `runner`."""
    broker.add_middleware(GiveBackOnShutdown(runner.keeper))
    return dramatiq.Actor(
        runner.run,
        broker=broker,
        actor_name=ACTOR,
        queue_name=QUEUE,
        priority=0,
        options={"max_retries": _DRAMATIQ_MAX_RETRIES},
    )
