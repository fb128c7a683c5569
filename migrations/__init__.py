"""Ordered SQL migrations, applied by `scheduler migrate` (see app/db/migrate.py)."""
