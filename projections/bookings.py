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
from projections.documents import DOCUMENTS
from projections.page import Page

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


def want(page: Page, event) -> None:
    if isinstance(event, Document.Checked):
        page.want(DOCUMENTS, str(event.originator_id))  # its connection and status


def fold(page: Page, event) -> None:
    if isinstance(event, Document.Checked):
        _checked(page, str(event.originator_id), event)
    elif isinstance(event, Connection.HistoryErased):
        _erased(page, event)


def _erased(page: Page, e: Connection.HistoryErased) -> None:
    """The erased documents' customers and lines go with their events (application/removal.py):
    only those the tombstone names, like the documents' rows. Deleted after the page's bulk
    writes, which is the same end state: an erased document has no events after its erasure."""
    for entry in e.documents:
        page.statement("DELETE FROM booked_documents WHERE id = ?", [entry["id"]])
        page.statement("DELETE FROM booked_lines WHERE document_id = ?", [entry["id"]])


def _checked(page: Page, doc_id: str, e: Document.Checked) -> None:
    booking = e.booking
    if "lines" not in booking:  # an unreadable source (R1): nothing was booked or known
        return
    row = page.row(DOCUMENTS, doc_id)  # as this very event left it (documents folds first)
    if row is None or row["status"] == Status.POSTED:
        return  # a posted document keeps the lines the ledger got (R5.7)
    customer = booking.get("customer") or {}
    name = customer.get("company") or " ".join(
        part for part in (customer.get("first_name"), customer.get("last_name")) if part)
    email = (customer.get("email") or "").strip().casefold()
    page.replace("booked_documents", "id", doc_id, [dict(
        id=doc_id, connection_id=row["connection_id"], booking_date=booking.get("date"),
        country=booking.get("country"), customer_name=name, customer_email=email,
        searchable=searchable(name, customer.get("first_name", ""),
                              customer.get("last_name", ""), email))])
    page.replace("booked_lines", "document_id", doc_id, [dict(
        document_id=doc_id, position=position, kind=line["kind"],
        vat_code=line.get("vat_code"), vat_rate=line["vat_rate"], account=line.get("account"),
        amount_incl=line["amount_incl"]) for position, line in enumerate(booking["lines"])])
