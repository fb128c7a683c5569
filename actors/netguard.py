"""Which addresses targets may connect to (SSRF guard), HTTP and AMQP alike.

An address in a deny network is refused; when allow networks are set, an address
outside all of them is refused too (`refusal`, a pure decision). `checked_address`
resolves a target's host and returns the first address the guard allows, which
the executor then connects to (pinned: a second lookup could answer otherwise);
actors/http.py and actors/amqp.py pin it.
"""

import ipaddress
import socket

from app.failures import NameNotResolved

_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def refusal(address: str, allow: tuple, deny: tuple) -> str | None:
    """Why `address` may not be connected to, or None when it may."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped:  # ::ffff:169.254.169.254 is the same host
        ip = ip.ipv4_mapped
    elif ip.version == 6 and ip in _NAT64:  # so is 64:ff9b::a9fe:a9fe behind NAT64
        ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    for network in deny:
        if ip.version == network.version and ip in network:
            return f"{ip} is in the denied network {network}"
    if allow and not any(ip.version == n.version and ip in n for n in allow):
        return f"{ip} is outside the allowed networks"
    return None


class TargetRefused(Exception):
    """The target's address is not allowed by the outbound guard."""


def checked_address(host: str, port: int, allow: tuple, deny: tuple) -> str:
    """The first address of `host` the guard allows; TargetRefused (with the
    first reason) if it allows none, NameNotResolved if there is none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise NameNotResolved(f"cannot resolve {host}: {error}") from error
    reasons = []
    for *_, sockaddr in infos:
        reason = refusal(sockaddr[0], allow, deny)
        if reason is None:
            return sockaddr[0]
        reasons.append(reason)
    raise TargetRefused(f"{host}: {reasons[0]}")
