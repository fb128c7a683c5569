"""The run actor: execute the claimed slots a run message carries, then finish or
retry each."""

import logging
import time
import uuid
from concurrent.futures import wait
from dataclasses import replace
from datetime import datetime
from functools import partial

import dramatiq

from actors.amqp import AmqpExecutor
from actors.callbacks import CallbackSender, SendCallbacks
from actors.delivery import AttemptResult, Delivery, request_sent, utcnow
from actors.http import HttpExecutor, Outbound
from actors.messages import ACTOR, QUEUE, claims_of, retry_message
from actors.shutdown import GiveBackOnShutdown
from actors.threads import AttemptThreads
from app import claims, failures, metrics
from app.claims import Claim, Definition, Finishing, Outcome
from app.claims.batching import Batcher
from app.claims.keeper import ClaimKeeper
from app.claims.tick import CLAIM_AHEAD
from app.config import Config
from app.failures import Failure
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
from app.timing.schedule import DEFAULT_MAX_CONCURRENT, delivery_id, lag_exceeds

log = logging.getLogger(__name__)

# Dramatiq's own retry limit, for a message whose claims could not be started
# (the database down past the lock time). Attempts are retried by the actor itself.
_DRAMATIQ_MAX_RETRIES = 100
# How long a finish waits out a database outage, in seconds. The target was
# called: the record of it is worth a thread's wait. Past it, the claim lapses and
# the slot runs again.
_FINISH_PATIENCE = 600.0


