"""R0.1-R0.3 and the VAT table."""

from __future__ import annotations

from datetime import date, timedelta
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


# R4.3: the standard rate of every member state on dates around every change since 2020,
# written out again from the sources cited in domain/vat.py (not read from its table).
UNCHANGED_SINCE_2020 = {"AT": "20", "BE": "21", "BG": "20", "CY": "19", "CZ": "21", "DK": "25",
                        "ES": "21", "FR": "20", "GR": "24", "HR": "25", "HU": "27", "IT": "22",
                        "LT": "21", "LV": "21", "MT": "18", "NL": "21", "PL": "23", "PT": "23",
                        "SE": "25", "SI": "22"}
CHANGES_SINCE_2020 = [  # (country, last day of the old rate, old rate, new rate)
    ("DE", "2020-06-30", "19", "16"), ("DE", "2020-12-31", "16", "19"),
    ("IE", "2020-08-31", "23", "21"), ("IE", "2021-02-28", "21", "23"),
    ("LU", "2022-12-31", "17", "16"), ("LU", "2023-12-31", "16", "17"),
    ("EE", "2023-12-31", "20", "22"), ("EE", "2025-06-30", "22", "24"),
    ("FI", "2024-08-31", "24", "25.5"), ("SK", "2024-12-31", "20", "23"),
    ("RO", "2025-07-31", "19", "21"),
]


def test_r4_3_the_table_covers_the_27_members():
    assert len(EU_MEMBERS) == 27 and set(STANDARD_VAT_RATES) == set(EU_MEMBERS)
    assert set(UNCHANGED_SINCE_2020) | {c for c, *_ in CHANGES_SINCE_2020} == set(EU_MEMBERS)


@pytest.mark.parametrize("country, rate", sorted(UNCHANGED_SINCE_2020.items()))
def test_r4_3_members_without_a_change_since_2020(country, rate):
    for day in (date(2020, 1, 1), date(2022, 6, 15), date(2026, 11, 30)):
        assert standard_vat_rate(country, day) == D(rate), (country, day)


@pytest.mark.parametrize("country, last_day, old, new", CHANGES_SINCE_2020)
def test_r4_3_both_sides_of_every_change(country, last_day, old, new):
    last = date.fromisoformat(last_day)
    assert standard_vat_rate(country, last) == D(old)
    assert standard_vat_rate(country, last + timedelta(days=1)) == D(new)


def test_r4_3_a_country_with_several_changes():
    # EE: 20 until 2023-12-31, 22 in 2024 and the first half of 2025, 24 from 2025-07-01
    assert [str(standard_vat_rate("EE", date(y, m, d))) for y, m, d in (
        (2020, 1, 1), (2023, 12, 31), (2024, 1, 1), (2025, 6, 30), (2025, 7, 1),
        (2026, 11, 30))] == ["20", "20", "22", "22", "24", "24"]
    # DE: 19, 16 for the second half of 2020, 19 again
    assert [str(standard_vat_rate("de", date(2020, m, 1))) for m in (6, 7, 12)] + [
        str(standard_vat_rate("DE", date(2021, 1, 1)))] == ["19", "16", "16", "19"]


def test_r4_3_no_other_change_since_2020():
    """Day by day from 2020-01-01: the rate changes exactly on the days listed above."""
    expected = {(c, date.fromisoformat(last) + timedelta(days=1)) for c, last, *_ in
                CHANGES_SINCE_2020}
    seen, day = set(), date(2020, 1, 1)
    previous = {c: standard_vat_rate(c, day) for c in EU_MEMBERS}
    assert all(previous.values())
    while day < date(2026, 12, 31):
        day += timedelta(days=1)
        for country in EU_MEMBERS:
            rate = standard_vat_rate(country, day)
            if rate != previous[country]:
                seen.add((country, day))
                previous[country] = rate
    assert seen == expected


def test_r4_3_no_rate_outside_the_eu_or_before_the_table():
    assert standard_vat_rate("US", date(2024, 1, 1)) is None
    assert standard_vat_rate("GB", date(2020, 1, 1)) is None
    # NL's 21% took effect on 2012-10-01; before it no rate is known here (not a guess)
    assert standard_vat_rate("NL", date(2012, 9, 30)) is None
    assert standard_vat_rate("NL", date(2012, 10, 1)) == 21
