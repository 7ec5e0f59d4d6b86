"""Finding a document by what the merchant knows of it: its order or invoice number, the
customer's name or e-mail address (``projections.bookings`` keeps the customers)."""

from __future__ import annotations

from projections.bookings import searchable
from projections.queries import Scope, in_scope
from projections.store import ReadStore

LIMIT = 50


def _like(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its own % and _ taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_documents(store: ReadStore, text: str, scope: Scope = None,
                     limit: int = LIMIT) -> list[dict]:
    """Documents whose number starts with ``text``, or whose customer's name or e-mail holds
    it (case-insensitive); exact number matches first, then the latest."""
    needle = searchable(text)
    if not needle:
        return []
    scoped, params = in_scope(scope, "d.connection_id")
    return store.query(
        "SELECT d.id, d.kind, d.number, d.status, d.connection_id, d.total_incl, d.currency, "
        "d.updated_at, c.name AS connection, b.customer_name, b.customer_email "
        "FROM documents d LEFT JOIN booked_documents b ON b.id = d.id "
        "LEFT JOIN connections c ON c.id = d.connection_id "
        f"WHERE (LOWER(d.number) LIKE ? ESCAPE '\\' OR b.searchable LIKE ? ESCAPE '\\') "
        f"AND {scoped} "
        "ORDER BY CASE WHEN LOWER(d.number) = ? THEN 0 ELSE 1 END, d.updated_at DESC, d.id "
        "LIMIT ?",
        [_like(needle)[1:], _like(needle), *params, needle, limit])
