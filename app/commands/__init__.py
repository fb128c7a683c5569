"""The composition root: the `scheduler` commands build real parts from the
configuration and wire them together.

This is the only package under `app` that may import `api`, `actors`, Falcon or
Dramatiq (tests/unit/test_layers.py holds every module to it).
"""
