"""What the pages ask of the read model: a few lines of SQL each, keyset-paginated.

A page is ordered by (updated_at, id) descending; the cursor is the last row's pair, so paging
stays stable while new documents arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Collection
from uuid import UUID

from domain.document import Status
from projections.store import ReadStore

PAGES = {
    "report": ("status = ?", [Status.POSTED]),
    "errors": ("status = ?", [Status.FAILED]),
    "open": ("status IN (" + ", ".join("?" * len(Status.OPEN)) + ")", list(Status.OPEN)),
    "payments": ("payment_status IS NOT NULL", []),
}


# The connections a reader may see (their ids as text); None: every connection (support).
Scope = Collection[str] | None


def in_scope(scope: Scope, column: str = "connection_id") -> tuple[str, list]:
    """A WHERE clause keeping rows of the scope's connections (none: no rows at all)."""
    if scope is None:
        return "1 = 1", []
    if not scope:
        return "1 = 0", []
    return f"{column} IN ({', '.join('?' * len(scope))})", [str(c) for c in scope]


@dataclass(frozen=True)
class Page:
    rows: list[dict]
    next_cursor: str | None


def documents_page(store: ReadStore, page: str, *, limit: int = 50, after: str | None = None,
                   date_from: date | None = None, date_to: date | None = None,
                   scope: Scope = None) -> Page:
    where, params = PAGES[page]
    scoped, scope_params = in_scope(scope)
    clauses, params = [where, scoped], [*params, *scope_params]
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


