"""VAT facts that do not depend on a connection's settings: R0.2, the EU members and the dated
standard rates of R4.3.

The standard-rate table holds, per member state, every standard rate in force since
1 January 2020, each from the day it took effect (the first entry: the day the rate in force on
1 January 2020 took effect) until the day before the next entry. Its sources:

- European Commission, DG TAXUD, "VAT rates applied in the Member States of the European
  Union", situation at 1 January 2021, section VIII "The evolution of VAT rates applicable in
  the Member States" (taxation-customs.ec.europa.eu/system/files/2021-06/vat_rates_en.pdf):
  every first entry;
- European Commission, Taxes in Europe Database, TEDB (ec.europa.eu/taxation_customs/tedb),
  as transcribed in the public extract vatnode/eu-vat-rates-data (version of September 2026):
  the changes from September 2020 on (IE 21% from 2020-09-01 and 23% again from 2021-03-01;
  LU 16% in 2023; EE 22% from 2024-01-01 and 24% from 2025-07-01; FI 25.5% from 2024-09-01;
  SK 23% from 2025-01-01; RO 21% from 2025-08-01), and no other change of a standard rate;
- Germany's 16% from 2020-07-01 to 2020-12-31, which neither of those records: Zweites
  Corona-Steuerhilfegesetz of 29 June 2020 (BGBl. I 2020 p. 1512), Article 3;
- each change also against national sources: Vero Finland ("The general VAT rate is 25.5% as
  of 1 September 2024"), the Commission's Access2Markets note "Recent VAT changes in certain
  EU Member States" (Slovakia 23% from 1 January 2025), and, as reported by tax advisers (the
  member's own text was not at hand): Ireland's July 2020 stimulus (21% from 2020-09-01 to
  2021-02-28), the Luxembourg law of 26 October 2022 and circular 812-1 of 27 December 2023
  (16% for 2023 only), the Estonian VAT Act amendments of 2023 and 2025 (22%, then 24%) and
  Romania's Law 141/2025 (Monitorul Oficial 699 of 25 July 2025: 21% from 1 August 2025).

Rates are the mainland rates: the lower standard rates of some territories (Madeira, the
Azores, ...) are not here, since an order's country code cannot tell them apart. Greece is GR,
as the shop writes it (VAT numbers use EL).
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date
from decimal import Decimal

from .money import ZERO, strip_zeros

# ISO 3166 alpha-2 codes (Greece is GR here, as the shop writes it; VAT numbers use EL).
EU_MEMBERS = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)

Rate = tuple[date, Decimal]   # (the first day it applies, the rate in percent)


def _rates(*entries: tuple[tuple[int, int, int], str]) -> tuple[Rate, ...]:
    return tuple((date(*day), Decimal(rate)) for day, rate in entries)


# R4.3: the standard rate of each member, oldest first; each holds until the next one starts.
STANDARD_VAT_RATES: dict[str, tuple[Rate, ...]] = {
    "AT": _rates(((1984, 1, 1), "20")),
    "BE": _rates(((1996, 1, 1), "21")),
    "BG": _rates(((1999, 1, 1), "20")),
    "CY": _rates(((2014, 1, 13), "19")),
    "CZ": _rates(((2013, 1, 1), "21")),
    "DE": _rates(((2007, 1, 1), "19"), ((2020, 7, 1), "16"), ((2021, 1, 1), "19")),
    "DK": _rates(((1992, 1, 1), "25")),
    "EE": _rates(((2009, 7, 1), "20"), ((2024, 1, 1), "22"), ((2025, 7, 1), "24")),
    "ES": _rates(((2012, 9, 1), "21")),
    "FI": _rates(((2013, 1, 1), "24"), ((2024, 9, 1), "25.5")),
    "FR": _rates(((2014, 1, 1), "20")),
    "GR": _rates(((2016, 6, 1), "24")),
    "HR": _rates(((2012, 3, 1), "25")),
    "HU": _rates(((2012, 1, 1), "27")),
    "IE": _rates(((2012, 1, 1), "23"), ((2020, 9, 1), "21"), ((2021, 3, 1), "23")),
    "IT": _rates(((2013, 10, 1), "22")),
    "LT": _rates(((2009, 9, 1), "21")),
    "LU": _rates(((2015, 1, 1), "17"), ((2023, 1, 1), "16"), ((2024, 1, 1), "17")),
    "LV": _rates(((2012, 7, 1), "21")),
    "MT": _rates(((2004, 1, 1), "18")),
    "NL": _rates(((2012, 10, 1), "21")),
    "PL": _rates(((2011, 1, 1), "23")),
    "PT": _rates(((2011, 1, 1), "23")),
    "RO": _rates(((2017, 1, 1), "19"), ((2025, 8, 1), "21")),
    "SE": _rates(((1990, 7, 1), "25")),
    "SI": _rates(((2013, 7, 1), "22")),
    "SK": _rates(((2011, 1, 1), "20"), ((2025, 1, 1), "23")),
}


def is_eu(country: str) -> bool:
    return country.upper() in EU_MEMBERS


def standard_vat_rate(country: str, on: date) -> Decimal | None:
    """R4.3: the standard rate of an EU member in force on ``on`` (the booking date, R0.4).
    None outside the EU, and before the table's first entry for the member (no rate is
    known there, and a guessed one would be a wrong booking)."""
    rates = STANDARD_VAT_RATES.get(country.upper(), ())
    index = bisect_right([start for start, _ in rates], on)
    return rates[index - 1][1] if index else None


def normalise_rate(rate: Decimal) -> Decimal:
    """R0.2: a rate strictly between 0 and 1 is a fraction (0.21 -> 21). The API sends
    percents; the rule stays for safety."""
    if ZERO < rate < 1:
        return strip_zeros(rate * 100)
    return rate
