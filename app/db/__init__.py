"""PostgreSQL: the connection pool, migrations, and the wake-up channel."""
