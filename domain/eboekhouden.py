"""R7.1/R7.2: the e-Boekhouden request for a sale.

Every ``ledgerId`` holds the account CODE (e.g. ``"8000"``) and ``templateId`` the template
NAME: the connector resolves both to ledger ids (R7.1 "cached per connection"), so a booking
is built and shown without the ledger. Amounts are ``Decimal`` (R0.1): the connector writes
them as JSON numbers.
"""

from __future__ import annotations

from copy import deepcopy
from decimal import Decimal

from .booking import Booking
from .ledger_lines import amount_in, quantity_and_price
from .settings import Settings

MUTATION_PATH, INVOICE_PATH = "/v1/mutation", "/v1/invoice"
SALE_INVOICE_SENT = "2"   # mutation type "invoice sent"; sent as a string, like the clients do


def _description(booking: Booking) -> str:
    """``"<number> - <payment method>"``, at most 50 characters (e-Boekhouden's limit)."""
    return f"{booking.sales_number} - {booking.payment_method}"[:50]


# R7.1: ``inExVat`` is IN always, with each row's amount incl. VAT, even when the shop's prices
# exclude VAT. e-Boekhouden computes the VAT itself, per VAT code over the summed rows; with EX
# amounts that can land a cent away from the shop's per-line VAT, so the debtor's open item is
# a cent off the invoice the customer got (and its payment then fails R8.2). The incl. amounts
# are what the shop's total is made of (R0.3, R4.6): sent as IN, the ledger's total is the
# shop's total to the cent, whichever way e-Boekhouden rounds.
IN_EX_VAT = "IN"


def _in_ex(booking: Booking) -> str:
    return IN_EX_VAT


def mutation_body(booking: Booking, settings: Settings, relation_id: object) -> dict:
    """R7.1: a type-2 mutation, header on the debtors account, one row per booking line."""
    incl = True  # see IN_EX_VAT
    return {
        "type": SALE_INVOICE_SENT,
        "date": booking.date.isoformat(),
        "ledgerId": settings.ledger.debtors_account,
        "relationId": relation_id,
        "invoiceNumber": booking.sales_number,
        "termOfPayment": settings.ledger.payment_term_days,
        "description": _description(booking),
        "inExVat": _in_ex(booking),
        "rows": [{"ledgerId": line.account, "vatCode": line.vat_code,
                  "amount": amount_in(line, incl), "description": line.description[:200]}
                 for line in booking.lines],
    }


def invoice_body(booking: Booking, settings: Settings, relation_id: object) -> dict:
    """R7.2: an invoice of the invoicing module; optional parts only when switched on."""
    ledger = settings.ledger
    incl = True  # see IN_EX_VAT
    items = []
    for line in booking.lines:
        quantity, price, description = quantity_and_price(line, amount_in(line, incl))
        item = {"quantity": quantity, "description": description[:200], "pricePerUnit": price,
                "vatCode": line.vat_code, "ledgerId": line.account}
        if ledger.post_to_products and line.code:
            item["code"] = line.code
        items.append(item)
    body: dict = {"relationId": relation_id, "date": booking.date.isoformat(),
                  "termOfPayment": ledger.payment_term_days,
                  "templateId": ledger.invoice_template, "inExVat": _in_ex(booking)}
    if ledger.invoice_number == "shop":
        body["invoiceNumber"] = booking.sales_number
    # The sales number rides along as the reference even when the ledger numbers the
    # invoice: it is how a retry finds an invoice whose answer was lost (I1).
    body["reference"] = booking.sales_number[:50]
    body["items"] = items
    if ledger.book_invoice:
        # checkPaymentReference makes e-Boekhouden itself refuse a second booking of it.
        body["mutation"] = {"ledgerId": ledger.debtors_account,
                            "description": _description(booking),
                            "paymentReference": booking.sales_number,
                            "checkPaymentReference": True}
    return body


def sale_request(booking: Booking, settings: Settings, relation_id: object) -> dict:
    """``{"method", "path", "body"}`` for the sale (``ledger.document`` chooses R7.1/R7.2)."""
    if settings.ledger.document == "invoice":
        return {"method": "POST", "path": INVOICE_PATH,
                "body": invoice_body(booking, settings, relation_id)}
    return {"method": "POST", "path": MUTATION_PATH,
            "body": mutation_body(booking, settings, relation_id)}


def _correction_description(number: str) -> str:
    return f"{number} - correctie"[:50]  # the limit of ``_description``


def mutation_reversal(posted: dict, number: str) -> dict:
    """R7.1 reversed: the posted mutation's rows on the same accounts and VAT codes, amounts
    times -1, under ``number`` (its own unique invoice number, R2.1, so it is found again)."""
    body = dict(posted["body"])
    body["invoiceNumber"] = number
    body["description"] = _correction_description(number)
    body["rows"] = [{**row, "amount": -Decimal(str(row["amount"]))} for row in body["rows"]]
    return {"method": "POST", "path": MUTATION_PATH, "body": body}


def invoice_reversal(posted: dict, number: str) -> dict:
    """R7.2 reversed: a credit invoice of the invoicing module. e-Boekhouden has no credit
    type (eboekhouden-api.md 1.6): a credit invoice is an invoice whose lines are negative,
    made here the way its own screen makes one, by negating each item's ``quantity`` and
    keeping its unit price, account and VAT code, so every line and the total are the posted
    ones times -1. ``number`` goes where the posted invoice had the sales number: the
    ``invoiceNumber`` when the shop numbers invoices, and always the ``reference`` (when the
    ledger numbers it, the reference is how it is found again, I1); a booking of it
    (``mutation``) gets it as its payment reference, which e-Boekhouden keeps unique."""
    body = deepcopy(posted["body"])
    if body.get("invoiceNumber"):
        body["invoiceNumber"] = number
    body["reference"] = number
    body["items"] = [{**item, "quantity": -Decimal(str(item["quantity"]))}
                     for item in body["items"]]
    if isinstance(body.get("mutation"), dict):
        body["mutation"] = {**body["mutation"], "paymentReference": number,
                            "description": _correction_description(number)}
    return {"method": "POST", "path": INVOICE_PATH, "body": body}


# The sale VAT codes e-Boekhouden accepts on a sale's rows (eboekhouden-api.md §2, "VAT codes
# (NL)"); it has no endpoint to list them, so the Configuration page offers these. ``VAT_OSS``
# is koppel's own marker for the OSS split (R4.7), never sent to the ledger.
SALE_VAT_CODES = ("HOOG_VERK_21", "LAAG_VERK_9", "VERL_VERK", "VERL_VERK_L9", "BU_EU_VERK",
                  "BI_EU_VERK", "BI_EU_VERK_D", "AFST_VERK", "GEEN")
