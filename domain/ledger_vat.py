"""R7.1: the VAT the ledger holds for a posted document.

Each row goes to e-Boekhouden incl. VAT and the ledger computes the VAT itself, per VAT code over
the summed rows. A report that adds up each line's own VAT can land cents away from the
ledger's VAT ledgers, so the accountant's export splits the amounts the ledger's way: per code
the VAT of the summed incl. amounts; each line its own share, the last line of a code taking
the rounding difference (so lines, codes and document all add up).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Iterable

from .amounts import HUNDRED
from .money import cents


def vat_of(incl: Decimal, rate: Decimal) -> Decimal:
    """The VAT in an incl. amount, rounded as the ledger rounds it (half up, to the cent)."""
    return cents(incl * rate / (HUNDRED + rate))


def vat_shares(lines: Iterable[tuple[str, Decimal, Decimal]]) -> list[Decimal]:
    """The VAT of each ``(vat_code, vat_rate, amount_incl)`` line of one document, as above."""
    lines = list(lines)
    shares = [vat_of(incl, rate) for _, rate, incl in lines]
    for code in {code for code, _, _ in lines}:
        indexes = [i for i, (c, _, _) in enumerate(lines) if c == code]
        rate = lines[indexes[-1]][1]
        code_vat = vat_of(sum((lines[i][2] for i in indexes), Decimal(0)), rate)
        shares[indexes[-1]] += code_vat - sum((shares[i] for i in indexes), Decimal(0))
    return shares
