"""Job secrets at rest: sealed with Fernet keys from secret-key, newest first.

MultiFernet opens what any configured key sealed and seals with the first, so a
key is rotated by putting a new one in front, running `scheduler rotate-secrets`,
then dropping the old one.
"""

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.errors import SchedulerError


class SealingError(SchedulerError):
    """Secrets cannot be sealed (no key) or opened (not sealed with a configured key)."""


def generate_key() -> str:
    return Fernet.generate_key().decode()


class SecretBox:
    def __init__(self, keys: tuple[str, ...]):
        self._fernet = MultiFernet([Fernet(key) for key in keys]) if keys else None

    @property
    def ready(self) -> bool:
        return self._fernet is not None

    def seal(self, secrets: dict[str, str]) -> bytes | None:
        """The sealed form of `secrets`; None when there are none."""
        if not secrets:
            return None
        if self._fernet is None:
            raise SealingError(
                f"this job carries secrets ({', '.join(sorted(secrets))}) but the server has "
                "no SCHEDULER_SECRET_KEY to encrypt them with: set one (`scheduler keygen` "
                "prints a new key)"
            )
        return self._fernet.encrypt(json.dumps(secrets).encode())

    def open(self, sealed: bytes | None) -> dict[str, str]:
        if sealed is None:
            return {}
        if self._fernet is None:
            raise SealingError("the job's secrets are sealed but no SCHEDULER_SECRET_KEY is set")
        try:
            return json.loads(self._fernet.decrypt(bytes(sealed)))
        except InvalidToken:
            raise SealingError(
                "the job's secrets were sealed with a key that SCHEDULER_SECRET_KEY no longer has"
            ) from None
