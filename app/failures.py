"""Why an attempt failed, for a person: a kind, one short sentence, and the
library's own text kept apart as the detail (docs/api.md, "Failures").

Pure: each function takes what went wrong (an exception, a status) and where the
target is, and does no I/O.
"""

import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

KINDS = (
    "connection_refused",
    "dns",
    "timeout",
    "tls",
    "status",
    "refused_by_guard",
    "amqp_nack",
    "amqp_unroutable",
    "amqp_no_exchange",
    "other",
)
# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH: the certificate is for another name.
_HOSTNAME_MISMATCH = 62


@dataclass(frozen=True)
class Failure:
    kind: str  # one of KINDS
    message: str  # one short sentence
    detail: str | None = None  # the library's text, for whoever digs deeper


class NameNotResolved(OSError):
    """A target's host name has no address."""


def address(url: str, default_port: int) -> tuple[str, str]:
    """(host, host:port) of a target URL, for the sentences below."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = parts.port or default_port
    except ValueError:
        port = default_port
    return host, f"{host}:{port}"


def _causes(error: BaseException) -> Iterator[BaseException]:
    """`error` and everything it wraps: causes, contexts, urllib3's `reason`,
    pika's `exception`, and exceptions passed as arguments."""
    seen: set[int] = set()
    stack = [error]
    while stack:
        found = stack.pop()
        if not isinstance(found, BaseException) or id(found) in seen:
            continue
        seen.add(id(found))
        yield found
        stack.extend([found.__cause__, found.__context__])
        stack.extend(getattr(found, name, None) for name in ("reason", "exception"))
        stack.extend(found.args)


def _is(causes: list[BaseException], *kinds: type) -> BaseException | None:
    return next((cause for cause in causes if isinstance(cause, kinds)), None)


def unreachable(
    error: BaseException, host: str, where: str, timeout: float, timeouts: tuple[type, ...] = ()
) -> Failure:
    """A target that could not be reached, or did not answer: `host` is the name
    the job gave, `where` its host:port, `timeouts` the library's own timeout errors."""
    causes = list(_causes(error))
    detail = f"{type(error).__name__}: {error}"
    if _is(causes, socket.timeout, TimeoutError, *timeouts):
        return Failure("timeout", f"no answer within {timeout:g} s", detail)
    certificate = _is(causes, ssl.SSLCertVerificationError)
    if certificate is not None:
        if certificate.verify_code == _HOSTNAME_MISMATCH:
            return Failure("tls", f"certificate not valid for {host}", detail)
        reason = certificate.verify_message or "not trusted"
        return Failure("tls", f"certificate of {host} not accepted: {reason}", detail)
    if _is(causes, ssl.SSLError):
        return Failure("tls", f"TLS handshake with {where} failed", detail)
    if _is(causes, ConnectionRefusedError):
        return Failure("connection_refused", f"connection refused by {where}", detail)
    if _is(causes, socket.gaierror, NameNotResolved):
        return Failure("dns", f"cannot resolve {host}", detail)
    if _is(causes, ConnectionResetError, ConnectionAbortedError):
        return Failure("other", f"connection to {where} reset", detail)
    return Failure("other", f"could not reach {where}", detail)


def unexpected_status(status: int, accepted: list[int]) -> Failure:
    return Failure("status", f"HTTP {status}; accepted: {', '.join(map(str, accepted))}")


def refused_by_guard(reason: str) -> Failure:
    return Failure("refused_by_guard", f"refused by the outbound guard: {reason}")


def internal(error: BaseException) -> Failure:
    """A bug of ours, or a job we cannot open: still an execution record."""
    return Failure("other", f"internal error: {type(error).__name__}", f"{error}")
