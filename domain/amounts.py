"""R0.3: which amount leads, and how the other two follow from it."""

from __future__ import annotations

from decimal import Decimal

from .money import ZERO, cents

HUNDRED = Decimal(100)


def from_incl(incl: Decimal, rate: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """Incl. leads: round it first, derive excl., VAT is what is left (so the three add up)."""
    incl = cents(incl)
    excl = cents(incl / (1 + rate / HUNDRED))
    return excl, incl - excl, incl


def from_excl(excl: Decimal, rate: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """Excl. leads: round it first, VAT = round(excl x rate), incl. is their sum."""
    excl = cents(excl)
    vat = cents(excl * rate / HUNDRED)
    return excl, vat, excl + vat


def split(amount: Decimal, rate: Decimal, incl: bool) -> tuple[Decimal, Decimal, Decimal]:
    """``(excl, vat, incl)`` of an amount given incl. or excl. VAT at ``rate``."""
    return from_incl(amount, rate) if incl else from_excl(amount, rate)


def take_out(amount: Decimal, rate: Decimal) -> Decimal:
    """R4.1 for ICP/international incl. prices: the row's own VAT comes out, 0% is charged."""
    return cents(amount / (1 + rate / HUNDRED)) if rate != ZERO else cents(amount)


def share_out(total: Decimal, weights: dict[Decimal, Decimal]) -> dict[Decimal, Decimal]:
    """R4.5: split ``total`` over keys in proportion to ``weights``; each share rounded to
    cents, the remainder to the key with the largest weight, so the shares sum to
    ``cents(total)`` exactly. "Largest" follows the sign of ``total`` (a credit invoice's
    discount is negative: its largest weight is the most negative one); on a tie the highest
    key (rate) takes the remainder."""
    if not weights:
        return {}
    total = cents(total)
    sign = -1 if total < ZERO else 1
    largest = max(weights, key=lambda key: (sign * weights[key], key))
    base = sum(weights.values(), ZERO)
    if base == ZERO:  # nothing to be proportional to: the whole amount at one rate
        return {key: (total if key == largest else ZERO) for key in weights}
    shares = {key: cents(total * weight / base) for key, weight in weights.items()}
    shares[largest] += total - sum(shares.values(), ZERO)
    return shares
