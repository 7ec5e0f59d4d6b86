"""R7.3: the ledger's number of the invoice a credit invoice credits, when koppel booked it.

A Billit credit note names the invoice it credits (``AboutInvoiceNumber``) by the number
Billit gave that invoice. Which invoice is the same wherever the credit note is booked: the
order's latest debit invoice before the credit invoice that the connection posted. What it is
called depends on the ledger: in the connection's own ledger the ``Posted`` reference of the
original ``Document``; in a further ledger the original's ``TargetPosting`` there
(``application.replay``). The callers say how to read that (``booked``) and ask the ledger for
its number (``ledger_number``), each under its own credentials guard.
"""

from __future__ import annotations

from typing import Callable

from domain import billit as billit_rules
from domain.booking import Booking
from domain.document import Document, Status


def credited_invoice(app, document: Document, posting, booking: Booking, *,
                     shop_invoices: Callable[[str], list[dict]],
                     booked: Callable[[Document], dict | None],
                     ledger_number: Callable[[dict], str | None]) -> str | None:
    """``shop_invoices(order number)``: the shop's invoices of that order;
    ``booked(original)``: the original's reference in this ledger, or None when it is not
    there; ``ledger_number(reference)``: the number the ledger gave it (None when the ledger
    no longer shows it). None when there is nothing to name: the credit note stands alone."""
    if not posting.names_credited_invoice or booking.total_incl >= 0:
        return None
    order_number = billit_rules.credited_order_number(document.kind, document.source)
    if not order_number:
        return None
    for shop_id in billit_rules.credited_candidates(shop_invoices(order_number),
                                                    document.shop_id):
        original = app.document_of(document.connection_id, "invoice", shop_id)
        if original is not None and original.status == Status.POSTED:
            reference = booked(original)
            return ledger_number(reference) if reference else None
    return None
