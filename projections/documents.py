"""The documents read model: one row per shop document, serving Report, Errors and Open.

Every value comes from the events (their timestamps, never the clock), so dropping the table
and replaying the log gives the same rows (I4).
"""

from __future__ import annotations

import json

from domain.connection import Connection
from domain.document import Document, Status
from projections.store import Cursor

NAME = "documents"

TABLES = {
    "documents": """
        CREATE TABLE IF NOT EXISTS documents (
            id TEXT PRIMARY KEY,
            connection_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            shop_id BIGINT NOT NULL,
            number TEXT NOT NULL,
            status TEXT NOT NULL,
            via TEXT,
            received_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            booking_date TEXT,
            scope TEXT,
            payment_method TEXT,
            currency TEXT,
            total_incl TEXT,
            waiting_for TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            failure_stage TEXT,
            failure_code TEXT,
            failure_rule TEXT,
            failure_message_nl TEXT,
            failure_message_en TEXT,
            posted_at TEXT,
            ledger_reference TEXT,
            found_by_lookup INTEGER NOT NULL DEFAULT 0,
            changed_after_posting INTEGER NOT NULL DEFAULT 0,
            reprocessed_by TEXT,
            payment_status TEXT,
            payment_attempts INTEGER NOT NULL DEFAULT 0,
            payment_code TEXT,
            payment_rule TEXT,
            payment_message_nl TEXT,
            payment_message_en TEXT,
            payment_last_error TEXT,
            payment_posted_at TEXT,
            payment_reference TEXT,
            payment_found_by_lookup INTEGER NOT NULL DEFAULT 0
        )""",
    "connections": """
        CREATE TABLE IF NOT EXISTS connections (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            settings_version INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            credentials_problem TEXT
        )""",
}
INDEXES = [
    "CREATE INDEX IF NOT EXISTS documents_status ON documents (status, updated_at, id)",
    "CREATE INDEX IF NOT EXISTS documents_number ON documents (number)",
    "CREATE INDEX IF NOT EXISTS documents_payment ON documents (payment_status, updated_at, id)",
    # The Overview's day chart counts booked documents by posted_at (projections/activity.py).
    "CREATE INDEX IF NOT EXISTS documents_posted ON documents (status, posted_at)",
]


def _ts(event) -> str:
    return event.timestamp.isoformat()


def _set(cur: Cursor, doc_id: str, event, **values) -> None:
    values["updated_at"] = _ts(event)
    assignments = ", ".join(f"{column} = ?" for column in values)
    cur.execute(f"UPDATE documents SET {assignments} WHERE id = ?", [*values.values(), doc_id])


def apply(cur: Cursor, event) -> None:
    """Fold one event into the read model (unknown event types are ignored)."""
    handler = _HANDLERS.get(type(event))
    if handler is not None:
        handler(cur, str(event.originator_id), event)


def _received(cur: Cursor, doc_id: str, e: Document.Received) -> None:
    cur.execute(
        "INSERT INTO documents (id, connection_id, kind, shop_id, number, status, via, "
        "received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [doc_id, str(e.connection_id), e.kind, e.shop_id, e.number, Status.RECEIVED, e.via,
         _ts(e), _ts(e)],
    )


def _intake_failed(cur: Cursor, doc_id: str, e: Document.IntakeFailed) -> None:
    _received(cur, doc_id, e)  # the same first row, then the reason
    _fetch_failed(cur, doc_id, e)


def _fetch_failed(cur: Cursor, doc_id: str, e) -> None:
    """Open (waiting for the shop) while koppel retries, else Errors; the reason either way."""
    _set(cur, doc_id, e, status=Status.WAITING if e.retrying else Status.FAILED,
         waiting_for="shop" if e.retrying else None, failure_stage="shop",
         failure_code=e.code, failure_rule="R1", failure_message_nl=e.message_nl,
         failure_message_en=e.message_en)


def _refreshed(cur: Cursor, doc_id: str, e: Document.Refreshed) -> None:
    status = _status(cur, doc_id)
    if status == Status.POSTED:
        _set(cur, doc_id, e, number=e.number, changed_after_posting=1)
    elif status == Status.POSTING:
        _set(cur, doc_id, e, number=e.number)
    else:
        _set(cur, doc_id, e, number=e.number, status=Status.RECEIVED, waiting_for=None, failure_stage=None,
             failure_code=None, failure_rule=None, failure_message_nl=None,
             failure_message_en=None)


def _before_start(cur: Cursor, doc_id: str, e: Document.BeforeStartDate) -> None:
    _set(cur, doc_id, e, status=Status.BEFORE_START)


def _checked(cur: Cursor, doc_id: str, e: Document.Checked) -> None:
    booking = e.booking
    values = dict(booking_date=booking.get("date"), scope=booking.get("scope"),
                  payment_method=booking.get("payment_method"),
                  currency=booking.get("currency"), total_incl=booking.get("total_incl"),
                  waiting_for=e.waiting_for)
    if e.ok:
        values["status"] = Status.WAITING if e.waiting_for else Status.CHECKED
    _set(cur, doc_id, e, **values)


def _debtor(cur: Cursor, doc_id: str, e: Document.DebtorResolved) -> None:
    _set(cur, doc_id, e, status=Status.DEBTOR_RESOLVED)


