"""koppel's side of a reconciliation, read from the read models the event log fills: the
documents of a connection it posted with a booking date in the period, each with the lines the
ledger got (``projections.bookings``) and the ledger's reference; and what koppel knows of the
documents it did not post (their status), to say why a shop document is not booked.
"""

from __future__ import annotations

import json
from datetime import date
from itertools import groupby

from domain.document import Status
from projections.store import ReadStore


SELECT = ("SELECT d.id, d.number, d.ledger_reference, b.booking_date, b.country, l.account, "
          "l.vat_code, l.vat_rate, l.amount_incl FROM documents d "
          "JOIN booked_documents b ON b.id = d.id "
          "JOIN booked_lines l ON l.document_id = d.id "
          "WHERE d.connection_id = ? AND d.status = ? AND ")
ORDER = " ORDER BY d.number, d.id, l.position"


def posted(store: ReadStore, connection_id: str, first: date, last: date) -> list[dict]:
    """``{"id", "number", "booking_date", "country", "reference", "lines": [...]}`` per
    posted document, lines as ``{"account", "vat_code", "vat_rate", "amount_incl"}``."""
    return _documents(store.query(
        SELECT + "b.booking_date >= ? AND b.booking_date <= ?" + ORDER,
        [connection_id, Status.POSTED, first.isoformat(), last.isoformat()]))


def posted_numbered(store: ReadStore, connection_id: str, numbers: list[str]) -> list[dict]:
    """As ``posted``, for the documents with these shop numbers, whatever their date."""
    out = []
    for start in range(0, len(numbers), 500):  # a bounded number of parameters per query
        chunk = numbers[start:start + 500]
        out += _documents(store.query(
            SELECT + f"d.number IN ({', '.join('?' * len(chunk))})" + ORDER,
            [connection_id, Status.POSTED, *chunk]))
    return out


def _documents(rows: list[dict]) -> list[dict]:
    out = []
    for doc_id, lines in groupby(rows, key=lambda row: row["id"]):
        lines = list(lines)
        head = lines[0]
        out.append({
            "id": doc_id, "number": head["number"], "booking_date": head["booking_date"],
            "country": head["country"] or "",
            "reference": json.loads(head["ledger_reference"] or "{}") or {},
            "lines": [{k: line[k] for k in ("account", "vat_code", "vat_rate", "amount_incl")}
                      for line in lines]})
    return out


def statuses(store: ReadStore, connection_id: str, kind: str) -> dict[str, str]:
    """koppel's status of each document of this kind it knows, by the shop's number."""
    return {row["number"]: row["status"] for row in store.query(
        "SELECT number, status FROM documents WHERE connection_id = ? AND kind = ?",
        [connection_id, kind])}


class BookedDocuments:
    """``application.reconciliation.Booked`` over this installation's read store."""

    def __init__(self, store: ReadStore) -> None:
        self.store = store

    def posted(self, connection_id: str, first: date, last: date) -> list[dict]:
        return posted(self.store, connection_id, first, last)

    def posted_numbered(self, connection_id: str, numbers: list[str]) -> list[dict]:
        return posted_numbered(self.store, connection_id, numbers)

    def statuses(self, connection_id: str, kind: str) -> dict[str, str]:
        return statuses(self.store, connection_id, kind)
