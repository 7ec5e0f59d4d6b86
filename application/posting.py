"""How a sale reaches each kind of ledger document, behind one small interface.

Processing needs three things of a ledger to keep I1: build the request (the domain's rules),
find the document when an earlier attempt may have arrived, and send it. Each ledger document
kind (an e-Boekhouden mutation or invoice, a Billit order) answers those its own way.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from domain import billit as billit_rules
from domain import eboekhouden as eboekhouden_rules
from domain.booking import Booking
from domain.settings import Settings


class SalePosting(Protocol):
    needs_debtor: bool
    rule: str  # the rule of mapping.md that says what is sent
    names_credited_invoice: bool  # a credit note names the invoice it credits (R7.3)

    def request(self, booking: Booking, relation: dict, external_id: str,
                credited: str | None = None) -> dict:
        """``credited``: the ledger's number of the invoice a credit note credits, if any."""

    def find(self, booking: Booking, request: dict) -> dict | None: ...

    def send(self, request: dict) -> dict: ...

    def is_ours(self, found: dict, request: dict) -> bool:
        """Is the ledger document found under our number the one this request describes?
        A number can be taken by another document (two shops without a prefix, a number
        reused by hand); taking that for ours would lose this sale (I2)."""


def _rows_total(rows: list[dict]) -> Decimal:
    return sum((Decimal(str(row.get("amount") or 0)) for row in rows), Decimal(0))


class EBoekhoudenMutation:
    """R7.1: a type-2 mutation, found again by its invoice number (the sales number)."""

    needs_debtor = True
    rule = "R7.1"
    names_credited_invoice = False

    def __init__(self, ledger, settings: Settings) -> None:
        self.ledger, self.settings = ledger, settings

    def request(self, booking: Booking, relation: dict, external_id: str,
                credited: str | None = None) -> dict:
        return eboekhouden_rules.sale_request(booking, self.settings, relation["id"])

    def find(self, booking: Booking, request: dict) -> dict | None:
        return self.ledger.find_mutation(booking.sales_number)

    def send(self, request: dict) -> dict:
        response = self.ledger.create_mutation(request["body"])
        return {"id": response.get("id")}

    def is_ours(self, found: dict, request: dict) -> bool:
        body = request["body"]
        return (found.get("relationId") == body["relationId"]
                and str(found.get("date", ""))[:10] == body["date"]
                and _rows_total(found.get("rows") or []) == _rows_total(body["rows"]))


class EBoekhoudenInvoice:
    """R7.2: an invoice of the invoicing module. With the shop's number it is found by that
    number; when the ledger numbers it, by the sales number kept in its ``reference``."""

    needs_debtor = True
    rule = "R7.2"
    names_credited_invoice = False

    def __init__(self, ledger, settings: Settings) -> None:
        self.ledger, self.settings = ledger, settings

    def request(self, booking: Booking, relation: dict, external_id: str,
                credited: str | None = None) -> dict:
        return eboekhouden_rules.sale_request(booking, self.settings, relation["id"])

    def find(self, booking: Booking, request: dict) -> dict | None:
        if self.settings.ledger.invoice_number == "shop":
            return self.ledger.find_invoice(booking.sales_number)
        return self.ledger.find_invoice_by_reference(booking.sales_number,
                                                     request["body"]["relationId"])

    def send(self, request: dict) -> dict:
        response = self.ledger.create_invoice(request["body"])
        return {"id": response.get("id"), "invoiceNumber": response.get("invoiceNumber")}

    def is_ours(self, found: dict, request: dict) -> bool:
        body = request["body"]
        sent = sum((Decimal(str(item["quantity"])) * Decimal(str(item["pricePerUnit"]))
                    for item in body["items"]), Decimal(0))
        return (found.get("relationId") == body["relationId"]
                and str(found.get("date", ""))[:10] == body["date"]
                and Decimal(str(found.get("totalAmount", "NaN"))) == sent)


class BillitOrder:
    """R7.3: a Billit order, sent with an idempotency key and found by ExternalProviderID."""

    needs_debtor = False  # the customer travels inside the order
    rule = "R7.3"
    names_credited_invoice = True

    def __init__(self, client, settings: Settings) -> None:
        self.client, self.settings = client, settings

    def request(self, booking: Booking, relation: dict, external_id: str,
                credited: str | None = None) -> dict:
        return billit_rules.order_request(booking, self.settings, external_id, credited)

    def ledger_number(self, reference: dict) -> str | None:
        """The number Billit gave a posted order (it numbers them itself)."""
        order = self.client.get_order(reference["id"]) if reference.get("id") else None
        return str(order["OrderNumber"]) if order and order.get("OrderNumber") else None

    def find(self, booking: Booking, request: dict) -> dict | None:
        return self.client.find_order(request["body"]["ExternalProviderID"])

    def send(self, request: dict) -> dict:
        body = request["body"]
        if self.settings.ledger.post_to_products:
            body = self.client.resolve_products(body)
        key = request.get("headers", {}).get("Idempotency-Key") or body["ExternalProviderID"]
        return self.client.create_order(body, idempotency_key=key)

    def is_ours(self, found: dict, request: dict) -> bool:
        # Found by ExternalProviderID, which is this document's own id: nobody else's.
        return found.get("ExternalProviderID") == request["body"]["ExternalProviderID"]


def sale_posting(settings: Settings, ledger) -> SalePosting:
    if settings.ledger.system == "billit":
        return BillitOrder(ledger, settings)
    if settings.ledger.document == "invoice":
        return EBoekhoudenInvoice(ledger, settings)
    return EBoekhoudenMutation(ledger, settings)
