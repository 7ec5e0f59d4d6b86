"""Reconciliation of a connection over a period (issue 13.1): reads the three sides and lets
``domain.reconciliation`` match them.

- the shop: its list API (the kind the connection books; in ``paid_orders`` mode only the paid
  orders, since an unpaid one is not meant to be booked yet), those whose booking date (R0.4)
  lies in the period and that the connection books at all (its start date);
- koppel: the documents it posted with a booking date in the period (the read models of the
  event log, behind ``Booked``);
- the ledger: its own list API with the documented filters (e-Boekhouden
  ``GET /v1/mutation?type=2&date[range]=``; Billit ``GET /v1/orders?$filter=OrderDate ...``),
  each booking read in full for its lines.

A booking of koppel's that the ledger does not list in the period is asked for once more by
its number: a booking whose date someone changed is *edited*, not deleted.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time as day_start, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Callable, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from application.connections import ConnectionContext, ConnectionDirectory
from domain.booking import totals
from domain.modes import booked_kind
from domain.reconciliation import (KoppelBooking, LedgerBooking, Line, Reconciliation,
                                   ShopDocument, reconcile)
from domain.money import NotANumber, strip_zeros
from domain.source import DocumentError, read_source
from domain.vat import normalise_rate

CENT = Decimal("0.01")
Progress = Callable[[str, int, int], None]  # (stage, done, total)


class Booked(Protocol):
    def posted(self, connection_id: str, first: date, last: date) -> list[dict]: ...

    def posted_numbered(self, connection_id: str, numbers: list[str]) -> list[dict]: ...

    def statuses(self, connection_id: str, kind: str) -> dict[str, str]: ...


@dataclass
class Report:
    connection_id: UUID
    connection: str
    ledger: str          # "eboekhouden" | "billit"
    first: date
    last: date
    result: Reconciliation
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)  # seconds per side read

    @property
    def differs(self) -> bool:
        return self.result.differs


def _quiet(stage: str, done: int, total: int) -> None:
    return None


class Reconciliations:
    def __init__(self, connections: ConnectionDirectory, booked: Booked) -> None:
        self.connections, self.booked = connections, booked

    def run(self, conn_id: UUID, first: date, last: date,
            progress: Progress = _quiet) -> Report:
        if last < first:
            raise ValueError("the period ends before it starts")
        started = time.monotonic()
        stages: dict[str, float] = {}

        def timed(stage: str, read):
            at = time.monotonic()
            value = read()
            stages[stage] = round(time.monotonic() - at, 3)
            return value

        connection = self.connections.get(conn_id)
        shop = timed("shop", lambda: self._shop(connection, first, last, progress))
        koppel = timed("koppel", lambda: self._koppel(connection, first, last))
        ledger = timed("ledger", lambda: self._ledger(connection, first, last, koppel,
                                                      progress))
        result = timed("matching", lambda: reconcile(
            shop, koppel, ledger, ours=_numbering(connection),
            koppel_status=self.booked.statuses(str(conn_id), booked_kind(connection.settings)),
            elsewhere=self._elsewhere(connection, koppel, ledger)))
        return Report(conn_id, connection.name, connection.settings.ledger.system, first,
                      last, result, time.monotonic() - started, stages)

    # -- the shop ----------------------------------------------------------------------------

    def _shop(self, connection: ConnectionContext, first: date, last: date,
              progress: Progress) -> list[ShopDocument]:
        settings = connection.settings
        kind = booked_kind(settings)
        zone = ZoneInfo(settings.shop.timezone)
        # The list filters on UTC dates: a day more on each side covers the shop's time zone.
        since = datetime.combine(first - timedelta(days=1), day_start(), tzinfo=timezone.utc)
        until = datetime.combine(last + timedelta(days=1), day_start(), tzinfo=timezone.utc)
        shop = self.connections.shop(connection)
        listing = shop.list_orders(since=since, until=until) if kind == "order" else \
            shop.list_invoices(since=since, until=until)
        found = []
        for item in listing:
            try:
                source = read_source({kind: item, f"{kind}rows": []})
            except (DocumentError, NotANumber):
                continue  # unreadable: the rules say so on the document itself
            day = source.created.astimezone(zone).date()
            if not first <= day <= last or not connection.span.books(source.created):
                continue
            if kind == "order" and settings.shop.process == "paid_orders" and not source.paid:
                continue
            found.append(ShopDocument(source.number, day.isoformat(), totals(source)[0],
                                      source.country))
            if len(found) % 200 == 0:
                progress("shop", len(found), 0)
        progress("shop", len(found), len(found))
        return found

    # -- koppel ------------------------------------------------------------------------------

    def _koppel(self, connection: ConnectionContext, first: date,
                last: date) -> list[KoppelBooking]:
        return [_koppel_booking(connection, doc)
                for doc in self.booked.posted(str(connection.id), first, last)]

    def _elsewhere(self, connection: ConnectionContext, koppel: list[KoppelBooking],
                   ledger: list[LedgerBooking]) -> list[KoppelBooking]:
        """koppel's bookings of other periods under the keys of this period's ledger
        bookings that match none of this period's: someone moved their date in."""
        known = {b.key for b in koppel}
        strange = [entry for entry in ledger if entry.key not in known]
        prefix = connection.settings.shop.number_prefix
        numbers = {_shop_number(entry, prefix) for entry in strange} - {""}
        if not numbers:
            return []
        keys = {entry.key for entry in strange}
        found = (_koppel_booking(connection, doc) for doc in self.booked.posted_numbered(
            str(connection.id), sorted(numbers)))
        return [booking for booking in found if booking.key in keys]

    # -- the ledger --------------------------------------------------------------------------

    def _ledger(self, connection: ConnectionContext, first: date, last: date,
                koppel: list[KoppelBooking], progress: Progress) -> list[LedgerBooking]:
        client = self.connections.ledger(connection)
        ledger = connection.settings.ledger
        if ledger.system == "billit":
            return [_billit_booking(order) for order in client.income_between(first, last)]
        if ledger.document == "invoice" and not ledger.book_invoice:  # R7.2, no mutation
            listing, numbered, read = (client.invoices_between, client.invoice_numbered,
                                       _invoice_booking)
        else:  # R7.1, or R7.2 booked: the invoice is a type-2 mutation with its number
            listing, numbered, read = (client.sales_between, client.sale_numbered,
                                       _eboekhouden_booking)
        found = []
        for booked in listing(first, last):
            found.append(read(booked))
            if len(found) % 100 == 0:
                progress("ledger", len(found), 0)
        listed = {b.key.casefold() for b in found}
        for booking in koppel:  # not listed in the period: deleted, or moved to another date?
            if booking.key.casefold() not in listed:
                moved = numbered(booking.key)
                if moved is not None:
                    found.append(read(moved))
        progress("ledger", len(found), len(found))
        return found