def _posting(cur: Cursor, doc_id: str, e: Document.PostingStarted) -> None:
    _set(cur, doc_id, e, status=Status.POSTING, attempts=e.attempt)


def _interrupted(cur: Cursor, doc_id: str, e: Document.PostingInterrupted) -> None:
    _set(cur, doc_id, e, status=Status.DEBTOR_RESOLVED, last_error=e.error)


def _posted(cur: Cursor, doc_id: str, e: Document.Posted) -> None:
    _set(cur, doc_id, e, status=Status.POSTED, posted_at=_ts(e),
         ledger_reference=json.dumps(e.reference, default=str, sort_keys=True),
         found_by_lookup=int(e.found_by_lookup), last_error=None)


def _failed(cur: Cursor, doc_id: str, e: Document.Failed) -> None:
    _set(cur, doc_id, e, status=Status.FAILED, failure_stage=e.stage, failure_code=e.code,
         failure_rule=e.rule, failure_message_nl=e.message_nl, failure_message_en=e.message_en)


def _reprocess(cur: Cursor, doc_id: str, e: Document.ReprocessRequested) -> None:
    _set(cur, doc_id, e, status=Status.RECEIVED, waiting_for=None, failure_stage=None,
         failure_code=None, failure_rule=None, failure_message_nl=None,
         failure_message_en=None, reprocessed_by=e.by)


def _payment_started(cur: Cursor, doc_id: str, e: Document.PaymentStarted) -> None:
    _set(cur, doc_id, e, payment_status="posting", payment_attempts=e.attempt)


def _payment_interrupted(cur: Cursor, doc_id: str, e: Document.PaymentInterrupted) -> None:
    _set(cur, doc_id, e, payment_status="interrupted", payment_last_error=e.error)


def _payment_posted(cur: Cursor, doc_id: str, e: Document.PaymentPosted) -> None:
    _set(cur, doc_id, e, payment_status="posted", payment_posted_at=_ts(e),
         payment_reference=json.dumps(e.reference, default=str, sort_keys=True),
         payment_found_by_lookup=int(e.found_by_lookup), payment_code=None, payment_rule=None,
         payment_message_nl=None, payment_message_en=None, payment_last_error=None)


def _payment_failed(cur: Cursor, doc_id: str, e: Document.PaymentFailed) -> None:
    _set(cur, doc_id, e, payment_status="failed", payment_code=e.code, payment_rule=e.rule,
         payment_message_nl=e.message_nl, payment_message_en=e.message_en)


def _connection_created(cur: Cursor, conn_id: str, e: Connection.Created) -> None:
    cur.execute("INSERT INTO connections (id, name, settings_version, created_at) "
                "VALUES (?, ?, 1, ?)", [conn_id, e.name, _ts(e)])


def _settings_changed(cur: Cursor, conn_id: str, e: Connection.SettingsChanged) -> None:
    cur.execute("UPDATE connections SET settings_version = settings_version + 1 WHERE id = ?",
                [conn_id])


def _credentials_refused(cur: Cursor, conn_id: str, e: Connection.CredentialsRefused) -> None:
    cur.execute("UPDATE connections SET credentials_problem = ? WHERE id = ?",
                [f"{e.system}: {e.message}", conn_id])


def _reconnected(cur: Cursor, conn_id: str, e: Connection.Reconnected) -> None:
    cur.execute("UPDATE connections SET credentials_problem = NULL WHERE id = ?", [conn_id])


def _removed(cur: Cursor, conn_id: str, e: Connection.Removed) -> None:
    cur.execute("DELETE FROM connections WHERE id = ?", [conn_id])


def _history_erased(cur: Cursor, conn_id: str, e: Connection.HistoryErased) -> None:
    """The documents' events are deleted from the log (application/removal.py): so are
    their rows, and a rebuild never sees them again. Only those the tombstone names: one
    recorded meanwhile is erased in the next round."""
    for entry in e.documents:
        cur.execute("DELETE FROM documents WHERE id = ?", [entry["id"]])


def _status(cur: Cursor, doc_id: str) -> str | None:
    cur.execute("SELECT status FROM documents WHERE id = ?", [doc_id])
    row = cur.fetchone()
    return row[0] if row else None


_HANDLERS = {
    Document.Received: _received,
    Document.Refreshed: _refreshed,
    Document.IntakeFailed: _intake_failed,
    Document.FetchFailed: _fetch_failed,
    Document.BeforeStartDate: _before_start,
    Document.Checked: _checked,
    Document.DebtorResolved: _debtor,
    Document.PostingStarted: _posting,
    Document.PostingInterrupted: _interrupted,
    Document.Posted: _posted,
    Document.Failed: _failed,
    Document.ReprocessRequested: _reprocess,
    Document.PaymentStarted: _payment_started,
    Document.PaymentInterrupted: _payment_interrupted,
    Document.PaymentPosted: _payment_posted,
    Document.PaymentFailed: _payment_failed,
    Connection.Created: _connection_created,
    Connection.SettingsChanged: _settings_changed,
    Connection.CredentialsRefused: _credentials_refused,
    Connection.Reconnected: _reconnected,
    Connection.Removed: _removed,
    Connection.HistoryErased: _history_erased,
}
