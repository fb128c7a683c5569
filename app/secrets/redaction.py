"""Secrets in job payloads: where they are, how they are hidden, kept and restored.

A secret is an HTTP auth password or bearer token, the value of a sensitive
header (Authorization, Proxy-Authorization, Cookie, X-Api-Key, and any header the
job lists in `secret_headers`), or the password inside a target URL (HTTP or AMQP).
Each has a path ("http.auth.password", "http.headers.cookie", "http.url",
"amqp.connection"). `split_secrets` takes them out of the payloads, leaving "***"
in their place: that is what the database stores in clear and the API shows, while
the secrets themselves are sealed apart (app/secrets/sealing.py). `merge_secrets` puts
them back for the worker.

A client that reads a job and sends a payload back in a PUT sends "***" where the
secrets were; a placeholder means "unchanged", and only where the stored secret
belongs to the same target (host and user).
"""

import base64
from urllib.parse import urlsplit, urlunsplit

REDACTED = "***"
_AUTH_SECRETS = ("password", "bearer_token")
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


def _userinfo(url: str) -> tuple[str, str | None, str]:
    """(user, password or None, host[:port]) of a URL, without parsing the port."""
    userinfo, _, hostport = urlsplit(url).netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    return user, (password if sep else None), hostport


def _with_password(url: str, password: str) -> str:
    user, _, hostport = _userinfo(url)
    return urlunsplit(urlsplit(url)._replace(netloc=f"{user}:{password}@{hostport}"))


def _absolute(url: str) -> str:
    """A URL without a scheme is called over HTTPS, as the reference does."""
    return url if "://" in url else "https://" + url


def _target(url: str) -> tuple[str, str, str]:
    """(scheme, user, host[:port]) a URL's credentials belong to: a secret kept for
    https is not handed to plain http, another user or another host."""
    absolute = _absolute(url)
    user, _, hostport = _userinfo(absolute)
    return urlsplit(absolute).scheme.lower(), user, hostport.lower()


def redact_url(url: str) -> str:
    try:
        if _userinfo(url)[1] is None:
            return url
        return _with_password(url, REDACTED)
    except ValueError:  # not parseable as a URL: show nothing of it
        return REDACTED


def secret_header_names(http_job: dict) -> set[str]:
    """Lowercase names of the headers whose values are secrets."""
    marked = {name.lower() for name in http_job.get("secret_headers") or []}
    return SENSITIVE_HEADERS | marked


def _http_paths(http_job: dict) -> dict[str, str]:
    """Every secret path of an HTTP payload and its current value."""
    found = {}
    auth = http_job.get("auth") or {}
    for name in _AUTH_SECRETS:
        if auth.get(name):
            found[f"http.auth.{name}"] = auth[name]
    sensitive = secret_header_names(http_job)
    for name, value in (http_job.get("headers") or {}).items():
        # A placeholder marks a secret even where the header is no longer listed as
        # one, so that "***" is never sent or stored as a header's real value.
        if value and (name.lower() in sensitive or value == REDACTED):
            found[f"http.headers.{name.lower()}"] = value
    password = _userinfo(_absolute(http_job["url"]))[1]
    if password:
        found["http.url"] = password
    return found


def _amqp_paths(amqp_job: dict) -> dict[str, str]:
    password = _userinfo(amqp_job["connection"])[1]
    return {"amqp.connection": password} if password else {}


def _put_http(http_job: dict, values: dict[str, str]) -> dict:
    """`http_job` with the secrets at the given paths set to the given values."""
    http_job = dict(http_job)
    auth = dict(http_job.get("auth") or {"type": "none"})
    headers = dict(http_job.get("headers") or {})
    for path, value in values.items():
        kind, _, name = path.removeprefix("http.").partition(".")
        if kind == "auth":
            auth[name] = value
        elif kind == "headers":
            for header in headers:
                if header.lower() == name:
                    headers[header] = value
        elif kind == "url":
            http_job["url"] = _with_password(_absolute(http_job["url"]), value)
    http_job["auth"] = auth
    if "headers" in http_job or headers:
        http_job["headers"] = headers
    return http_job


def _put_amqp(amqp_job: dict, values: dict[str, str]) -> dict:
    if "amqp.connection" not in values:
        return amqp_job
    return {
        **amqp_job,
        "connection": _with_password(amqp_job["connection"], values["amqp.connection"]),
    }


def split_secrets(
    http_job: dict | None, amqp_job: dict | None
) -> tuple[dict | None, dict | None, dict[str, str]]:
    """(http_job, amqp_job) with every secret replaced by "***", and the secrets by path.

    Placeholders already in the payloads are not secrets and are left out.
    """
    secrets: dict[str, str] = {}
    if http_job is not None:
        found = {p: v for p, v in _http_paths(http_job).items() if v != REDACTED}
        secrets.update(found)
        http_job = _put_http(http_job, dict.fromkeys(found, REDACTED))
    if amqp_job is not None:
        found = {p: v for p, v in _amqp_paths(amqp_job).items() if v != REDACTED}
        secrets.update(found)
        amqp_job = _put_amqp(amqp_job, dict.fromkeys(found, REDACTED))
    return http_job, amqp_job, secrets


