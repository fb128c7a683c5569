"""The tables as peewee models, for the API's reads and writes.

The claim protocol does not go through these: its statements are in
app/claims/statements.py.
Models are unbound; `bind_models(db)` attaches them to a process's database.
"""

from peewee import (
    BigAutoField,
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
    UUIDField,
)
from playhouse.postgres_ext import ArrayField, BinaryJSONField, DateTimeTZField


class Job(Model):
    id = UUIDField(primary_key=True)
    type = CharField()
    status = CharField(default="RUNNING")
    execute_at = DateTimeTZField(null=True)
    cron_schedule = TextField(null=True)
    timezone = TextField(default="UTC")
    http_job = BinaryJSONField(null=True)
    amqp_job = BinaryJSONField(null=True)
    tags = ArrayField(TextField, default=list)
    next_run = DateTimeTZField(null=True)
    locked_until = DateTimeTZField(null=True)
    locked_by = TextField(null=True)
    lock_token = UUIDField(null=True)
    attempt_key = UUIDField(null=True)  # the attempt running the claim (app/claims/statements.py)
    created_at = DateTimeTZField()
    updated_at = DateTimeTZField()
    run_requested_at = DateTimeTZField(null=True)
    starts_at = DateTimeTZField(null=True)
    ends_at = DateTimeTZField(null=True)
    max_runs = IntegerField(null=True)
    runs = IntegerField(default=0)
    misfire_grace = FloatField(null=True)  # seconds
    retry_policy = BinaryJSONField(null=True)
    timeout = FloatField(null=True)  # seconds
    secrets = BlobField(null=True)  # sealed (app/secrets/sealing.py); payloads hold "***"
    pause_after_failures = IntegerField(null=True)
    consecutive_failures = IntegerField(default=0)
    paused_reason = TextField(null=True)
    on_failure = BinaryJSONField(null=True)  # callbacks, "***" for their secrets
    on_success = BinaryJSONField(null=True)
    jitter = FloatField(null=True)  # seconds a cron slot may fire after it
    next_slot = DateTimeTZField(null=True)  # the slot next_run fires; null: next_run is it
    overlap_policy = TextField(default="skip")
    flow_key = TextField(null=True)  # app/flow_controls.py
    name = TextField(null=True)  # unique
    version = IntegerField(default=1)  # grows with every change (the ETag)
    max_concurrent = IntegerField(null=True)  # overlap_policy allow; null: the default

    class Meta:
        table_name = "jobs"

    def busy(self, now) -> bool:
        """Executing, and its overlap policy runs one execution at a time: a run
        now or a redrive would then run twice at once. (With 'allow', each runs
        beside the others.)"""
        held = self.locked_until is not None and self.locked_until > now
        return held and self.overlap_policy != "allow"


class Execution(Model):
    id = BigAutoField()
    job = ForeignKeyField(Job, column_name="job_id", on_delete="CASCADE")
    delivery_id = UUIDField()
    scheduled_for = DateTimeTZField()
    start_time = DateTimeTZField()
    end_time = DateTimeTZField()
    status = CharField()
    attempts = IntegerField()
    error_message = TextField(null=True)
    status_code = IntegerField(null=True)
    response_excerpt = TextField(null=True)
    manual = BooleanField(default=False)
    lag_ms = BigIntegerField(null=True)
    duration_ms = BigIntegerField(null=True)
    attempt_key = UUIDField(null=True, unique=True)  # recorded once however often tried
    error_kind = TextField(null=True)
    error_detail = TextField(null=True)
    redrive_of = BigIntegerField(null=True)  # the dead letter this execution ran again
    job_version = IntegerField(null=True)  # the job's version it ran

    class Meta:
        table_name = "executions"


class DeadLetter(Model):
    """A FAILED execution kept to act on (written by app/claims/statements.py, FINISH_MANY)."""

    id = BigAutoField()
    job = ForeignKeyField(Job, column_name="job_id", on_delete="CASCADE")
    execution_id = BigIntegerField()
    delivery_id = UUIDField()
    scheduled_for = DateTimeTZField()
    failed_at = DateTimeTZField()
    attempts = IntegerField()
    status_code = IntegerField(null=True)
    error_kind = TextField(null=True)
    error_message = TextField(null=True)
    error_detail = TextField(null=True)
    request = BinaryJSONField(null=True)
    redrive_of = BigIntegerField(null=True)
    redrive_requested_at = DateTimeTZField(null=True)
    redriven_at = DateTimeTZField(null=True)
    redrive_execution_id = BigIntegerField(null=True)

    class Meta:
        table_name = "dead_letters"


MODELS = (Job, Execution, DeadLetter)


def bind_models(db) -> None:
    db.bind(MODELS, bind_refs=False, bind_backrefs=False)
