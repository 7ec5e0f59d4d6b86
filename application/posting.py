"""How a sale reaches each kind of ledger document, behind one small interface.

Processing needs three things of a ledger to keep I1: build the request (the domain's rules),
find the document when an earlier attempt may have arrived, and send it. Each ledger document
kind (an e-Boekhouden mutation or invoice, a Billit order) answers those its own way. A lookup
goes by what the request itself carries (its number, reference or external id), so the same
piece finds a sale, a sale replayed into a further ledger, and a correction's parts
(application/corrections.py), which each kind also knows how to reverse (``reversal``).
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
    path: str  # the ledger's path its requests go to: which kind of document they make

    def request(self, booking: Booking, relation: dict, external_id: str,
                credited: str | None = None) -> dict:
        """``credited``: the ledger's number of the invoice a credit note credits, if any."""

    def number(self, request: dict) -> str:
        """The number koppel gave the document in this request (R2.1), that it is found by."""

    def reversal(self, posted: dict, number: str, external_id: str,
                 credited: str | None) -> dict:
        """The request that reverses the posted one, under its own ``number`` (and, where the
        ledger takes one, its own ``external_id``); ``credited``: the ledger's number of the
        posted document, where the reversal names it (R7.3)."""

    def rebooking(self, booking: Booking, relation: dict, external_id: str,
                  posted: dict) -> dict:
        """The request of a correction's new booking: ``booking`` as these settings book it,
        under the correction's number; ``posted``: the request of the document it replaces."""

    def find(self, request: dict) -> dict | None: ...

    def send(self, request: dict) -> dict: ...

    def is_ours(self, found: dict, request: dict) -> bool:
        """Is the ledger document found under our number the one this request describes?
        A number can be taken by another document (two shops without a prefix, a number
        reused by hand); taking that for ours would lose this sale (I2)."""


def _rows_total(rows: list[dict]) -> Decimal:
    return sum((Decimal(str(row.get("amount") or 0)) for row in rows), Decimal(0))


class _EBoekhoudenSale:
    """What both e-Boekhouden document kinds share: the request is the domain's sale request
    (``ledger.document`` chooses R7.1 or R7.2), and a correction's new booking is just that
    request under the correction's number."""

    def __init__(self, ledger, settings: Settings) -> None:
        self.ledger, self.settings = ledger, settings

    def request(self, booking: Booking, relation: dict, external_id: str,
                credited: str | None = None) -> dict:
        return eboekhouden_rules.sale_request(booking, self.settings, relation["id"])

    def rebooking(self, booking: Booking, relation: dict, external_id: str,
                  posted: dict) -> dict:
        return self.request(booking, relation, external_id)


class EBoekhoudenMutation(_EBoekhoudenSale):
    """R7.1: a type-2 mutation, found again by its invoice number (the sales number)."""

    needs_debtor = True
    rule = "R7.1"
    names_credited_invoice = False
    path = eboekhouden_rules.MUTATION_PATH

    def number(self, request: dict) -> str:
        return request["body"]["invoiceNumber"]

    def reversal(self, posted: dict, number: str, external_id: str,
                 credited: str | None) -> dict:
        return eboekhouden_rules.mutation_reversal(posted, number)

    def find(self, request: dict) -> dict | None:
        return self.ledger.find_mutation(self.number(request))

    def send(self, request: dict) -> dict:
        response = self.ledger.create_mutation(request["body"])
        return {"id": response.get("id")}

    def is_ours(self, found: dict, request: dict) -> bool:
        body = request["body"]
        return (found.get("relationId") == body["relationId"]
                and str(found.get("date", ""))[:10] == body["date"]
                and _rows_total(found.get("rows") or []) == _rows_total(body["rows"]))


class EBoekhoudenInvoice(_EBoekhoudenSale):
    """R7.2: an invoice of the invoicing module. With the shop's number it is found by that
    number; when the ledger numbers it, by the sales number kept in its ``reference``."""

    needs_debtor = True
    rule = "R7.2"
    names_credited_invoice = False
    path = eboekhouden_rules.INVOICE_PATH

    def number(self, request: dict) -> str:
        # The shop's number when it numbers the invoice (``ledger.invoice_number = "shop"``),
        # else the reference that carries it (R7.2, eboekhouden.invoice_body).
        body = request["body"]
        return body.get("invoiceNumber") or body["reference"]

    def reversal(self, posted: dict, number: str, external_id: str,
                 credited: str | None) -> dict:
        return eboekhouden_rules.invoice_reversal(posted, number)

    def find(self, request: dict) -> dict | None:
        body = request["body"]
        if body.get("invoiceNumber"):
            return self.ledger.find_invoice(body["invoiceNumber"])
        return self.ledger.find_invoice_by_reference(body["reference"], body["relationId"])

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
    path = billit_rules.ORDERS_PATH

    def __init__(self, client, settings: Settings) -> None:
        self.client, self.settings = client, settings

    def request(self, booking: Booking, relation: dict, external_id: str,
                credited: str | None = None) -> dict:
        return billit_rules.order_request(booking, self.settings, external_id, credited)

    def rebooking(self, booking: Booking, relation: dict, external_id: str,
                  posted: dict) -> dict:
        # A new credit note names what the posted one named (R7.3), if anything.
        credited = posted["body"].get("AboutInvoiceNumber")
        return billit_rules.order_rebooking(self.request(booking, relation, external_id,
                                                         credited))

    def ledger_number(self, reference: dict) -> str | None:
        """The number Billit gave a posted order (it numbers them itself)."""
        order = self.client.get_order(reference["id"]) if reference.get("id") else None
        return str(order["OrderNumber"]) if order and order.get("OrderNumber") else None

    def number(self, request: dict) -> str:
        return request["body"]["OrderTitle"]  # R7.3: Billit numbers the order itself

    def reversal(self, posted: dict, number: str, external_id: str,
                 credited: str | None) -> dict:
        return billit_rules.order_reversal(posted, number, external_id, credited)

    def find(self, request: dict) -> dict | None:
        return self.client.find_order(request["body"]["ExternalProviderID"])

    def send(self, request: dict) -> dict:
        body = request["body"]
        if self.settings.ledger.post_to_products:
            body = self.client.resolve_products(body)
        key = request.get("headers", {}).get("Idempotency-Key") or body["ExternalProviderID"]
        return self.client.create_order(body, idempotency_key=key)

    def is_ours(self, found: dict, request: dict) -> bool:
        # Found by ExternalProviderID, which is this document's (or correction part's) own id:
        # nobody else's.
        return found.get("ExternalProviderID") == request["body"]["ExternalProviderID"]


KINDS = (EBoekhoudenMutation, EBoekhoudenInvoice, BillitOrder)


def kind_of(request: dict) -> type | None:
    """The kind of ledger document a request makes (by the path it goes to)."""
    return next((kind for kind in KINDS if kind.path == request.get("path")), None)


def sale_posting(settings: Settings, ledger) -> SalePosting:
    """The posting of the documents these settings book (``ledger``: the client to reach
    them; None where only requests are built)."""
    if settings.ledger.system == "billit":
        return BillitOrder(ledger, settings)
    if settings.ledger.document == "invoice":
        return EBoekhoudenInvoice(ledger, settings)
    return EBoekhoudenMutation(ledger, settings)
