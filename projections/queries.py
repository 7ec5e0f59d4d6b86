"""What the pages ask of the read model: a few lines of SQL each, keyset-paginated.

A page is ordered by (updated_at, id) descending; the cursor is the last row's pair, so paging
stays stable while new documents arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID

from domain.document import Status
from projections.store import ReadStore

PAGES = {
    "report": ("status = ?", [Status.POSTED]),
    "errors": ("status = ?", [Status.FAILED]),
    "open": ("status IN (" + ", ".join("?" * len(Status.OPEN)) + ")", list(Status.OPEN)),
    "payments": ("payment_status IS NOT NULL", []),
}


@dataclass(frozen=True)
class Page:
    rows: list[dict]
    next_cursor: str | None


def documents_page(store: ReadStore, page: str, *, limit: int = 50, after: str | None = None,
                   date_from: date | None = None, date_to: date | None = None,
                   connection_id: str | None = None) -> Page:
    where, params = PAGES[page]
    clauses, params = [where], list(params)
    if connection_id:
        clauses.append("connection_id = ?")
        params.append(connection_id)
    if date_from:
        clauses.append("booking_date >= ?")
        params.append(date_from.isoformat())
    if date_to:
        clauses.append("booking_date <= ?")
        params.append(date_to.isoformat())
    if after:
        updated_at, doc_id = parse_cursor(after)
        clauses.append("(updated_at < ? OR (updated_at = ? AND id < ?))")
        params += [updated_at, updated_at, doc_id]
    rows = store.query(
        f"SELECT * FROM documents WHERE {' AND '.join(clauses)} "
        "ORDER BY updated_at DESC, id DESC LIMIT ?", [*params, limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = f"{rows[-1]['updated_at']}|{rows[-1]['id']}" if more else None
    return Page(rows, cursor)


def parse_cursor(text: str) -> tuple[str, str]:
    """A page's ``next`` cursor back into (updated_at, id); ValueError when koppel did not
    make it (a value the database would refuse, such as a NUL, never reaches it)."""
    updated_at, bar, doc_id = text.partition("|")
    if not bar:
        raise ValueError("no '|' in the cursor")
    datetime.fromisoformat(updated_at)
    return updated_at, str(UUID(doc_id))


def counts(store: ReadStore) -> dict[str, int]:
    found = {row["status"]: row["n"] for row in
             store.query("SELECT status, COUNT(*) AS n FROM documents GROUP BY status")}
    payments = store.scalar("SELECT COUNT(*) FROM documents WHERE payment_status IS NOT NULL")
    return {
        "report": found.get(Status.POSTED, 0),
        "errors": found.get(Status.FAILED, 0),
        "open": sum(found.get(s, 0) for s in Status.OPEN),
        "payments": int(payments or 0),
    }


def payments_to_check(store: ReadStore, limit: int = 1000) -> list[dict]:
    """R8.3: posted documents whose payment is not booked yet (failed, interrupted, never
    tried): the scheduled payment check looks at each again."""
    return store.query(
        "SELECT id, number FROM documents WHERE status = ? AND (payment_status IS NULL OR "
        "payment_status IN ('failed', 'interrupted', 'posting')) ORDER BY updated_at LIMIT ?",
        [Status.POSTED, limit])


def stale_open_documents(store: ReadStore, older_than: str, limit: int = 500) -> list[dict]:
    """Open documents not touched since ``older_than`` (ISO time): candidates to re-queue."""
    placeholders = ", ".join("?" * len(Status.OPEN))
    return store.query(
        f"SELECT id, status, number, updated_at FROM documents WHERE status IN ({placeholders})"
        " AND status != ? AND updated_at < ? ORDER BY updated_at LIMIT ?",
        [*Status.OPEN, Status.WAITING, older_than, limit])


def stale_payments(store: ReadStore, older_than: str, limit: int = 500) -> list[dict]:
    """Posted documents whose payment was started or interrupted and not touched since
    ``older_than``: the payment's retry may have died with its worker."""
    return store.query(
        "SELECT id, number, payment_status, updated_at FROM documents WHERE status = ? AND "
        "payment_status IN ('interrupted', 'posting') AND updated_at < ? "
        "ORDER BY updated_at LIMIT ?", [Status.POSTED, older_than, limit])


def missed_webhooks(store: ReadStore) -> int:
    """Documents koppel first heard of from the sweep: their webhook never came (I2)."""
    return int(store.scalar("SELECT COUNT(*) FROM documents WHERE via = 'sweep'") or 0)


def connections(store: ReadStore) -> list[dict]:
    return store.query("SELECT * FROM connections ORDER BY name")
