"""Ordered SQL migrations, applied by `scheduler migrate` (see app/migrate.py)."""
