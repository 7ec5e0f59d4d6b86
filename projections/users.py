"""The people read model: who has an account, and who was granted which connection when.

Support's reasons for looking at a connection are rows of their own. A grant is a row with the
time it began and (once revoked) ended, both from the events, so
"who could see this connection on that date" is one query (``queries.who_could_see``) and
replaying the log gives the same rows (I4).
"""

from __future__ import annotations

from domain.users import User
from projections.page import Page

TABLES = {
    "people": """
        CREATE TABLE IF NOT EXISTS people (
            id TEXT PRIMARY KEY,
            email TEXT NOT NULL,
            role TEXT NOT NULL,
            created_at TEXT NOT NULL,
            second_factor INTEGER NOT NULL DEFAULT 0
        )""",
    "grants": """
        CREATE TABLE IF NOT EXISTS grants (
            user_id TEXT NOT NULL,
            connection_id TEXT NOT NULL,
            granted_at TEXT NOT NULL,
            granted_by TEXT NOT NULL,
            revoked_at TEXT,
            revoked_by TEXT
        )""",
    "consultations": """
        CREATE TABLE IF NOT EXISTS consultations (
            user_id TEXT NOT NULL,
            connection_id TEXT NOT NULL,
            at TEXT NOT NULL,
            reason TEXT NOT NULL
        )""",
}
INDEXES = [
    "CREATE INDEX IF NOT EXISTS grants_connection ON grants (connection_id, granted_at)",
]


def _ts(event) -> str:
    return event.timestamp.isoformat()


def want(page: Page, event) -> None:
    """Nothing to load: these tables are written statement by statement (few events)."""


def fold(page: Page, event) -> None:
    handler = _HANDLERS.get(type(event))
    if handler is not None:
        handler(page, str(event.originator_id), event)


def _created(page: Page, uid: str, e: User.Created) -> None:
    page.statement("INSERT INTO people (id, email, role, created_at) VALUES (?, ?, ?, ?)",
                   [uid, e.email, e.role, _ts(e)])


def _second_factor(page: Page, uid: str, e: User.SecondFactorEnabled) -> None:
    page.statement("UPDATE people SET second_factor = 1 WHERE id = ?", [uid])


def _granted(page: Page, uid: str, e: User.Granted) -> None:
    page.statement("INSERT INTO grants (user_id, connection_id, granted_at, granted_by) "
                   "VALUES (?, ?, ?, ?)", [uid, str(e.connection_id), _ts(e), e.by])


def _revoked(page: Page, uid: str, e: User.Revoked) -> None:
    page.statement("UPDATE grants SET revoked_at = ?, revoked_by = ? WHERE user_id = ? AND "
                   "connection_id = ? AND revoked_at IS NULL",
                   [_ts(e), e.by, uid, str(e.connection_id)])


def _consulted(page: Page, uid: str, e: User.Consulted) -> None:
    page.statement("INSERT INTO consultations (user_id, connection_id, at, reason) "
                   "VALUES (?, ?, ?, ?)", [uid, str(e.connection_id), _ts(e), e.reason])


_HANDLERS = {
    User.Created: _created,
    User.SecondFactorEnabled: _second_factor,
    User.Granted: _granted,
    User.Revoked: _revoked,
    User.Consulted: _consulted,
}
