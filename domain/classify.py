"""R3: which VAT regime a document falls under, and which payment method it was paid with."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from .vat import is_eu

DOMESTIC, ICP, INTERNATIONAL, OSS = "domestic", "icp", "international", "oss"


def scope(*, is_icp: bool, total_tax: Decimal, country: str, home_country: str,
          oss_countries: Iterable[str]) -> str:
    """R3.1-R3.4, first match wins. A foreign EU delivery without an ``oss`` entry stays
    domestic (R3.3), so its rates must be in the domestic mapping."""
    if is_icp:
        return ICP                                                   # R3.1
    foreign = bool(country) and country != home_country
    if total_tax == 0 and foreign:
        return INTERNATIONAL                                         # R3.2
    if foreign and is_eu(country) and country in set(oss_countries):
        return OSS                                                   # R3.3
    return DOMESTIC                                                  # R3.4


def non_eu_with_vat(*, country: str, total_tax: Decimal) -> bool:
    """R3.5: such a sale cannot be processed (check INTERNATIONAL_WITH_VAT)."""
    return bool(country) and not is_eu(country) and total_tax != 0


def clean_up(text: str) -> str:
    """R3.6: lower case, hyphens, underscores and spaces removed."""
    text = text.lower()
    for char in "-_ ":
        text = text.replace(char, "")
    return text


def _match(cleaned: str, configured: Iterable[str]) -> str | None:
    if not cleaned:
        return None
    for key in configured:                                           # R3.6.1
        if clean_up(key) == cleaned:
            return key
    if any(word in cleaned for word in ("transfer", "bank", "invoice", "rekening")):
        return "banktransfer"                                        # R3.6.2
    for word in ("ideal", "paypal", "afterpay"):                     # R3.6.3-5
        if word in cleaned:
            return word
    if "mister" in cleaned and "cash" in cleaned:
        return "mistercash"                                          # R3.6.6
    if ("credit" in cleaned and "card" in cleaned) or any(
            word in cleaned for word in ("maestro", "visa", "mastercard")):
        return "creditcard"                                          # R3.6.7
    return None


def payment_method(paymethod: str, paymethod_label: str, configured: Iterable[str]) -> str:
    """R3.6: ``paymethod`` first; its label only when ``paymethod`` matches nothing; else
    ``default`` (R3.6.8)."""
    configured = list(configured)
    for text in (paymethod, paymethod_label):
        found = _match(clean_up(text or ""), configured)
        if found is not None:
            return found
    return "default"
