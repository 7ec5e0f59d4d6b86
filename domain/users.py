"""A person who signs in to koppel: their role, their password (as a hash only), their second
factor (sealed only) and the connections granted to them.

Grants are events with their time, so "who could see this connection on that date" has an
answer (``projections.users``). Nothing secret enters these events in plain text: the
application hashes a password (argon2, a PHC string ``$argon2id$...``) and seals a TOTP secret
(``enc:...``) before the aggregate sees them; a password reset link is derived from the hash
and is never stored at all.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.access import ROLES
from domain.ids import user_id


# The e-mail notices a person may choose (``workers.notifications`` sends them).
NOTICES = ("digest", "reconnect")


def default_notices(role: str) -> dict[str, bool]:
    """Until a person chooses: a merchant hears of their own connections' trouble; the other
    roles see many connections and ask for mail themselves."""
    return {notice: role == "merchant" for notice in NOTICES}


class UserError(ValueError):
    """A command the account does not allow (an unknown role, a plain-text secret)."""


def normal_email(email: str) -> str:
    """An e-mail address as koppel keys it: trimmed, case-folded."""
    email = (email or "").strip().casefold()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in email):
        raise UserError(f"{email!r} is not an e-mail address")
    return email


def _require_hash(password_hash: str) -> None:
    if not password_hash.startswith("$"):  # a PHC string, never the password itself
        raise UserError("a password must be hashed before it is recorded")


class User(Aggregate):
    TOPIC = "koppel:User"

    class Created(Aggregate.Created):
        TOPIC = "koppel:User.Created:v1"
        email: str
        role: str
        password_hash: str
        by: str

    def __init__(self, email: str, role: str, password_hash: str, by: str) -> None:
        self.email = email
        self.role = role
        self.password_hash = password_hash
        self.totp_sealed: str | None = None
        self.connections: set[UUID] = set()
        self.notices: dict[str, bool] | None = None

    @staticmethod
    def create_id(email: str) -> UUID:
        return user_id(email)

    @classmethod
    def create(cls, email: str, role: str, password_hash: str, by: str) -> "User":
        if role not in ROLES:
            raise UserError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        _require_hash(password_hash)
        return cls._create(cls.Created, email=normal_email(email), role=role,
                           password_hash=password_hash, by=by)

    class PasswordChanged(Aggregate.Event):
        TOPIC = "koppel:User.PasswordChanged:v1"
        password_hash: str
        by: str  # "reset link", "cli", the person's own e-mail

        def apply(self, user: "User") -> None:
            user.password_hash = self.password_hash

    def change_password(self, password_hash: str, by: str) -> None:
        _require_hash(password_hash)
        self.trigger_event(self.PasswordChanged, password_hash=password_hash, by=by)

    class SecondFactorEnabled(Aggregate.Event):
        TOPIC = "koppel:User.SecondFactorEnabled:v1"
        sealed_secret: str
        by: str

        def apply(self, user: "User") -> None:
            user.totp_sealed = self.sealed_secret

    def enable_second_factor(self, sealed_secret: str, by: str) -> None:
        if not sealed_secret.startswith("enc:"):
            raise UserError("a second factor's secret must be sealed before it is recorded")
        self.trigger_event(self.SecondFactorEnabled, sealed_secret=sealed_secret, by=by)

    class Granted(Aggregate.Event):
        """The person may see a connection from now on: the merchant who owns it, or the
        accountant it is shared with."""

        TOPIC = "koppel:User.Granted:v1"
        connection_id: UUID
        by: str

        def apply(self, user: "User") -> None:
            user.connections.add(self.connection_id)

    def grant(self, connection_id: UUID, by: str) -> bool:
        if self.role not in ("merchant", "accountant"):
            raise UserError(f"a {self.role} account sees connections by its role, "
                            "not by grants")
        if connection_id in self.connections:
            return False
        self.trigger_event(self.Granted, connection_id=connection_id, by=by)
        return True

    class Consulted(Aggregate.Event):
        """Support opened a merchant's documents, and said why (kept for the merchant)."""

        TOPIC = "koppel:User.Consulted:v1"
        connection_id: UUID
        reason: str

    def consult(self, connection_id: UUID, reason: str) -> None:
        if self.role != "support":
            raise UserError("only support accounts state a reason to look at a connection")
        if not reason.strip():
            raise UserError("say why you look at this merchant's documents")
        self.trigger_event(self.Consulted, connection_id=connection_id, reason=reason.strip())

    class Revoked(Aggregate.Event):
        TOPIC = "koppel:User.Revoked:v1"
        connection_id: UUID
        by: str

        def apply(self, user: "User") -> None:
            user.connections.discard(self.connection_id)

    def revoke(self, connection_id: UUID, by: str) -> bool:
        if connection_id not in self.connections:
            return False
        self.trigger_event(self.Revoked, connection_id=connection_id, by=by)
        return True

    class NotificationsChosen(Aggregate.Event):
        """Which e-mail notices the person wants: the daily digest of new Errors, and at once
        a connection that needs reconnecting."""

        TOPIC = "koppel:User.NotificationsChosen:v1"
        digest: bool
        reconnect: bool
        by: str

        def apply(self, user: "User") -> None:
            user.notices = {"digest": self.digest, "reconnect": self.reconnect}

    def choose_notifications(self, digest: bool, reconnect: bool, by: str) -> bool:
        if self.notices == {"digest": digest, "reconnect": reconnect}:
            return False  # an explicit choice, even of the defaults, is recorded once
        self.trigger_event(self.NotificationsChosen, digest=bool(digest),
                           reconnect=bool(reconnect), by=by)
        return True

    def wanted_notices(self) -> dict[str, bool]:
        return dict(self.notices) if self.notices is not None else default_notices(self.role)
