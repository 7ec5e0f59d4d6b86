"""The people who sign in: accounts, passwords, password reset, second factor, grants.

Passwords are hashed with argon2 (argon2-cffi) before they reach an event. A password reset
link is signed, expires after ``RESET_MAX_AGE`` and is bound to the password hash in force when
it was made, so it works once: setting the new password changes the hash and every earlier link
dies with it. Nothing of it is stored. A TOTP secret is sealed like a ledger token.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Iterable
from uuid import UUID

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from application.app import Koppel
from application.secrets import SecretBox
from domain.ids import user_id
from domain.users import User, UserError, normal_email

RESET_MAX_AGE = 30 * 60  # seconds a reset link works
MIN_PASSWORD = 10
ISSUER = "koppel"


class AccountError(UserError):
    """What a person or the CLI is told: an account that exists already, a short password."""


class Accounts:
    def __init__(self, app: Koppel, box: SecretBox, secret_key: str,
                 hasher: PasswordHasher | None = None) -> None:
        self.app = app
        self.box = box
        self.hasher = hasher or PasswordHasher()
        self._resets = URLSafeTimedSerializer(secret_key, salt="password-reset")
        self._dummy_hash: str | None = None

    @property
    def _dummy(self) -> str:
        """Checked against when nobody has the address, so a wrong e-mail costs the same time
        as a wrong password and existence does not show in the answer's timing."""
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    # -- reading -------------------------------------------------------------------------

    def get(self, uid: UUID) -> User | None:
        try:
            aggregate = self.app.repository.get(uid)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, User) else None

    def by_email(self, email: str) -> User | None:
        try:
            return self.get(user_id(normal_email(email)))
        except UserError:
            return None

    def require(self, email: str) -> User:
        user = self.by_email(email)
        if user is None:
            raise AccountError(f"no account for {email}")
        return user

    # -- accounts ------------------------------------------------------------------------

    @staticmethod
    def new_password() -> str:
        return secrets.token_urlsafe(12)

    def _hash(self, password: str) -> str:
        if len(password or "") < MIN_PASSWORD:
            raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
        return self.hasher.hash(password)

    def add(self, email: str, role: str, password: str, by: str,
            connections: Iterable[UUID] = ()) -> User:
        user = User.create(email, role, self._hash(password), by=by)
        for connection_id in connections:
            user.grant(connection_id, by=by)
        try:
            self.app.save(user)
        except IntegrityError:
            raise AccountError(f"{user.email} has an account already") from None
        return user

    def set_password(self, user: User, password: str, by: str) -> User:
        user.change_password(self._hash(password), by=by)
        self.app.save(user)
        return user

    def grant(self, email: str, connection_id: UUID, by: str) -> bool:
        user = self.require(email)
        changed = user.grant(connection_id, by=by)
        if changed:
            self.app.save(user)
        return changed

    def revoke(self, email: str, connection_id: UUID, by: str) -> bool:
        user = self.require(email)
        changed = user.revoke(connection_id, by=by)
        if changed:
            self.app.save(user)
        return changed

    def choose_notifications(self, uid: UUID, *, digest: bool, reconnect: bool,
                             by: str) -> None:
        """Records which e-mail notices the person wants."""
        user = self.get(uid)
        if user is None:
            raise AccountError("no such account")
        if user.choose_notifications(digest, reconnect, by=by):
            self.app.save(user)

    def consulted(self, uid: UUID, connection_id: UUID, reason: str) -> None:
        """Records why support looks at a merchant's documents."""
        user = self.get(uid)
        if user is None:
            raise AccountError("no such account")
        user.consult(connection_id, reason)
        self.app.save(user)

    # -- signing in ----------------------------------------------------------------------

    def check_password(self, email: str, password: str) -> User | None:
        """The account when the password is right, else None (the same for no account)."""
        user = self.by_email(email)
        try:
            self.hasher.verify(user.password_hash if user else self._dummy, password or "")
        except (VerificationError, InvalidHashError):
            return None
        if user is None:
            return None
        if self.hasher.check_needs_rehash(user.password_hash):  # argon2's costs were raised
            self.set_password(user, password, by="rehash at sign-in")
        return user

    @staticmethod
    def fingerprint(user: User) -> str:
        """Changes with the password: ends sessions and reset links made before."""
        return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]

    # -- password reset ------------------------------------------------------------------

    def reset_token(self, email: str) -> tuple[User, str] | None:
        user = self.by_email(email)
        if user is None:
            return None
        return user, self._resets.dumps([str(user.id), self.fingerprint(user)])

    def user_for_reset(self, token: str, max_age: int = RESET_MAX_AGE) -> User | None:
        try:
            uid, fingerprint = self._resets.loads(token, max_age=max_age)
            user = self.get(UUID(uid))
        except (BadSignature, ValueError, TypeError):
            return None
        if user is None or fingerprint != self.fingerprint(user):
            return None  # used already (the password changed since), or never ours
        return user

    def reset_password(self, token: str, password: str) -> User:
        user = self.user_for_reset(token)
        if user is None:
            raise AccountError("this reset link has expired or was used already")
        return self.set_password(user, password, by="reset link")

    # -- second factor (TOTP) ------------------------------------------------------------

    def enable_second_factor(self, email: str, by: str) -> str:
        """Records a new TOTP secret (sealed); returns its otpauth:// address, shown once."""
        user = self.require(email)
        secret = pyotp.random_base32()
        user.enable_second_factor(self.box.seal(secret), by=by)
        self.app.save(user)
        return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)

    def check_code(self, user: User, code: str) -> bool:
        if not user.totp_sealed:
            return True
        secret = self.box.open(user.totp_sealed, {})
        return pyotp.TOTP(secret).verify((code or "").strip().replace(" ", ""), valid_window=1)
