"""Which addresses HTTP targets may connect to (SSRF guard): a pure decision.

An address in a deny network is refused; when allow networks are set, an address
outside all of them is refused too. The resolver and the pinned connection that
use this are in actors/http.py.
"""

import ipaddress

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
