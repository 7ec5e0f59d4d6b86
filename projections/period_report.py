"""The accountant's export: the documents posted in a period, with totals per VAT code, per
ledger account and per delivery country (the basis of the OSS declaration).

Computed from the lines of the bookings that were posted (``projections.bookings``), summed as
``Decimal`` to the cent. Each line is sent to the ledger with its amount incl. VAT (R7.1), so the
incl. totals per VAT code and per account are the ledger's own.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import groupby

from domain.document import Status
from domain.ledger_vat import vat_shares
from projections.queries import Scope, in_scope
from projections.store import ReadStore

ZERO = Decimal("0.00")


@dataclass
class Amounts:
    excl: Decimal = ZERO
    vat: Decimal = ZERO
    incl: Decimal = ZERO

    def add(self, excl: Decimal, vat: Decimal, incl: Decimal) -> None:
        self.excl += excl
        self.vat += vat
        self.incl += incl


@dataclass(frozen=True)
class ReportedDocument:
    connection: str
    kind: str
    number: str
    booking_date: str
    customer: str
    country: str
    currency: str
    amounts: Amounts


@dataclass
class PeriodReport:
    date_from: date
    date_to: date
    documents: list[ReportedDocument] = field(default_factory=list)
    by_vat_code: dict[str, Amounts] = field(default_factory=lambda: defaultdict(Amounts))
    by_account: dict[str, Amounts] = field(default_factory=lambda: defaultdict(Amounts))
    by_country: dict[str, Amounts] = field(default_factory=lambda: defaultdict(Amounts))
    total: Amounts = field(default_factory=Amounts)


def period_report(store: ReadStore, date_from: date, date_to: date,
                  scope: Scope = None) -> PeriodReport:
    """Posted documents whose booking date lies in ``date_from``..``date_to`` (inclusive)."""
    scoped, params = in_scope(scope, "d.connection_id")
    rows = store.query(
        "SELECT d.id, d.kind, d.number, d.currency, c.name AS connection, b.booking_date, "
        "b.country, b.customer_name, l.vat_code, l.vat_rate, l.account, l.amount_incl "
        "FROM documents d "
        "JOIN booked_documents b ON b.id = d.id "
        "JOIN booked_lines l ON l.document_id = d.id "
        "LEFT JOIN connections c ON c.id = d.connection_id "
        f"WHERE d.status = ? AND b.booking_date >= ? AND b.booking_date <= ? AND {scoped} "
        "ORDER BY b.booking_date, c.name, d.number, d.id, l.position",
        [Status.POSTED, date_from.isoformat(), date_to.isoformat(), *params])
    report = PeriodReport(date_from, date_to)
    for _, group in groupby(rows, key=lambda row: row["id"]):
        _add_document(report, list(group))
    for totals in (report.by_vat_code, report.by_account, report.by_country):
        sorted_items = sorted(totals.items())
        totals.clear()
        totals.update(sorted_items)
    return report


def _add_document(report: PeriodReport, lines: list[dict]) -> None:
    """One document's lines, split into excl. and VAT the way the ledger holds them (R7.1)."""
    first = lines[0]
    document = ReportedDocument(
        first["connection"] or "", first["kind"], first["number"], first["booking_date"],
        first["customer_name"], first["country"] or "", first["currency"] or "", Amounts())
    report.documents.append(document)
    incls = [Decimal(line["amount_incl"]) for line in lines]
    shares = vat_shares((line["vat_code"] or "", Decimal(line["vat_rate"]), incl)
                        for line, incl in zip(lines, incls))
    for line, incl, vat in zip(lines, incls, shares):
        excl = incl - vat
        for amounts in (document.amounts, report.by_vat_code[line["vat_code"] or ""],
                        report.by_account[line["account"] or ""],
                        report.by_country[document.country], report.total):
            amounts.add(excl, vat, incl)
