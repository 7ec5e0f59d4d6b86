"""How a booking line is expressed as a quantity and a unit price (R7.2 items, R7.3 lines).

The booked amount is the truth (it balances to the document total, R4.6); a unit price is
only sent when quantity x unit price gives that amount back exactly, else the line goes as
quantity 1 at the line amount, its quantity kept in the description.
"""

from __future__ import annotations

from decimal import Decimal

from .lines import Line
from .money import ZERO, cents, format_number

ONE = Decimal(1)


def amount_in(line: Line, incl: bool) -> Decimal:
    """The line amount incl. or excl. VAT (``inExVat``, R7.1)."""
    return line.amount_incl if incl else line.amount_excl


def quantity_and_price(line: Line, amount: Decimal) -> tuple[Decimal, Decimal, str]:
    """``(quantity, unit price, description)`` whose product is exactly ``amount``."""
    quantity = line.quantity
    if quantity not in (ZERO, ONE):
        unit = cents(amount / quantity)
        if unit * quantity == amount:
            return quantity, unit, line.description
        return ONE, amount, f"{format_number(quantity)} x {line.description}"
    return ONE, amount, line.description
