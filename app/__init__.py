"""Scheduler core: configuration, database, scheduling maths, claims and the tick loop.

Nothing in this package imports Falcon or Dramatiq; `api` and `actors` build on it.
"""
