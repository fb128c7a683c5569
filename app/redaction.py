"""Secrets in job payloads: hidden when shown, kept when a client sends them back hidden.

A client that reads a job and sends its payload back in a PUT gets "***" where
the secrets were; those placeholders mean "unchanged", never the new secret.
"""

from urllib.parse import urlsplit, urlunsplit

REDACTED = "***"
_AUTH_SECRETS = ("password", "bearer_token")


def redact_http(http_job: dict) -> dict:
    auth = dict(http_job.get("auth") or {"type": "none"})
    for secret in _AUTH_SECRETS:
        if auth.get(secret):
            auth[secret] = REDACTED
    return {**http_job, "auth": auth}


def redact_amqp(amqp_job: dict) -> dict:
    return {**amqp_job, "connection": redact_url(amqp_job["connection"])}


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=_netloc(parts, REDACTED)))


def restore_http(new: dict, old: dict | None) -> dict:
    """`new` with each "***" secret replaced by the one stored in `old`."""
    auth = dict(new["auth"])
    old_auth = (old or {}).get("auth") or {}
    for secret in _AUTH_SECRETS:
        if auth.get(secret) == REDACTED and old_auth.get(secret):
            auth[secret] = old_auth[secret]
    return {**new, "auth": auth}


def restore_amqp(new: dict, old: dict | None) -> dict:
    parts = urlsplit(new["connection"])
    if parts.password != REDACTED or not old:
        return new
    stored = urlsplit(old["connection"])
    if stored.password is None:
        return new
    return {**new, "connection": urlunsplit(parts._replace(netloc=_netloc(parts, stored.password)))}


def _netloc(parts, password: str) -> str:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.username or ''}:{password}@{host}"
