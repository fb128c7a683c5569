"""The HTTP executor: one requests session per worker thread, so connections are reused.

Every hop is resolved first and its address checked by the outbound guard
(actors/netguard.py); the request then goes to that very address, with TLS still
checking the name, so DNS cannot answer differently between check and connect.
"""

import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from actors.delivery import (
    RESPONSE_EXCERPT_BYTES,
    USER_AGENT,
    AttemptResult,
    Delivery,
    excerpt,
    utcnow,
)
from actors.netguard import TargetRefused, checked_address
from actors.signing import signed_headers
from app import failures
from app.failures import NameNotResolved
from app.secrets.redaction import basic_credentials, basic_token, secret_header_names
from app.timing.retry import parse_retry_after, retryable_status

MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


def target_url(url: str) -> str:
    """The reference sends a URL without a scheme over HTTPS."""
    return url if "://" in url else "https://" + url


def _address(url: str) -> tuple[str, str]:
    return failures.address(url, 443 if url.startswith("https:") else 80)


@dataclass(frozen=True)
class Outbound:
    """How this worker reaches targets: the guard's networks and the signing key."""

    allow: tuple = ()
    deny: tuple = ()
    signing_key: str = ""


class _PinnedAdapter(HTTPAdapter):
    """Sends to the address in the URL; TLS (SNI and certificate) checks the
    request's `pinned_host`, the name the job gave."""

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        name = getattr(request, "pinned_host", None)
        if name and host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = name
            pool_kwargs["assert_hostname"] = name
        return host_params, pool_kwargs


def _pin(url: str, outbound: Outbound) -> tuple[str, str, str]:
    """(URL with the checked address in place of the name, name, Host header)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = checked_address(parts.hostname, port, outbound.allow, outbound.deny)
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{port}"
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc)), parts.hostname, host_header


class HttpExecutor:
    def __init__(self, outbound: Outbound | None = None):
        self.outbound = outbound or Outbound()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.trust_env = False  # a proxy would connect to a name we did not check
            adapter = _PinnedAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        return session

    def execute(self, http_job: dict, delivery: Delivery, timeout: float) -> AttemptResult:
        """One attempt; `timeout` (seconds) bounds connecting and each read."""
        headers = {"User-Agent": USER_AGENT, **http_job.get("headers", {}), **delivery.headers()}
        auth = http_job.get("auth") or {}
        credentials = basic_credentials(http_job)
        if auth.get("type") == "bearer":
            headers["Authorization"] = f"Bearer {auth['bearer_token']}"
        elif credentials is not None:
            headers["Authorization"] = f"Basic {basic_token(*credentials)}"
        body = http_job["body"].encode() if http_job.get("body") is not None else b""
        if self.outbound.signing_key:
            headers.update(
                signed_headers(
                    self.outbound.signing_key, int(time.time()), str(delivery.delivery_id), body
                )
            )
        url = target_url(http_job["url"])
        try:
            response = self._send(
                http_job["method"],
                url,
                headers,
                body if http_job.get("body") is not None else None,
                timeout,
                http_job.get("follow_redirects", False),
                secret_header_names(http_job),
            )
            return self._result(response, http_job)
        except TargetRefused as error:
            return AttemptResult(False, failures.refused_by_guard(str(error)), retryable=False)
        except (requests.RequestException, NameNotResolved) as error:
            failure = failures.unreachable(
                error, *_address(url), timeout, timeouts=(requests.Timeout,)
            )
            return AttemptResult(False, failure)

    def _send(
        self, method, url, headers, body, timeout, follow, secret_headers
    ) -> requests.Response:
        """Send, following redirects (each hop guarded) only when the job asks; a
        redirect to another host drops the secret headers."""
        for _ in range(MAX_REDIRECTS + 1):
            pinned, name, host_header = _pin(url, self.outbound)
            # Prepared alone, not by the session: no cookie a target set reaches
            # another job's target, and nothing of the environment is merged in.
            prepared = requests.Request(
                method, pinned, headers={**headers, "Host": host_header}, data=body
            ).prepare()
            prepared.pinned_host = name

            response = self._session().send(
                prepared, timeout=timeout, allow_redirects=False, stream=True
            )
            if not follow or response.status_code not in _REDIRECTS:
                return response
            location = response.headers.get("Location")
            response.close()
            if not location:
                return response
            next_url = urljoin(url, location)
            if urlsplit(next_url).hostname != urlsplit(url).hostname:
                # Credentials were meant for the first host only.
                headers = {k: v for k, v in headers.items() if k.lower() not in secret_headers}
            if response.status_code in (301, 302, 303) and method != "HEAD":
                method, body = "GET", None
            url = next_url
        raise requests.TooManyRedirects(f"more than {MAX_REDIRECTS} redirects")

    def _result(self, response: requests.Response, http_job: dict) -> AttemptResult:
        """The answer, read up to the excerpt's size (a failure reading it is the
        caller's)."""
        with response:
            answer = excerpt(next(response.iter_content(RESPONSE_EXCERPT_BYTES), b""))
        accepted = http_job.get("valid_response_codes") or [200]
        if response.status_code in accepted:
            return AttemptResult(True, None, response.status_code, answer)
        return AttemptResult(
            False,
            failures.unexpected_status(response.status_code, accepted),
            response.status_code,
            answer,
            retryable=retryable_status(response.status_code),
            retry_after=parse_retry_after(response.headers.get("Retry-After"), utcnow()),
        )