def merge_secrets(
    http_job: dict | None, amqp_job: dict | None, secrets: dict[str, str]
) -> tuple[dict | None, dict | None]:
    """The payloads with the placeholders at `secrets`' paths filled in."""
    if http_job is not None:
        http_job = _put_http(http_job, {p: v for p, v in secrets.items() if p.startswith("http.")})
    if amqp_job is not None:
        amqp_job = _put_amqp(amqp_job, secrets)
    return http_job, amqp_job


# A job's callbacks: HTTP targets of their own ({"url", "headers", and
# "secret_headers" if any}), whose secrets (sensitive headers, those listed, a
# password in the URL) are kept as an HTTP payload's are,
# under paths of their own ("on_failure.headers.authorization").
CALLBACKS = ("on_failure", "on_success")


def _as_http(callback: dict) -> dict:
    return {"method": "POST", "headers": {}, **callback}


def _as_callback(http_job: dict, secret_headers: list[str] | None) -> dict:
    callback = {"url": http_job["url"], "headers": http_job["headers"]}
    return {**callback, "secret_headers": secret_headers} if secret_headers else callback


def split_callback(name: str, callback: dict) -> tuple[dict, dict[str, str]]:
    """(callback with "***" for its secrets, its secrets by path)."""
    http_job, _, found = split_secrets(_as_http(callback), None)
    shown = _as_callback(http_job, callback.get("secret_headers"))
    return shown, {f"{name}.{path.removeprefix('http.')}": v for path, v in found.items()}


def merge_callback(name: str, callback: dict, secrets: dict[str, str]) -> dict:
    """The callback with its secrets from `secrets` put back."""
    own = {
        f"http.{p.removeprefix(name + '.')}": v
        for p, v in secrets.items()
        if p.startswith(name + ".")
    }
    http_job = merge_secrets(_as_http(callback), None, own)[0]
    return _as_callback(http_job, callback.get("secret_headers"))


def restore_callback(new: dict, old: dict | None) -> dict:
    """A new callback with each "***" replaced by the old one's secret, where the
    new one still calls the same target."""
    if old is None:
        return new
    http_job = restore_secrets(_as_http(new), None, _as_http(old), None)[0]
    return _as_callback(http_job, new.get("secret_headers"))


def redact_http(http_job: dict) -> dict:
    return split_secrets(http_job, None)[0]


def redact_amqp(amqp_job: dict) -> dict:
    return split_secrets(None, amqp_job)[1]


def restore_secrets(
    new_http: dict | None,
    new_amqp: dict | None,
    old_http: dict | None,
    old_amqp: dict | None,
) -> tuple[dict | None, dict | None]:
    """New payloads with each "***" replaced by the stored secret at the same path,
    where the new payload still addresses the same target (user and host)."""
    kept: dict[str, str] = {}
    if new_http is not None and old_http is not None:
        same_user = (new_http.get("auth") or {}).get("username") == (
            old_http.get("auth") or {}
        ).get("username")
        if same_user and _target(new_http["url"]) == _target(old_http["url"]):
            kept.update(_http_paths(old_http))
    if (
        new_amqp is not None
        and old_amqp is not None
        and _target(new_amqp["connection"]) == _target(old_amqp["connection"])
    ):
        kept.update(_amqp_paths(old_amqp))
    placeholders = {
        path
        for path, value in {
            **(_http_paths(new_http) if new_http else {}),
            **(_amqp_paths(new_amqp) if new_amqp else {}),
        }.items()
        if value == REDACTED
    }
    return merge_secrets(new_http, new_amqp, {p: kept[p] for p in placeholders if p in kept})


def placeholders_left(http_job: dict | None, amqp_job: dict | None) -> list[str]:
    """Paths still holding "***": secrets the client never gave us."""
    found = {
        **(_http_paths(http_job) if http_job else {}),
        **(_amqp_paths(amqp_job) if amqp_job else {}),
    }
    return sorted(path for path, value in found.items() if value == REDACTED)


def scrub(text: str | None, secrets: dict[str, str]) -> str | None:
    """`text` with every secret value in it replaced by "***"."""
    if not text:
        return text
    for value in sorted(secrets.values(), key=len, reverse=True):
        if len(value) >= 3:
            text = text.replace(value, REDACTED)
    return text


def basic_credentials(http_job: dict) -> tuple[str, str] | None:
    """(user, password) sent as HTTP basic auth: the job's basic auth, else those in its URL."""
    auth = http_job.get("auth") or {}
    if auth.get("type") == "basic":
        return auth["username"], auth["password"]
    user, password, _ = _userinfo(_absolute(http_job["url"]))
    return (user, password) if password is not None else None


def basic_token(user: str, password: str) -> str:
    """The base64 form basic auth puts on the wire (and a target may echo back)."""
    return base64.b64encode(f"{user}:{password}".encode()).decode()
