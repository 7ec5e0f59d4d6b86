"""Secrets at rest: what a merchant types as a key or token is stored encrypted.

Settings may name a secret as ``env:VARIABLE`` (it never leaves the environment) or give it
literally; a literal one is sealed to ``enc:<token>`` with a key derived from
``KOPPEL_SECRET_KEY`` before it enters an event, and opened only when a connector is built.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken

SEALED = "enc:"
FROM_ENVIRONMENT = "env:"


class SecretError(Exception):
    pass


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise SecretError("KOPPEL_SECRET_KEY is empty: secrets cannot be stored safely")
        digest = hashlib.sha256(secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, value: str) -> str:
        """A literal secret becomes ``enc:...``; references and sealed values stay as they are."""
        if not value or value.startswith((SEALED, FROM_ENVIRONMENT)):
            return value
        return SEALED + self._fernet.encrypt(value.encode()).decode()

    def open(self, value: str, environ) -> str:
        if value.startswith(SEALED):
            try:
                return self._fernet.decrypt(value[len(SEALED):].encode()).decode()
            except InvalidToken:
                raise SecretError(
                    "a stored secret cannot be decrypted: KOPPEL_SECRET_KEY has changed since "
                    "it was saved; enter the key again"
                ) from None
        if value.startswith(FROM_ENVIRONMENT):
            name = value[len(FROM_ENVIRONMENT):]
            if not environ.get(name):
                raise SecretError(f"the environment variable {name} is not set")
            return environ[name]
        return value


def webhook_token(secret_key: str, connection_id, generation: int = 0) -> str:
    """The unguessable token in a connection's webhook address. Derived, not stored: the
    endpoint recomputes it, so no table of tokens can leak and no lookup can lag. Each rotation
    of the connection's token (its ``generation``) gives a new one; generation 0 is the token
    addresses had before rotation existed."""
    message = f"webhook:{connection_id}" + (f":{generation}" if generation else "")
    mac = hmac.new(secret_key.encode(), message.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:24]).decode().rstrip("=")


def token_matches(secret_key: str, connection_id, generation: int, token: str) -> bool:
    return hmac.compare_digest(webhook_token(secret_key, connection_id, generation), token)
