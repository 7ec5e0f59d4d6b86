"""VAT facts that do not depend on a connection's settings: R0.2, the EU members and the
standard rates used for payment costs (R4.3)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from .money import ZERO, strip_zeros

# ISO 3166 alpha-2 codes (Greece is GR here, as the shop writes it; VAT numbers use EL).
EU_MEMBERS = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)

# Standard rates in force now (2026). Payment costs of an order carry this rate (R4.3).
STANDARD_VAT_RATES: dict[str, Decimal] = {
    "AT": Decimal("20"), "BE": Decimal("21"), "BG": Decimal("20"), "CY": Decimal("19"),
    "CZ": Decimal("21"), "DE": Decimal("19"), "DK": Decimal("25"), "EE": Decimal("24"),
    "ES": Decimal("21"), "FI": Decimal("25.5"), "FR": Decimal("20"), "GR": Decimal("24"),
    "HR": Decimal("25"), "HU": Decimal("27"), "IE": Decimal("23"), "IT": Decimal("22"),
    "LT": Decimal("21"), "LU": Decimal("17"), "LV": Decimal("21"), "MT": Decimal("18"),
    "NL": Decimal("21"), "PL": Decimal("23"), "PT": Decimal("23"), "RO": Decimal("21"),
    "SE": Decimal("25"), "SI": Decimal("22"), "SK": Decimal("23"),
}

# Recent changes: before the date the older rate applied, so an old order keeps its own rate.
_EARLIER_RATES: dict[str, tuple[tuple[date, Decimal], ...]] = {
    "EE": ((date(2025, 7, 1), Decimal("22")),),
    "FI": ((date(2024, 9, 1), Decimal("24")),),
    "RO": ((date(2025, 8, 1), Decimal("19")),),
    "SK": ((date(2025, 1, 1), Decimal("20")),),
}


def is_eu(country: str) -> bool:
    return country.upper() in EU_MEMBERS


def standard_vat_rate(country: str, on: date | None = None) -> Decimal | None:
    """The standard rate of an EU member on a date (None outside the EU)."""
    country = country.upper()
    rate = STANDARD_VAT_RATES.get(country)
    if rate is None or on is None:
        return rate
    for until, earlier in _EARLIER_RATES.get(country, ()):
        if on < until:
            rate = earlier
    return rate


def normalise_rate(rate: Decimal) -> Decimal:
    """R0.2: a rate strictly between 0 and 1 is a fraction (0.21 -> 21). The API sends
    percents; the rule stays for safety."""
    if ZERO < rate < 1:
        return strip_zeros(rate * 100)
    return rate
