"""R0.1-R0.3 and the VAT table."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from domain.amounts import from_excl, from_incl, share_out, split, take_out
from domain.money import NotANumber, cents, format_amount, format_number, to_decimal
from domain.vat import EU_MEMBERS, STANDARD_VAT_RATES, normalise_rate, standard_vat_rate

D = Decimal


def test_r0_1_numbers_become_decimal_through_their_text():
    assert to_decimal(0.1) == D("0.1")          # not 0.1000000000000000055...
    assert to_decimal(12) == D("12")
    assert to_decimal(D("4.95")) == D("4.95")
    assert to_decimal(None) == D("0")           # null counts as 0
    for bad in ("abc", True, float("nan")):
        with pytest.raises(NotANumber):
            to_decimal(bad)


def test_r0_1_rounding_is_half_away_from_zero():
    assert cents(D("0.125")) == D("0.13")
    assert cents(D("-0.125")) == D("-0.13")
    assert cents(D("2.675")) == D("2.68")       # a float would give 2.67
    assert format_amount(D("18")) == "18.00"
    assert format_number(D("21.00")) == "21" and format_number(D("5.50")) == "5.5"


def test_r0_2_fraction_rates_become_percents():
    assert normalise_rate(D("0.21")) == D("21") and str(normalise_rate(D("0.21"))) == "21"
    assert normalise_rate(D("0.055")) == D("5.5")
    assert normalise_rate(D("21")) == D("21")
    assert normalise_rate(D("0")) == D("0")
    assert normalise_rate(D("1")) == D("1")     # 1 is a percent, not 100%


def test_r0_3_incl_leads_excl_derived_vat_is_the_rest():
    # 21.78 / 1.21 = 18.00 exactly; 4.95 / 1.21 = 4.0909.. -> 4.09, VAT 0.86
    assert from_incl(D("21.78"), D("21")) == (D("18.00"), D("3.78"), D("21.78"))
    assert from_incl(D("4.95"), D("21")) == (D("4.09"), D("0.86"), D("4.95"))
    # incl. is rounded first: 10.005 -> 10.01; 10.01 / 1.09 = 9.1834.. -> 9.18
    assert from_incl(D("10.005"), D("9")) == (D("9.18"), D("0.83"), D("10.01"))


def test_r0_3_excl_leads_vat_rounded_incl_is_the_sum():
    # 9.99 x 21% = 2.0979 -> 2.10
    assert from_excl(D("9.99"), D("21")) == (D("9.99"), D("2.10"), D("12.09"))
    # 0.125 excl is rounded first (0.13), then 0.13 x 21% = 0.0273 -> 0.03
    assert from_excl(D("0.125"), D("21")) == (D("0.13"), D("0.03"), D("0.16"))
    assert split(D("-21.78"), D("21"), True) == (D("-18.00"), D("-3.78"), D("-21.78"))


def test_r4_1_take_out_the_rows_own_tax():
    assert take_out(D("24.20"), D("21")) == D("20.00")
    assert take_out(D("7.77"), D("0")) == D("7.77")


def test_r4_5_share_out_remainder_goes_to_the_largest():
    # 1.00 over three equal weights: 0.33 each = 0.99; the cent left goes to the tie's
    # highest key (21)
    assert share_out(D("1.00"), {D("21"): D("10"), D("9"): D("10"), D("0"): D("10")}) == {
        D("21"): D("0.34"), D("9"): D("0.33"), D("0"): D("0.33")}
    # 0.10 over 2:1 -> 0.0667 -> 0.07 and 0.0333 -> 0.03; sums already
    assert share_out(D("0.10"), {D("21"): D("20"), D("9"): D("10")}) == {
        D("21"): D("0.07"), D("9"): D("0.03")}
    # 0.05 over 1:1:1 -> 0.0167 -> 0.02 x 3 = 0.06: the largest (tie: 21) gives a cent back
    assert share_out(D("0.05"), {D("21"): D("1"), D("9"): D("1"), D("0"): D("1")}) == {
        D("21"): D("0.01"), D("9"): D("0.02"), D("0"): D("0.02")}
    # negative weights (a credit invoice) share the same way
    assert share_out(D("-1.00"), {D("21"): D("-30"), D("9"): D("-10")}) == {
        D("21"): D("-0.75"), D("9"): D("-0.25")}


def test_standard_rates_cover_the_27_members():
    assert len(EU_MEMBERS) == 27 and set(STANDARD_VAT_RATES) == set(EU_MEMBERS)
    assert STANDARD_VAT_RATES["NL"] == 21 and STANDARD_VAT_RATES["BE"] == 21
    assert STANDARD_VAT_RATES["DE"] == 19 and STANDARD_VAT_RATES["FR"] == 20
    assert standard_vat_rate("FI", date(2024, 8, 31)) == 24
    assert standard_vat_rate("FI", date(2024, 9, 1)) == D("25.5")
    assert standard_vat_rate("US") is None
