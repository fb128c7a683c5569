"""Signed deliveries: actors.signing, checked against an independent computation."""

import hashlib
import hmac

import pytest

from actors.signing import signature, signed_headers

KEY = "signing-key-Lm40q"
TIMESTAMP = 1_700_000_000
DELIVERY_ID = "6f1c0e3a-8f35-4b7e-9a59-1f0b8d7c2e11"
BODY = b'{"ping": true}'


def expected(key: str, timestamp: int, delivery_id: str, body: bytes) -> str:
    """What docs/security.md tells a receiver to compute."""
    message = f"{timestamp}.{delivery_id}.".encode() + body
    return "v1=" + hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def test_signature_is_v1_and_the_hex_hmac_sha256_of_timestamp_delivery_id_and_body():
    assert signature(KEY, TIMESTAMP, DELIVERY_ID, BODY) == expected(
        KEY, TIMESTAMP, DELIVERY_ID, BODY
    )


def test_signature_matches_a_value_pinned_from_the_readme_formula():
    # HMAC-SHA256(b"k", b"1.d.b"), computed once outside the code under test.
    assert signature("k", 1, "d", b"b") == (
        "v1=f2e7a97a5f691d36e97dc5c573d5245baf39c32ddb3a957c3d04ebcd4858d52b"
    )


def test_signature_has_a_v1_prefix_and_64_hex_digits():
    value = signature(KEY, TIMESTAMP, DELIVERY_ID, BODY)
    prefix, _, digest = value.partition("=")
    assert prefix == "v1"
    assert len(digest) == 64
    int(digest, 16)


def test_signature_of_an_empty_body_covers_timestamp_and_delivery_id():
    assert signature(KEY, TIMESTAMP, DELIVERY_ID, b"") == expected(KEY, TIMESTAMP, DELIVERY_ID, b"")


def test_signature_is_the_same_for_the_same_inputs():
    assert signature(KEY, TIMESTAMP, DELIVERY_ID, BODY) == signature(
        KEY, TIMESTAMP, DELIVERY_ID, BODY
    )


@pytest.mark.parametrize(
    "changed",
    [
        {"key": "another-key"},
        {"timestamp": TIMESTAMP + 1},
        {"delivery_id": "6f1c0e3a-8f35-4b7e-9a59-1f0b8d7c2e12"},
        {"body": b'{"ping": false}'},
        {"body": b""},
    ],
    ids=["key", "timestamp", "delivery-id", "body", "empty-body"],
)
def test_signature_changes_with_any_input(changed):
    inputs = {"key": KEY, "timestamp": TIMESTAMP, "delivery_id": DELIVERY_ID, "body": BODY}
    assert signature(**{**inputs, **changed}) != signature(**inputs)


def test_moving_the_separator_between_delivery_id_and_body_changes_the_signature():
    assert signature(KEY, TIMESTAMP, "ab", b"c") != signature(KEY, TIMESTAMP, "a", b"bc")


def test_signed_headers_carry_the_timestamp_and_the_signature():
    headers = signed_headers(KEY, TIMESTAMP, DELIVERY_ID, BODY)
    assert headers == {
        "X-Scheduler-Timestamp": str(TIMESTAMP),
        "X-Scheduler-Signature": expected(KEY, TIMESTAMP, DELIVERY_ID, BODY),
    }


def test_the_readme_verification_accepts_signed_headers_and_rejects_a_changed_body():
    headers = signed_headers(KEY, TIMESTAMP, DELIVERY_ID, BODY)
    headers["X-Scheduler-Delivery-Id"] = DELIVERY_ID

    def verify(body: bytes) -> bool:
        message = (
            f"{headers['X-Scheduler-Timestamp']}.{headers['X-Scheduler-Delivery-Id']}.".encode()
            + body
        )
        digest = hmac.new(KEY.encode(), message, hashlib.sha256).hexdigest()
        return hmac.compare_digest("v1=" + digest, headers["X-Scheduler-Signature"])

    assert verify(BODY)
    assert not verify(BODY + b" ")
