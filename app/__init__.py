"""Scheduler core: configuration, the claim protocol, jobs, secrets, timing and the
database.

Nothing in this package imports Falcon or Dramatiq, nor `api` or `actors`, except
the composition root `app/commands`; `api` and `actors` build on the rest
(tests/unit/test_layers.py enforces it; docs/design.md, "Layers").
"""
