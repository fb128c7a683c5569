"""Secrets in job payloads: hidden when shown, kept when a client sends them back hidden.

A client that reads a job and sends its payload back in a PUT gets "***" where
the secrets were; those placeholders mean "unchanged", never the new secret, and
only where the stored secret belongs to the same user at the same host.
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


def _userinfo(url: str) -> tuple[str, str | None, str]:
    """(user, password or None, host[:port]) of a URL, without parsing the port."""
    userinfo, _, hostport = urlsplit(url).netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    return user, (password if sep else None), hostport


def _host(url: str) -> str:
    """host[:port] of a URL, lowercased; a URL without a scheme is taken as https."""
    return _userinfo(url if "://" in url else "https://" + url)[2].lower()


def _with_password(url: str, password: str) -> str:
    user, _, hostport = _userinfo(url)
    return urlunsplit(urlsplit(url)._replace(netloc=f"{user}:{password}@{hostport}"))


def redact_url(url: str) -> str:
    if _userinfo(url)[1] is None:
        return url
    return _with_password(url, REDACTED)


def restore_http(new: dict, old: dict | None) -> dict:
    """`new` with each "***" secret replaced by the one stored in `old`, if `new`
    still calls the same host as the same user."""
    auth = dict(new["auth"])
    old_auth = (old or {}).get("auth") or {}
    same_target = old is not None and _host(new["url"]) == _host(old["url"])
    if not same_target or auth.get("username") != old_auth.get("username"):
        return new
    for secret in _AUTH_SECRETS:
        if auth.get(secret) == REDACTED and old_auth.get(secret):
            auth[secret] = old_auth[secret]
    return {**new, "auth": auth}


def restore_amqp(new: dict, old: dict | None) -> dict:
    """`new` with a "***" URL password replaced by the stored one of the same user and host."""
    user, password, hostport = _userinfo(new["connection"])
    if password != REDACTED or not old:
        return new
    old_user, old_password, old_hostport = _userinfo(old["connection"])
    if old_password is None or (old_user, old_hostport) != (user, hostport):
        return new
    return {**new, "connection": _with_password(new["connection"], old_password)}


def placeholders_left(http_job: dict | None, amqp_job: dict | None) -> list[str]:
    """Fields still holding "***": a secret the client never gave us."""
    left = []
    auth = (http_job or {}).get("auth") or {}
    left += [f"http_job.auth.{name}" for name in _AUTH_SECRETS if auth.get(name) == REDACTED]
    if amqp_job and _userinfo(amqp_job["connection"])[1] == REDACTED:
        left.append("amqp_job.connection password")
    return left
