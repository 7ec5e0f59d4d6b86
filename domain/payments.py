"""R8: the payment of a posted sale, booked against its open item in e-Boekhouden.

Pure rules: whether a payment is due, what it amounts to, whether the ledger's open item
matches it, and the type-3 mutation that books it. The calls to the ledger are the
application's.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .booking import Booking
from .money import cents
from .settings import Settings

PAYMENT_RECEIVED = "3"  # mutation type "invoice payment received"
NO_VAT = "GEEN"  # payments carry no VAT (R8.2)


@dataclass(frozen=True)
class PaymentProblem:
    code: str
    rule: str
    message_nl: str
    message_en: str


def payment_due(kind: str, booking: Booking, settings: Settings) -> bool:
    """R8.1: after the sale is posted; orders only when paid, invoices always. Billit gets its
    payment status inside the document (R7.3), so this is e-Boekhouden's alone."""
    if settings.ledger.system != "eboekhouden" or not settings.payments.enabled:
        return False
    return kind == "invoice" or bool(booking.paid)


def transaction_reference(kind: str, booking: Booking) -> str:
    """R8.1: the shop's transaction id; an invoice without one falls back to its number."""
    return booking.transaction_id or (booking.number if kind == "invoice" else "")


def payment_account(booking: Booking, settings: Settings) -> str:
    """R8.2: the financial account where this payment method's money arrives."""
    methods = settings.payment_methods
    chosen = methods.get(booking.payment_method) or methods.get("default")
    return chosen.account if chosen and chosen.account else methods["default"].account


def check_open_item(outstanding: dict | None, booking: Booking) -> PaymentProblem | None:
    """R8.2: the open item must exist and be exactly the amount paid."""
    amount = cents(booking.total_incl)
    if outstanding is None:
        return PaymentProblem(
            "PAYMENT_NO_OPEN_ITEM", "R8.2",
            f"Er staat in e-Boekhouden geen openstaande post voor factuur "
            f"{booking.sales_number}; de betaling van {amount} is niet geboekt.",
            f"e-Boekhouden has no open item for invoice {booking.sales_number}; the payment "
            f"of {amount} was not booked.")
    open_amount = cents(Decimal(str(outstanding.get("outstandingAmount", 0))))
    if open_amount != amount:
        return PaymentProblem(
            "PAYMENT_AMOUNT_MISMATCH", "R8.2",
            f"De openstaande post van factuur {booking.sales_number} is {open_amount}, de "
            f"betaling is {amount}; de betaling is niet geboekt.",
            f"The open item of invoice {booking.sales_number} is {open_amount} but the "
            f"payment is {amount}; the payment was not booked.")
    return None


def payment_reference(booking: Booking) -> str:
    """R8.2: the payment's own reference, which e-Boekhouden keeps unique when asked to
    (``checkPaymentReference``), so a second booking of the same payment is refused (I1). It
    must differ from the sale's reference (R7.2 books an invoice under its sales number), and
    fit in 50 characters: a cut-off number that meets another is refused, never doubled."""
    return f"betaling {booking.sales_number}"[:50]


def payment_request(kind: str, booking: Booking, settings: Settings,
                    relation_id: object) -> dict:
    """R8.2: a type-3 mutation from the payment method's financial account to the debtor."""
    amount = cents(booking.total_incl)
    description = (f"{booking.payment_method} - {booking.sales_number} - "
                   f"{transaction_reference(kind, booking)}")[:50]
    body = {
        "type": PAYMENT_RECEIVED,
        "date": booking.date.isoformat(),
        "ledgerId": payment_account(booking, settings),
        "relationId": relation_id,
        "invoiceNumber": booking.sales_number,
        "description": description,
        "inExVat": "EX",
        "paymentReference": payment_reference(booking),
        "checkPaymentReference": True,
        "rows": [{"ledgerId": settings.ledger.debtors_account, "vatCode": NO_VAT,
                  "amount": amount, "invoiceNumber": booking.sales_number,
                  "relationId": relation_id, "description": description}],
    }
    return {"method": "POST", "path": "/v1/mutation", "body": body}
