"""The ``state`` of the Billit connect flow: bound to the browser that started it, usable once,
valid for a few minutes.

``state`` carries the connection and a random nonce, signed. The nonce is also kept in that
browser's session cookie, so a callback arriving in another browser (an attacker handing a
merchant their own consent link, to bind the merchant's connection to the attacker's Billit
account) is refused. Spent nonces are recorded in the database, so a replayed callback is
refused by every web process, not only by the one that saw it first.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta, timezone
from uuid import UUID

from flask import session
from itsdangerous import BadSignature, URLSafeTimedSerializer

from projections.store import ReadStore
from web.i18n import N_

MAX_AGE = 300  # seconds a merchant may spend on Billit's consent page
SESSION_KEY = "billit_connect"

EXPIRED = N_("This link is not from koppel or has expired: start connecting Billit again.")
OTHER_CONNECTION = N_("This link was made for another connection: start connecting Billit "
                      "again.")
OTHER_BROWSER = N_("Connecting Billit was started in another browser or session: start it "
                   "again here.")
USED = N_("This link was already used: start connecting Billit again.")

TABLE = """
    CREATE TABLE IF NOT EXISTS oauth_states_used (
        nonce TEXT PRIMARY KEY,
        used_at TEXT NOT NULL
    )"""


class StateRefused(Exception):
    """The callback's state is not acceptable; ``message`` says why, in the merchant's words."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SpentStates:
    """Nonces of callbacks already handled, kept as long as their state could be valid."""

    def __init__(self, store: ReadStore) -> None:
        self.store = store
        with store.transaction() as cur:
            cur.execute(TABLE)

    def spend(self, nonce: str, now: datetime) -> bool:
        """True the first time a nonce is spent, False ever after (one statement, so two
        processes spending it at once cannot both win)."""
        with self.store.transaction() as cur:
            cur.execute("DELETE FROM oauth_states_used WHERE used_at < ?",
                        [(now - timedelta(seconds=2 * MAX_AGE)).isoformat()])
            return cur.execute("INSERT INTO oauth_states_used (nonce, used_at) VALUES (?, ?) "
                               "ON CONFLICT DO NOTHING", [nonce, now.isoformat()]) == 1


class ConnectStates:
    def __init__(self, secret_key: str, spent: SpentStates) -> None:
        self._signer = URLSafeTimedSerializer(secret_key, salt="billit-connect")
        self._spent = spent

    def issue(self, connection_id: UUID) -> str:
        """A new state for this browser (kept in its session) and connection."""
        nonce = secrets.token_urlsafe(24)
        started = dict(session.get(SESSION_KEY) or {})
        started[str(connection_id)] = nonce
        session[SESSION_KEY] = started
        return self._signer.dumps({"connection": str(connection_id), "nonce": nonce})

    def accept(self, connection_id: UUID, state: str) -> None:
        """Raises StateRefused unless ``state`` was issued to this browser session for this
        connection, within MAX_AGE, and was not accepted before."""
        try:
            issued = self._signer.loads(state, max_age=MAX_AGE)
        except BadSignature:  # SignatureExpired is one too
            raise StateRefused(EXPIRED) from None
        if not isinstance(issued, dict) or issued.get("connection") != str(connection_id):
            raise StateRefused(OTHER_CONNECTION)
        nonce = str(issued.get("nonce", ""))
        ours = (session.get(SESSION_KEY) or {}).get(str(connection_id), "")
        if not ours or not hmac.compare_digest(ours, nonce):
            raise StateRefused(OTHER_BROWSER)
        if not self._spent.spend(nonce, datetime.now(timezone.utc)):
            raise StateRefused(USED)
        started = dict(session.get(SESSION_KEY) or {})
        started.pop(str(connection_id), None)
        session[SESSION_KEY] = started