class Runner:
    def __init__(
        self,
        db,
        broker: dramatiq.Broker,
        lock_seconds: float,
        default_timeout: float,
        box: SecretBox | None = None,
        outbound: Outbound | None = None,
        wake_within: float = 0.0,
        threads: int = 8,
    ):
        self.db = db
        self.broker = broker  # where retries are sent
        self.lock_seconds = lock_seconds
        self.default_timeout = default_timeout  # seconds per attempt
        self.box = box or SecretBox(())
        self.outage = Outage(log)
        self.keeper = ClaimKeeper(db, lock_seconds, self.outage)
        self.threads = AttemptThreads(threads)
        # The finishes of this process's threads, group-committed.
        self.finish = Batcher(
            lambda batch: claims.finish_many(db, batch, wake_within=wake_within), "finishes"
        )
        outbound = outbound or Outbound()
        self.executors = {
            "HTTP": HttpExecutor(outbound),
            "AMQP": AmqpExecutor(outbound.allow, outbound.deny),
        }

    @classmethod
    def from_config(cls, db, broker: dramatiq.Broker, config: Config) -> "Runner":
        return cls(
            db,
            broker,
            config.scheduler_max_job_lock_time,
            config.job_timeout,
            SecretBox(config.secret_key),
            Outbound(config.http_allow_networks, config.http_deny_networks, config.signing_key),
            config.scheduler_interval,
            config.worker_threads,
        )

    def run(self, carried: list, attempt: int = 1, first_attempt_at: str | None = None) -> None:
        """Start the attempts of a message's claims in one statement, run them side
        by side on the attempt threads, and return once each has finished or has
        its retry sent."""
        # The execution starts with its first attempt; retries carry that time along.
        first = datetime.fromisoformat(first_attempt_at) if first_attempt_at else None
        held = claims_of(carried)
        if first is not None:  # a retry: its flow key's rate may hold it back
            held = [claim for claim in held if self._rate_allows(claim, attempt, first)]
        attempts = [(claim, uuid.uuid4()) for claim in held]
        # Past the lock time, a claim not renewed has expired and is claimed again.
        definitions = retry_through(
            lambda: claims.start_attempts(self.db, attempts, self.lock_seconds),
            self.outage,
            self.lock_seconds,
        )
        started = []
        for (claim, key), definition in zip(attempts, definitions, strict=True):
            if definition is None:
                # A copy of a message whose first consumer may still be at the target
                # is dropped too: if that consumer is gone, its claim lapses and the
                # tick claims the slot again.
                log.info(
                    "run message dropped: its claim is no longer held, or another "
                    "attempt is running it",
                    extra={"job_id": str(claim.job_id), "attempt": attempt},
                )
            else:
                started.append((claim, key, definition))
        self.keeper.hold({key: claim for claim, key, _ in started})
        wait([self.threads.submit(partial(self._run, *s, attempt, first)) for s in started])

    def _rate_allows(self, claim: Claim, attempt: int, first_attempt_at: datetime) -> bool:
        """Whether the retry of `claim` may start now by its flow key's rate (and
        is then counted); if not, it is sent again for when the rate allows, its
        claim kept until then."""
        if claim.flow_key is None:
            return True
        wait = retry_through(
            lambda: claims.start_flow_attempt(self.db, claim.flow_key),
            self.outage,
            self.lock_seconds,
        )
        if wait <= 0:
            return True
        ids = {"job_id": str(claim.job_id), "attempt": attempt, "flow_key": claim.flow_key}
        kept = retry_through(
            lambda: claims.renew(self.db, [claim], wait + self.lock_seconds),
            self.outage,
            self.lock_seconds,
        )
        if kept:
            log.info("retry held back %.2fs by its flow key's rate", wait, extra=ids)
            self._send_retry(claim, attempt, first_attempt_at, wait, ids)
        return False

    def _run(
        self,
        claim: Claim,
        key: uuid.UUID,  # this attempt's, told apart from a copy of its message
        definition: Definition,
        attempt: int,
        first_attempt_at: datetime | None,
    ) -> None:
        ids = {"job_id": str(claim.job_id), "attempt": attempt}
        try:
            self._run_attempt(claim, key, definition, attempt, first_attempt_at, ids)
        except Exception:  # the claim lapses, and the slot is claimed and run again
            log.exception("attempt ended in error", extra=ids)
        finally:
            self.keeper.let_go(key)

    def _run_attempt(
        self,
        claim: Claim,
        key: uuid.UUID,
        definition: Definition,
        attempt: int,
        first_attempt_at: datetime | None,
        ids: dict,
    ) -> None:
        # Claimed a little ahead of its slot (or its fire time, with jitter): fire at
        # it, not before, by this host's clock (kept in step by NTP); never wait
        # longer than the tick claims ahead.
        early = (claim.fires - utcnow()).total_seconds()
        if early > 0:
            time.sleep(min(early, CLAIM_AHEAD))
        started = first_attempt_at or utcnow()
        delivery = Delivery(
            claim.job_id,
            delivery_id(claim.job_id, claim.scheduled_for),
            claim.scheduled_for,
            attempt,
        )
        ids["delivery_id"] = str(delivery.delivery_id)
        if not claim.manual and lag_exceeds(claim.fires, started, definition.misfire_grace):
            late = format_duration((started - claim.fires).total_seconds())
            grace = format_duration(definition.misfire_grace)
            reason = f"skipped: started {late} after its slot, misfire_grace is {grace}"
            self._skip(claim, key, definition, delivery, started, ids, reason)
            return
        if definition.basis.schedule.overlap == "allow" and not claim.detached:
            running = self._detach(claim, key, definition)
            if isinstance(running, Claim):
                claim = running  # held by its own run from now on
                self.keeper.hold({key: claim})
            elif running >= (definition.max_concurrent or DEFAULT_MAX_CONCURRENT):
                reason = f"skipped: max_concurrent ({running}) executions already running"
                self._skip(claim, key, definition, delivery, started, ids, reason)
                return
        result = self._attempt(definition, delivery)
        self.keeper.let_go(key)  # no more renewals: a hold for retry sets its own expiry
        metrics.ATTEMPTS.labels(definition.type, "success" if result.success else "failure").inc()
        if result.failure is not None:
            metrics.ATTEMPT_FAILURES.labels(definition.type, result.failure.kind).inc()
        if not result.success:
            policy = policy_from_json(definition.retry_policy)
            backoff = retry_delay(attempt, policy, result.retryable, result.retry_after)
            # Keep the claim through the backoff, so no other tick claims the job
            # meanwhile. A claim already lost is not retried; the attempt made is
            # still recorded.
            if backoff is not None and self._hold_through(claim, key, backoff):
                log.info(
                    "attempt failed, retrying in %.2fs: %s (%s)",
                    backoff,
                    result.error,
                    result.failure.detail or result.failure.kind,
                    extra=ids,
                )
                self._send_retry(claim, attempt + 1, started, backoff, ids)
                return
        failure = result.failure
        outcome = Outcome(
            delivery_id=delivery.delivery_id,
            start_time=started,
            end_time=utcnow(),
            status="SUCCESSFUL" if result.success else "FAILED",
            attempts=attempt,
            error_message=failure and failure.message,
            status_code=result.status_code,
            response_excerpt=result.response_excerpt,
            error_kind=failure and failure.kind,
            error_detail=failure and failure.detail,
            request=None
            if result.success
            else request_sent(definition.type, definition.http_job, definition.amqp_job, delivery),
        )
        callback = _callback_event(definition, outcome.status)
        finishing = Finishing(claim, outcome, definition.basis, key, callback, definition.version)
        self._finish(finishing, definition.type, ids)

    def _send_retry(
        self, claim: Claim, attempt: int, started: datetime, backoff: float, ids: dict
    ) -> None:
        try:
            message = retry_message(claim, attempt, started)
            self.broker.enqueue(message, delay=int(backoff * 1000))
        except Exception as error:  # the held claim lapses, and the slot runs again
            log.warning(
                "could not send the retry, the slot runs again once its claim lapses in %.0fs: %s",
                backoff + self.lock_seconds,
                error,
                extra=ids,
            )

    def _attempt(self, definition: Definition, delivery: Delivery) -> AttemptResult:
        try:
            opened = self.box.open(definition.secrets)
        except SealingError as error:
            return AttemptResult(False, Failure("other", str(error)), retryable=False)
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
            result = AttemptResult(False, failures.internal(error))
        # Neither the record nor the logs may repeat a secret, even one the target echoed.
        failure = result.failure
        if failure is not None:
            failure = Failure(
                failure.kind, scrub(failure.message, secrets), scrub(failure.detail, secrets)
            )
        return replace(
            result, failure=failure, response_excerpt=scrub(result.response_excerpt, secrets)
        )

    def _detach(self, claim: Claim, key: uuid.UUID, definition: Definition) -> Claim | int:
        """The run holding this execution of an 'allow' job, its job moved on to
        its next slot; or the count of the job's runs, not detached (at its
        max_concurrent, or the job's claim is not as read: then it runs under it)."""
        return retry_through(
            lambda: claims.detach(self.db, claim, key, definition, self.lock_seconds),
            self.outage,
            self.lock_seconds,
        )

    def _skip(
        self,
        claim: Claim,
        key: uuid.UUID,
        definition: Definition,
        delivery: Delivery,
        started: datetime,
        ids: dict,
        reason: str,
    ) -> None:
        outcome = Outcome(
            delivery_id=delivery.delivery_id,
            start_time=started,
            end_time=started,
            status="SKIPPED",
            attempts=0,
            error_message=reason,
        )
        finishing = Finishing(claim, outcome, definition.basis, key, job_version=definition.version)
        self._finish(finishing, definition.type, ids)

    def _hold_through(self, claim: Claim, key: uuid.UUID, backoff: float) -> bool:
        return retry_through(
            lambda: claims.hold_for_retry(self.db, claim, key, backoff + self.lock_seconds),
            self.outage,
            self.lock_seconds,
        )

    def _finish(self, finishing: Finishing, job_type: str, ids: dict) -> None:
        if not retry_through(lambda: self.finish(finishing), self.outage, _FINISH_PATIENCE):
            log.warning("finished a stale claim: execution recorded, job left as is", extra=ids)
        outcome, fires = finishing.outcome, finishing.claim.fires
        metrics.EXECUTIONS.labels(job_type, outcome.status).inc()
        metrics.EXECUTION_DURATION.labels(job_type).observe(
            (outcome.end_time - outcome.start_time).total_seconds()
        )
        if finishing.claim.redrive_of is None:  # a redrive runs long after its slot
            metrics.FIRE_LAG.labels(job_type).observe(
                max((outcome.start_time - fires).total_seconds(), 0.0)
            )
        log.info("execution %s", outcome.status.lower(), extra=ids)


def _callback_event(definition: Definition, status: str) -> str | None:
    """The event the job's callbacks are told of, if it has one for `status`."""
    if status == "FAILED" and definition.on_failure:
        return "execution.failed"
    if status == "SUCCESSFUL" and definition.on_success:
        return "execution.succeeded"
    return None


def declare(runner: Runner, shutdown_timeout: float) -> dramatiq.Actor:
    """Register the run actor on the runner's broker, executing with `runner`; a
    stopping worker lets running attempts finish for `shutdown_timeout` seconds."""
    runner.broker.add_middleware(GiveBackOnShutdown(runner.keeper, shutdown_timeout))
    runner.broker.add_middleware(
        SendCallbacks(
            lambda: CallbackSender(
                runner.db, runner.box, runner.executors["HTTP"], runner.default_timeout
            )
        )
    )
    return dramatiq.Actor(
        runner.run,
        broker=runner.broker,
        actor_name=ACTOR,
        queue_name=QUEUE,
        priority=0,
        options={"max_retries": _DRAMATIQ_MAX_RETRIES},
    )
