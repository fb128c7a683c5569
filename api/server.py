"""The API under waitress, as `scheduler web` and `scheduler dev` serve it."""

import logging

from waitress import create_server
from waitress.task import ThreadedTaskDispatcher

from api import create_app
from api.health import broker_check
from app.config import Config
from app.secrets.sealing import SecretBox

log = logging.getLogger(__name__)


class _Dispatcher(ThreadedTaskDispatcher):
    """waitress's request threads, drained for `drain_seconds` on shutdown."""

    def __init__(self, drain_seconds: float):
        super().__init__()
        self.drain_seconds = drain_seconds

    def shutdown(self, cancel_pending=True, timeout=5):
        return super().shutdown(cancel_pending, self.drain_seconds)


def web_server(config: Config, db, *, in_process_broker: bool = False):
    """A waitress server for the API; `.run()` serves until SystemExit or `.close()`.

    web-idle-timeout is waitress's channel_timeout (its only connection deadline);
    web-shutdown-timeout bounds the wait for in-flight requests on shutdown.
    in_process_broker: `scheduler dev` without RabbitMQ (/ready checks none).
    """
    dispatcher = _Dispatcher(config.web_shutdown_timeout)
    dispatcher.set_thread_count(config.web_threads)
    host, port = config.web_api_host
    app = create_app(
        db,
        box=SecretBox(config.secret_key),
        api_keys=config.api_keys,
        api_read_keys=config.api_read_keys,
        max_body_bytes=config.max_body_bytes,
        broker=None if in_process_broker else broker_check(config.broker_url),
    )
    if not config.api_keys and not config.api_read_keys:
        log.warning(
            "NO API KEYS: the API is open to anyone who can reach %s:%d; "
            "set SCHEDULER_API_KEYS to require a key",
            host,
            port,
        )
    return create_server(
        app,
        host=host,
        port=port,
        threads=config.web_threads,
        channel_timeout=config.web_idle_timeout,
        ident="scheduler",
        _dispatcher=dispatcher,
    )
