"""What the rules made of each document: its lines (for the accountant's export) and its
customer (for search).

Filled from ``Checked`` (the booking holds every line with its VAT code, ledger account and
amounts, and the delivery country of R1.4); a later check of the same document replaces its
rows. As for every read model the values come from the events only, so a rebuild gives the same
rows (I4). Amounts stay decimal text: they are summed with ``Decimal``, never as floats. Only the incl.
amounts are kept: they are what the ledger got (R7.1), and it splits off the VAT itself.
"""

from __future__ import annotations

from domain.connection import Connection
from domain.document import Document, Status
from projections.store import Cursor

TABLES = {
    "booked_documents": """
        CREATE TABLE IF NOT EXISTS booked_documents (
            id TEXT PRIMARY KEY,
            connection_id TEXT NOT NULL,
            booking_date TEXT,
            country TEXT,
            customer_name TEXT NOT NULL DEFAULT '',
            customer_email TEXT NOT NULL DEFAULT '',
            searchable TEXT NOT NULL DEFAULT ''
        )""",
    "booked_lines": """
        CREATE TABLE IF NOT EXISTS booked_lines (
            document_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            kind TEXT NOT NULL,
            vat_code TEXT,
            vat_rate TEXT NOT NULL,
            account TEXT,
            amount_incl TEXT NOT NULL,
            PRIMARY KEY (document_id, position)
        )""",
}
INDEXES = [
    "CREATE INDEX IF NOT EXISTS booked_documents_date ON booked_documents (booking_date)",
    "CREATE INDEX IF NOT EXISTS booked_documents_email ON booked_documents (customer_email)",
]


def searchable(*parts: str) -> str:
    """One lower-case text to match a search against (name, company, e-mail)."""
    return " ".join(part.strip().casefold() for part in parts if part and part.strip())


def apply(cur: Cursor, event) -> None:
    if isinstance(event, Document.Checked):
        _checked(cur, str(event.originator_id), event)
    elif isinstance(event, Connection.HistoryErased):
        _erased(cur, event)


def _erased(cur: Cursor, e: Connection.HistoryErased) -> None:
    """The erased documents' customers and lines go with their events (application/removal.py):
    only those the tombstone names, like the documents' rows."""
    for entry in e.documents:
        cur.execute("DELETE FROM booked_documents WHERE id = ?", [entry["id"]])
        cur.execute("DELETE FROM booked_lines WHERE document_id = ?", [entry["id"]])


def _checked(cur: Cursor, doc_id: str, e: Document.Checked) -> None:
    booking = e.booking
    if "lines" not in booking:  # an unreadable source (R1): nothing was booked or known
        return
    cur.execute("SELECT connection_id, status FROM documents WHERE id = ?", [doc_id])
    row = cur.fetchone()
    if row is None or row[1] == Status.POSTED:
        return  # a posted document keeps the lines the ledger got (R5.7)
    customer = booking.get("customer") or {}
    name = customer.get("company") or " ".join(
        part for part in (customer.get("first_name"), customer.get("last_name")) if part)
    email = (customer.get("email") or "").strip().casefold()
    cur.execute("DELETE FROM booked_documents WHERE id = ?", [doc_id])
    cur.execute("DELETE FROM booked_lines WHERE document_id = ?", [doc_id])
    cur.execute(
        "INSERT INTO booked_documents (id, connection_id, booking_date, country, customer_name, "
        "customer_email, searchable) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [doc_id, row[0], booking.get("date"), booking.get("country"), name, email,
         searchable(name, customer.get("first_name", ""), customer.get("last_name", ""),
                    email)])
    for position, line in enumerate(booking["lines"]):
        cur.execute(
            "INSERT INTO booked_lines (document_id, position, kind, vat_code, vat_rate, account, "
            "amount_incl) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [doc_id, position, line["kind"], line.get("vat_code"), line["vat_rate"],
             line.get("account"), line["amount_incl"]])
