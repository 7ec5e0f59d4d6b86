"""The further ledgers read model (issue 13.3): each ledger target, and each document's
posting into one, with the state of its sale and of its payment.

The dispatcher finds target work left behind here (a follow whose message ran out of retries,
a worker killed mid-call), the payment check (R8.3) the target payments that failed, and the
ledgers pages and ``koppel ledgers status`` count per target without loading every posting.

Two tables, each kept by its own aggregate (projections/parallel.py cuts a rebuild by
aggregate): ``ledger_targets`` from the ``LedgerTarget`` events, ``target_postings`` from the
``TargetPosting`` events. A posting's event does not name its connection, and folding it must
not read its target's row, so a posting's connection is found by joining ``ledger_targets``
when it is asked for. Values come from the events only, timestamps included (I4).
"""

from __future__ import annotations

from domain.ledger_target import LedgerTarget, PostingState, TargetPosting
from projections.page import Page, Table

TABLES = {
    "ledger_targets": """
        CREATE TABLE IF NOT EXISTS ledger_targets (
            id TEXT PRIMARY KEY,
            connection_id TEXT NOT NULL,
            name TEXT NOT NULL,
            purpose TEXT NOT NULL,
            state TEXT NOT NULL,
            switch_version INTEGER,
            updated_at TEXT NOT NULL
        )""",
    "target_postings": """
        CREATE TABLE IF NOT EXISTS target_postings (
            id TEXT PRIMARY KEY,
            target_id TEXT NOT NULL,
            document_id TEXT NOT NULL,
            number TEXT NOT NULL,
            status TEXT NOT NULL,
            settings_version INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            settle_until TEXT,
            failure_code TEXT,
            payment_status TEXT,
            payment_attempts INTEGER NOT NULL DEFAULT 0,
            payment_settle_until TEXT,
            payment_code TEXT,
            updated_at TEXT NOT NULL
        )""",
}
TARGETS = Table("ledger_targets", "id", TABLES["ledger_targets"])
POSTINGS = Table("target_postings", "id", TABLES["target_postings"])

INDEXES = [
    "CREATE INDEX IF NOT EXISTS target_postings_target ON target_postings (target_id, status)",
    "CREATE INDEX IF NOT EXISTS target_postings_stale ON target_postings (updated_at)",
    "CREATE INDEX IF NOT EXISTS target_postings_payment "
    "ON target_postings (payment_status, updated_at)",
]


def _ts(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def want(page: Page, event) -> None:
    kind = type(event)
    if kind is LedgerTarget.Added or kind in _TARGET_STATES:
        page.want(TARGETS, str(event.originator_id))
    elif kind is TargetPosting.Checked or kind in _POSTING_HANDLERS:
        page.want(POSTINGS, str(event.originator_id))


def fold(page: Page, event) -> None:
    kind, key = type(event), str(event.originator_id)
    if kind is LedgerTarget.Added:
        page.create(TARGETS, key, connection_id=str(event.connection_id), name=event.name,
                    purpose=event.purpose, state="running", updated_at=_ts(event.timestamp))
    elif kind in _TARGET_STATES:
        values = {"state": _TARGET_STATES[kind], "updated_at": _ts(event.timestamp)}
        if kind is LedgerTarget.Switched:
            values["switch_version"] = event.connection_version
        page.update(TARGETS, key, **values)
    elif kind is TargetPosting.Checked:
        page.create(POSTINGS, key, target_id=str(event.target_id),
                    document_id=str(event.document_id), number=event.number,
                    status=PostingState.CHECKED, settings_version=event.settings_version,
                    updated_at=_ts(event.timestamp))
    elif kind in _POSTING_HANDLERS:
        # Every event moves ``updated_at``: the dispatcher's "not moved for a while".
        page.update(POSTINGS, key, updated_at=_ts(event.timestamp),
                    **_POSTING_HANDLERS[kind](event))


_TARGET_STATES = {
    LedgerTarget.Relisted: "running",
    LedgerTarget.Paused: "paused",
    LedgerTarget.Resumed: "running",
    LedgerTarget.Finished: "finished",
    LedgerTarget.Switched: "switched",
}

P = TargetPosting
_POSTING_HANDLERS = {
    P.DebtorResolved: lambda e: {"status": PostingState.DEBTOR_RESOLVED},
    P.PostingStarted: lambda e: {"status": PostingState.POSTING, "attempts": e.attempt},
    P.PostingInterrupted: lambda e: {"status": PostingState.DEBTOR_RESOLVED,
                                     "settle_until": _ts(e.settle_until)},
    P.LookedUp: lambda e: {},  # moved: a worker is at it
    P.Posted: lambda e: {"status": PostingState.POSTED, "failure_code": None,
                         "settle_until": None},
    P.Failed: lambda e: {"status": PostingState.FAILED, "failure_code": e.code},
    P.Retried: lambda e: {"status": PostingState.CHECKED, "failure_code": None,
                          "settings_version": e.settings_version},
    P.PaymentStarted: lambda e: {"payment_status": "posting",
                                 "payment_attempts": e.attempt},
    P.PaymentInterrupted: lambda e: {"payment_status": "interrupted",
                                     "payment_settle_until": _ts(e.settle_until)},
    P.PaymentLookedUp: lambda e: {},
    P.PaymentPosted: lambda e: {"payment_status": "posted", "payment_code": None,
                                "payment_settle_until": None},
    P.PaymentFailed: lambda e: {"payment_status": "failed", "payment_code": e.code},
}
