"""Signed deliveries: HMAC-SHA256 over the timestamp, the delivery id and the body.

A receiver recomputes the signature with the shared signing key, compares it in
constant time, and rejects old timestamps (docs/security.md).
"""

import hashlib
import hmac

VERSION = "v1"


def signature(key: str, timestamp: int, delivery_id: str, body: bytes) -> str:
    """`v1=<hex>`: HMAC-SHA256(key, "<timestamp>.<delivery id>." + body)."""
    message = f"{timestamp}.{delivery_id}.".encode() + body
    return f"{VERSION}=" + hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(key: str, timestamp: int, delivery_id: str, body: bytes) -> dict[str, str]:
    return {
        "X-Scheduler-Timestamp": str(timestamp),
        "X-Scheduler-Signature": signature(key, timestamp, delivery_id, body),
    }