def counts(store: ReadStore, scope: Scope = None) -> dict[str, int]:
    scoped, params = in_scope(scope)
    found = {row["status"]: row["n"] for row in store.query(
        f"SELECT status, COUNT(*) AS n FROM documents WHERE {scoped} GROUP BY status", params)}
    payments = store.scalar(
        f"SELECT COUNT(*) FROM documents WHERE payment_status IS NOT NULL AND {scoped}", params)
    return {
        "report": found.get(Status.POSTED, 0),
        "errors": found.get(Status.FAILED, 0),
        "open": sum(found.get(s, 0) for s in Status.OPEN),
        "payments": int(payments or 0),
        "before_start": found.get(Status.BEFORE_START, 0),
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


def unfinished_documents(store: ReadStore, conn_id: UUID | str) -> list[str]:
    """The ids of a connection's documents that are not done yet (a resumed connection sends
    them on at once)."""
    placeholders = ", ".join("?" * len(Status.OPEN))
    return [str(row["id"]) for row in store.query(
        f"SELECT id FROM documents WHERE connection_id = ? AND status IN ({placeholders})",
        [str(conn_id), *Status.OPEN])]


def stale_payments(store: ReadStore, older_than: str, limit: int = 500) -> list[dict]:
    """Posted documents whose payment was started or interrupted and not touched since
    ``older_than``: the payment's retry may have died with its worker."""
    return store.query(
        "SELECT id, number, payment_status, updated_at FROM documents WHERE status = ? AND "
        "payment_status IN ('interrupted', 'posting') AND updated_at < ? "
        "ORDER BY updated_at LIMIT ?", [Status.POSTED, older_than, limit])


def missed_webhooks(store: ReadStore, scope: Scope = None) -> int:
    """Documents koppel first heard of from the sweep: their webhook never came (I2)."""
    scoped, params = in_scope(scope)
    return int(store.scalar(f"SELECT COUNT(*) FROM documents WHERE via = 'sweep' AND {scoped}",
                            params) or 0)


def connections(store: ReadStore, scope: Scope = None) -> list[dict]:
    scoped, params = in_scope(scope, "id")
    return store.query(f"SELECT * FROM connections WHERE {scoped} ORDER BY name", params)


def documents_numbered(store: ReadStore, number: str, scope: Scope = None) -> list[dict]:
    """Every document with this number (two shops may both have an order 7001)."""
    scoped, params = in_scope(scope, "d.connection_id")
    return store.query(
        "SELECT d.id, d.kind, d.number, d.status, d.connection_id, c.name AS connection "
        "FROM documents d LEFT JOIN connections c ON c.id = d.connection_id "
        f"WHERE d.number = ? AND {scoped} ORDER BY c.name, d.kind", [number, *params])


# -- people ---------------------------------------------------------------------------------

def people(store: ReadStore) -> list[dict]:
    """Every account with the names of the connections granted to it now."""
    rows = store.query("SELECT * FROM people ORDER BY email")
    granted = store.query(
        "SELECT g.user_id, c.name FROM grants g JOIN connections c ON c.id = g.connection_id "
        "WHERE g.revoked_at IS NULL ORDER BY c.name")
    for row in rows:
        row["connections"] = [g["name"] for g in granted if g["user_id"] == row["id"]]
    return rows


def shared_with(store: ReadStore, connection_id: str) -> list[str]:
    """The accountants who see the connection now."""
    return [row["email"] for row in store.query(
        "SELECT p.email FROM grants g JOIN people p ON p.id = g.user_id WHERE "
        "g.connection_id = ? AND g.revoked_at IS NULL AND p.role = 'accountant' "
        "ORDER BY p.email", [str(connection_id)])]


def who_could_see(store: ReadStore, connection_id: str, on: date) -> list[dict]:
    """Everyone who could see the connection at any moment of ``on`` (UTC): grants that
    overlapped the day, and the support accounts that existed by its end.
    ``{"email", "role", "from", "until"}``; ``until`` None while the grant lasts."""
    start = datetime.combine(on, time(), timezone.utc)
    day_start, day_end = start.isoformat(), (start + timedelta(days=1)).isoformat()
    granted = store.query(
        "SELECT p.email, p.role, g.granted_at AS \"from\", g.revoked_at AS until "
        "FROM grants g JOIN people p ON p.id = g.user_id WHERE g.connection_id = ? "
        "AND g.granted_at < ? AND (g.revoked_at IS NULL OR g.revoked_at >= ?)",
        [str(connection_id), day_end, day_start])
    support = store.query(
        "SELECT email, role, created_at AS \"from\", NULL AS until FROM people "
        "WHERE role = 'support' AND created_at < ?", [day_end])
    return sorted(granted + support, key=lambda row: (row["email"], row["from"]))


def consultations(store: ReadStore, connection_id: str, on: date) -> list[dict]:
    """Why support looked at the connection on ``on`` (UTC): ``{"email", "at", "reason"}``."""
    start = datetime.combine(on, time(), timezone.utc)
    return store.query(
        "SELECT p.email, c.at, c.reason FROM consultations c JOIN people p ON p.id = c.user_id "
        "WHERE c.connection_id = ? AND c.at >= ? AND c.at < ? ORDER BY c.at",
        [str(connection_id), start.isoformat(), (start + timedelta(days=1)).isoformat()])


def dry_run_candidates(store: ReadStore, conn_id: UUID, date_from: date,
                       date_to: date) -> list[UUID]:
    """The documents a dry run of a settings draft looks at (issue 13.2): booked in the
    period, or not booked yet (no booking date). A day's margin on each side, as the draft's
    time zone may move a date (R0.4); the dry run keeps what falls in the period itself.
    Oldest first, the order the shop made them in."""
    rows = store.query(
        "SELECT id FROM documents WHERE connection_id = ? AND status <> 'before_start' "
        "AND (booking_date IS NULL OR (booking_date >= ? AND booking_date <= ?)) "
        "ORDER BY received_at, id",
        [str(conn_id), (date_from - timedelta(days=1)).isoformat(),
         (date_to + timedelta(days=1)).isoformat()])
    return [UUID(row["id"]) for row in rows]


# -- further ledgers (issue 13.3) -------------------------------------------------------------

# A posting the claim protocol left part-way (checked, debtor found, a claim taken or given
# back): a follow or replay stopped there.
_UNFINISHED_POSTING = "('checked', 'debtor_resolved', 'posting')"
# A document whose history was erased, or whose connection was removed, has no row in
# ``documents`` any more: nothing to send for it (it would be dropped, again every run).
_STILL_BOOKED = "JOIN documents d ON d.id = p.document_id AND d.status = 'posted'"


def stale_target_postings(store: ReadStore, older_than: str, limit: int = 500) -> list[dict]:
    """Postings into a further ledger, or their payments, left part-way and not moved since
    ``older_than``: the follow's message ran out of retries or died with its worker. Only
    targets whose replay is not paused (a paused one waits for its merchant)."""
    return store.query(
        "SELECT p.target_id, p.document_id, p.number, p.status, p.payment_status, "
        "p.updated_at FROM target_postings p JOIN ledger_targets t ON t.id = p.target_id "
        f"{_STILL_BOOKED} WHERE t.state <> 'paused' AND p.updated_at < ? "
        f"AND (p.status IN {_UNFINISHED_POSTING}"
        " OR (p.status = 'posted' AND p.payment_status IN ('posting', 'interrupted'))) "
        "ORDER BY p.updated_at LIMIT ?", [older_than, limit])


def target_payments_to_check(store: ReadStore, limit: int = 1000) -> list[dict]:
    """R8.3 for further ledgers: sales in a target whose payment failed (no open item yet,
    another amount), in targets that follow (or, switched, keep the sales from before)."""
    return store.query(
        "SELECT p.target_id, p.document_id, p.number FROM target_postings p "
        f"JOIN ledger_targets t ON t.id = p.target_id {_STILL_BOOKED} "
        "WHERE t.state <> 'paused' AND p.status = 'posted' AND p.payment_status = 'failed' "
        "ORDER BY p.updated_at LIMIT ?",
        [limit])


def target_counts(store: ReadStore, target_id: UUID | str) -> dict[str, int]:
    """A target's postings by how far they are: booked, failed, waiting (part-way), and its
    payments booked and failed."""
    row = store.query(
        "SELECT COUNT(*) AS postings, "
        "SUM(CASE WHEN status = 'posted' THEN 1 ELSE 0 END) AS posted, "
        "SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS failed, "
        "SUM(CASE WHEN payment_status = 'posted' THEN 1 ELSE 0 END) AS paid, "
        "SUM(CASE WHEN payment_status = 'failed' THEN 1 ELSE 0 END) AS payments_failed "
        "FROM target_postings WHERE target_id = ?", [str(target_id)])[0]
    counts = {key: int(value or 0) for key, value in row.items()}
    counts["waiting"] = counts.pop("postings") - counts["posted"] - counts["failed"]
    return counts
