"""Job secrets at rest: app.sealing."""

import pytest
from cryptography.fernet import Fernet

from app.errors import SchedulerError
from app.secrets.sealing import SealingError, SecretBox, generate_key

SECRETS = {"http.auth.password": "basic-pw-Zq81x", "amqp.connection": "amqp-pw-Rt55v"}


def test_generate_key_gives_a_fernet_key():
    Fernet(generate_key())


def test_generate_key_gives_a_new_key_each_time():
    assert generate_key() != generate_key()


def test_sealed_secrets_open_to_the_same_secrets():
    box = SecretBox((generate_key(),))
    assert box.open(box.seal(SECRETS)) == SECRETS


def test_sealed_secrets_are_not_readable_in_the_token():
    sealed = SecretBox((generate_key(),)).seal(SECRETS)
    assert isinstance(sealed, bytes)
    for value in SECRETS.values():
        assert value.encode() not in sealed


def test_sealing_no_secrets_gives_none():
    assert SecretBox((generate_key(),)).seal({}) is None


def test_sealing_no_secrets_without_a_key_gives_none():
    assert SecretBox(()).seal({}) is None


def test_opening_none_gives_no_secrets():
    assert SecretBox((generate_key(),)).open(None) == {}
    assert SecretBox(()).open(None) == {}


def test_a_box_with_a_key_is_ready_and_one_without_is_not():
    assert SecretBox((generate_key(),)).ready
    assert not SecretBox(()).ready


def test_sealing_without_a_key_names_the_secret_paths_and_how_to_get_a_key():
    with pytest.raises(SealingError) as raised:
        SecretBox(()).seal(SECRETS)
    message = str(raised.value)
    assert "amqp.connection" in message
    assert "http.auth.password" in message
    assert "`scheduler keygen`" in message
    assert "SCHEDULER_SECRET_KEY" in message


def test_the_error_of_sealing_without_a_key_does_not_show_the_secrets():
    with pytest.raises(SealingError) as raised:
        SecretBox(()).seal(SECRETS)
    for value in SECRETS.values():
        assert value not in str(raised.value)


def test_opening_without_any_key_is_a_sealing_error():
    sealed = SecretBox((generate_key(),)).seal(SECRETS)
    with pytest.raises(SealingError, match="SCHEDULER_SECRET_KEY"):
        SecretBox(()).open(sealed)


def test_opening_with_a_box_lacking_the_sealing_key_is_a_sealing_error():
    sealed = SecretBox((generate_key(),)).seal(SECRETS)
    with pytest.raises(SealingError, match="SCHEDULER_SECRET_KEY"):
        SecretBox((generate_key(),)).open(sealed)


def test_opening_a_tampered_token_is_a_sealing_error():
    box = SecretBox((generate_key(),))
    sealed = bytearray(box.seal(SECRETS))
    sealed[len(sealed) // 2] ^= 1
    with pytest.raises(SealingError):
        box.open(bytes(sealed))


def test_opening_accepts_the_memoryview_a_database_blob_comes_back_as():
    box = SecretBox((generate_key(),))
    assert box.open(memoryview(box.seal(SECRETS))) == SECRETS


def test_a_box_with_a_new_and_an_old_key_opens_what_the_old_key_sealed():
    old, new = generate_key(), generate_key()
    sealed = SecretBox((old,)).seal(SECRETS)
    assert SecretBox((new, old)).open(sealed) == SECRETS


def test_a_box_with_a_new_and_an_old_key_seals_with_the_new_key():
    old, new = generate_key(), generate_key()
    resealed = SecretBox((new, old)).seal(SECRETS)
    assert SecretBox((new,)).open(resealed) == SECRETS
    with pytest.raises(SealingError):
        SecretBox((old,)).open(resealed)


def test_rotation_reseals_what_the_old_key_sealed_so_only_the_new_key_is_needed():
    old, new = generate_key(), generate_key()
    sealed = SecretBox((old,)).seal(SECRETS)
    rotating = SecretBox((new, old))
    resealed = rotating.seal(rotating.open(sealed))
    assert SecretBox((new,)).open(resealed) == SECRETS


def test_sealing_error_is_a_scheduler_error():
    assert issubclass(SealingError, SchedulerError)
