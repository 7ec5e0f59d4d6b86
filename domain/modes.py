"""The processing modes of settings.md (``shop.process``) and R5.8.

``paid_orders`` books orders once they are paid; ``invoices`` books every invoice, debit and
credit. A connection takes in only the kind of document its mode books.
"""

from __future__ import annotations

from .booking import Booking
from .settings import Settings


def booked_kind(settings: Settings) -> str:
    return "invoice" if settings.shop.process == "invoices" else "order"


def waits_for_payment(kind: str, booking: Booking, settings: Settings) -> bool:
    """R5.8: in ``paid_orders`` mode an unpaid order waits in Open (not an error)."""
    return kind == "order" and settings.shop.process == "paid_orders" and not booking.paid