def _koppel_booking(connection: ConnectionContext, doc: dict) -> KoppelBooking:
    if connection.settings.ledger.system == "billit":
        key = doc["id"]  # the ExternalProviderID koppel gives each order (R7.3)
        lines = tuple(Line("", _rate_text(line["vat_rate"]), Decimal(line["amount_incl"]))
                      for line in doc["lines"])
    else:  # the number the ledger knows: its own for an invoice it numbered (R7.2)
        prefix = connection.settings.shop.number_prefix
        key = str(doc["reference"].get("invoiceNumber") or prefix + doc["number"])
        lines = tuple(Line(line["account"] or "", line["vat_code"] or "",
                           Decimal(line["amount_incl"])) for line in doc["lines"])
    return KoppelBooking(key, doc["number"], doc["booking_date"], doc["country"], lines)


def _shop_number(entry: LedgerBooking, prefix: str) -> str:
    """The shop's number a ledger booking would have if koppel made it ("" : none)."""
    if _is_uuid(entry.key):  # Billit: the order's title is the shop's number (R7.3)
        return entry.mark
    sales_number = entry.mark or entry.key  # e-Boekhouden: prefix + the shop's number
    return sales_number[len(prefix):] if sales_number.startswith(prefix) else ""


def _numbering(connection: ConnectionContext) -> Callable[[LedgerBooking], bool]:
    """Is a ledger booking in koppel's numbering? e-Boekhouden: its number (or, for an
    invoice the ledger numbered, the sales number koppel keeps in its reference) starts with
    the connection's prefix (no prefix: every sale of the period is in the shop's numbering);
    Billit: it carries a koppel external id (a document id), which no person types by hand."""
    if connection.settings.ledger.system == "billit":
        return lambda entry: _is_uuid(entry.key)
    prefix = connection.settings.shop.number_prefix.casefold()
    return lambda entry: (entry.mark or entry.key).casefold().startswith(prefix)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _rate_text(rate) -> str:
    return f"{strip_zeros(normalise_rate(Decimal(str(rate))))}%"


