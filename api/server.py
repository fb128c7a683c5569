"""The API under waitress, as `scheduler web` and `scheduler dev` serve it."""

from waitress import create_server
from waitress.task import ThreadedTaskDispatcher

from api import create_app
from app.config import Config


class _Dispatcher(ThreadedTaskDispatcher):
    """waitress's request threads, drained for `drain_seconds` on shutdown."""

    def __init__(self, drain_seconds: float):
        super().__init__()
        self.drain_seconds = drain_seconds

    def shutdown(self, cancel_pending=True, timeout=5):
        return super().shutdown(cancel_pending, self.drain_seconds)


def web_server(config: Config, db, host_port: tuple[str, int] | None = None):
    """A waitress server for the API; `.run()` serves until SystemExit or `.close()`.

    web-idle-timeout is waitress's channel_timeout (its only connection deadline);
    web-shutdown-timeout bounds the wait for in-flight requests on shutdown.
    """
    dispatcher = _Dispatcher(config.web_shutdown_timeout)
    dispatcher.set_thread_count(config.web_threads)
    host, port = host_port or config.web_api_host
    return create_server(
        create_app(db),
        host=host,
        port=port,
        threads=config.web_threads,
        channel_timeout=config.web_idle_timeout,
        ident="scheduler",
        _dispatcher=dispatcher,
    )
