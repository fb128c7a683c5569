"""The HTTP executor: one requests session per worker thread, so connections are reused."""

import threading

import requests

from actors.delivery import RESPONSE_EXCERPT_BYTES, AttemptResult, Delivery, excerpt, utcnow
from app.retry import parse_retry_after, retryable_status


def target_url(url: str) -> str:
    """The reference sends a URL without a scheme over HTTPS."""
    return url if "://" in url else "https://" + url


class HttpExecutor:
    def __init__(self):
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def execute(self, http_job: dict, delivery: Delivery, timeout: float) -> AttemptResult:
        """One attempt; `timeout` (seconds) bounds connecting and each read."""
        headers = {**http_job.get("headers", {}), **delivery.headers()}
        auth = http_job.get("auth") or {}
        basic = None
        if auth.get("type") == "basic":
            basic = (auth["username"], auth["password"])
        elif auth.get("type") == "bearer":
            headers["Authorization"] = f"Bearer {auth['bearer_token']}"
        body = http_job.get("body")
        try:
            response = self._session().request(
                http_job["method"],
                target_url(http_job["url"]),
                headers=headers,
                data=body.encode() if body is not None else None,
                auth=basic,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.Timeout:
            return AttemptResult(False, f"timed out after {timeout:g}s")
        except requests.RequestException as error:
            return AttemptResult(False, f"request failed: {type(error).__name__}: {error}")
        with response:
            try:
                answer = excerpt(next(response.iter_content(RESPONSE_EXCERPT_BYTES), b""))
            except requests.RequestException as error:
                message = f"reading the response failed: {error}"
                return AttemptResult(False, message, response.status_code)
        accepted = http_job.get("valid_response_codes") or [200]
        if response.status_code in accepted:
            return AttemptResult(True, None, response.status_code, answer)
        return AttemptResult(
            False,
            f"unexpected status {response.status_code} (accepted: {accepted})",
            response.status_code,
            answer,
            retryable=retryable_status(response.status_code),
            retry_after=parse_retry_after(response.headers.get("Retry-After"), utcnow()),
        )