def _eboekhouden_booking(mutation: dict) -> LedgerBooking:
    rows = mutation.get("rows") or []
    amounts = [Decimal(str(row.get("amount") or 0)) for row in rows]
    if mutation.get("inExVat") == "EX":  # a booking made by hand without VAT: add its share
        amounts = _with_vat(rows, amounts, mutation.get("vat") or [])
    lines = tuple(Line(str(row.get("ledgerCode") or row.get("ledgerId") or ""),
                       str(row.get("vatCode") or ""), amount)
                  for row, amount in zip(rows, amounts))
    number = str(mutation.get("invoiceNumber") or "")
    return LedgerBooking(number, number, str(mutation.get("date") or "")[:10], lines,
                         str(mutation.get("id") or ""))


def _with_vat(rows: list[dict], amounts: list[Decimal], vat: list[dict]) -> list[Decimal]:
    per_code = {str(v.get("vatCode")): Decimal(str(v.get("amount") or 0)) for v in vat}
    sums: dict[str, Decimal] = {}
    for row, amount in zip(rows, amounts):
        sums[str(row.get("vatCode"))] = sums.get(str(row.get("vatCode")), Decimal(0)) + amount
    out = []
    for row, amount in zip(rows, amounts):
        code = str(row.get("vatCode"))
        share = per_code.get(code, Decimal(0)) * amount / sums[code] if sums[code] else 0
        out.append(amount + Decimal(share).quantize(CENT, ROUND_HALF_UP))
    return out


def _invoice_booking(invoice: dict) -> LedgerBooking:
    """R7.2: each item's amount is its quantity times its price (koppel sends incl. VAT)."""
    items = invoice.get("items") or []
    amounts = [_item_total(item) for item in items]
    if invoice.get("inExVat") == "EX":  # made by hand without VAT: add its share
        amounts = _with_vat(items, amounts, _invoice_vat(invoice, items, amounts))
    lines = tuple(Line(str(item.get("ledgerCode") or item.get("ledgerId") or ""),
                       str(item.get("vatCode") or ""), amount)
                  for item, amount in zip(items, amounts))
    number = str(invoice.get("invoiceNumber") or "")
    return LedgerBooking(number, number, str(invoice.get("date") or "")[:10], lines,
                         str(invoice.get("id") or ""), str(invoice.get("reference") or ""))


def _item_total(item: dict) -> Decimal:
    unit = Decimal(str(item.get("pricePerUnit") or 0))
    if item.get("discountAmount") is not None:
        unit -= Decimal(str(item["discountAmount"]))
    if item.get("discountPercentage") is not None:
        unit -= unit * Decimal(str(item["discountPercentage"])) / 100
    amount = unit * Decimal(str(item.get("quantity") or 1))
    return amount.quantize(CENT, ROUND_HALF_UP)


def _invoice_vat(invoice: dict, items: list[dict], amounts: list[Decimal]) -> list[dict]:
    """The VAT per code of an EX invoice: its total VAT spread over the codes by amount."""
    total_vat = Decimal(str(invoice.get("vatAmount") or 0))
    base = sum(amounts, Decimal(0))
    per_code: dict[str, Decimal] = {}
    for item, amount in zip(items, amounts):
        code = str(item.get("vatCode"))
        per_code[code] = per_code.get(code, Decimal(0)) + (
            total_vat * amount / base if base else Decimal(0))
    return [{"vatCode": code, "amount": amount} for code, amount in per_code.items()]


def _billit_booking(order: dict) -> LedgerBooking:
    sign = -1 if str(order.get("OrderType")) == "CreditNote" else 1
    lines = tuple(Line("", _rate_text(line.get("VATPercentage") or 0),
                       sign * Decimal(str(line.get("TotalIncl") or 0)))
                  for line in order.get("OrderLines") or [])
    key = str(order.get("ExternalProviderID") or order.get("OrderNumber") or "")
    return LedgerBooking(key, str(order.get("OrderNumber") or key),
                         str(order.get("OrderDate") or "")[:10], lines,
                         str(order.get("OrderID") or ""), str(order.get("OrderTitle") or ""))

