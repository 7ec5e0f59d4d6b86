"""What e-mail notices are about: each time a connection's credentials were refused, and what
each person chose to receive. From the events only (I4); what was already sent is not a read
model (``workers.notifications`` keeps it) and survives a rebuild.
"""

from __future__ import annotations

from domain.connection import Connection
from domain.users import User
from projections.page import Page

TABLES = {
    "credential_refusals": """
        CREATE TABLE IF NOT EXISTS credential_refusals (
            connection_id TEXT NOT NULL,
            refused_at TEXT NOT NULL,
            system TEXT NOT NULL,
            message TEXT NOT NULL,
            reconnected_at TEXT,
            PRIMARY KEY (connection_id, refused_at)
        )""",
    "notification_choices": """
        CREATE TABLE IF NOT EXISTS notification_choices (
            user_id TEXT PRIMARY KEY,
            digest INTEGER NOT NULL,
            reconnect INTEGER NOT NULL
        )""",
}
INDEXES: list[str] = []


def want(page: Page, event) -> None:
    """Nothing to load: these tables are written statement by statement (few events)."""


def fold(page: Page, event) -> None:
    if isinstance(event, Connection.CredentialsRefused):
        page.statement("INSERT INTO credential_refusals (connection_id, refused_at, system, "
                       "message) VALUES (?, ?, ?, ?)",
                       [str(event.originator_id), event.timestamp.isoformat(), event.system,
                        event.message])
    elif isinstance(event, Connection.Reconnected):
        page.statement("UPDATE credential_refusals SET reconnected_at = ? WHERE connection_id = ? "
                       "AND reconnected_at IS NULL", [event.timestamp.isoformat(),
                                                      str(event.originator_id)])
    elif isinstance(event, User.NotificationsChosen):
        page.statement("DELETE FROM notification_choices WHERE user_id = ?",
                       [str(event.originator_id)])
        page.statement("INSERT INTO notification_choices (user_id, digest, reconnect) "
                       "VALUES (?, ?, ?)", [str(event.originator_id), int(event.digest),
                                            int(event.reconnect)])
