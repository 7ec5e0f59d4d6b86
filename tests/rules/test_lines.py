"""R4 golden tests: every line kind, worked out by hand from mapping.md (numbers in comments)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from application.preview import preview
from domain.booking import Booking, build_booking
from domain.source import DocumentError

from .conftest import brief, customer, failed, invoice, make_settings, order, row

D = Decimal


# --- R4.1 product lines --------------------------------------------------------------------

def test_r4_1_incl_line_total_rounded_once_not_per_unit(settings):
    # 3 x 1.99 incl = 5.97; 5.97 / 1.21 = 4.9339 -> 4.93 (per unit 1.64 x 3 would be 4.92)
    bundle = order([row("Pen", "1.99", 3, 21)], total_price="5.97", total_tax="1.04")
    booking = build_booking(bundle, settings)
    assert brief(booking.lines) == [
        ("product", "8000", "HOOG_VERK_21", "21", "4.93", "1.04", "5.97")]
    assert booking.ok and booking.lines[0].quantity == 3
    assert booking.lines[0].rules[:2] == ("R4.1", "R0.3")


def test_r4_1_excl_leading(settings):
    # 3 x 3.33 excl = 9.99; VAT 9.99 x 21% = 2.0979 -> 2.10; incl 12.09 = 9.99 + 2.10
    bundle = order([row("Pen", "3.33", 3, 21)], total_price="9.99", total_tax="2.10",
                   incl=False)
    booking = build_booking(bundle, settings)
    assert (booking.total_incl, booking.total_excl, booking.total_vat) == (
        D("12.09"), D("9.99"), D("2.10"))          # R2.3 excluded: incl = price + tax
    assert brief(booking.lines) == [
        ("product", "8000", "HOOG_VERK_21", "21", "9.99", "2.10", "12.09")]
    assert booking.ok


def test_r4_1_product_code_and_row_discount(settings):
    # row discount (12.10 - 10.89) x 2 = 2.42, shown on the line, not booked
    bundle = order([row("Mok", "10.89", 2, 21, undiscounted="12.10", number="MOK",
                        sub_number="MOK-WIT")],
                   total_price="21.78", total_tax="3.78", total_discounts="2.42")
    line = build_booking(bundle, settings).lines[0]
    assert line.code == "MOK-WIT" and line.row_discount == D("2.42")
    assert [l.kind for l in build_booking(bundle, settings).lines] == ["product"]


def test_r4_1_icp_incl_prices_take_the_rows_own_tax_out(settings):
    # 2 x 12.10 incl 21% = 24.20 -> 24.20 / 1.21 = 20.00 at 0% to the ICP entry
    bundle = order([row("Mok", "12.10", 2, 21)], total_price="20.00", total_tax="0",
                   is_intra_community_order=True)
    bundle["order"]["customer"] = customer("BE", btw="BE0403170701")
    booking = build_booking(bundle, settings)
    assert booking.scope == "icp"
    assert brief(booking.lines) == [
        ("product", "8100", "BI_EU_VERK", "0", "20.00", "0.00", "20.00")]
    assert booking.ok


def test_r4_1_international_excl_is_zero_rated(settings):
    bundle = order([row("Machine", "50.00", 1, 21)], total_price="50.00", total_tax="0",
                   incl=False)
    bundle["order"]["customer"] = customer("US")
    booking = build_booking(bundle, settings)
    assert booking.scope == "international"
    assert brief(booking.lines) == [
        ("product", "8200", "BU_EU_VERK", "0", "50.00", "0.00", "50.00")]
    assert booking.ok


# --- R4.2 shipping -------------------------------------------------------------------------

def test_r4_2_shipping_has_its_own_flag_and_account(settings):
    # rows incl, but shipping_taxes_included false: 5.00 excl -> VAT 1.05 -> 6.05
    bundle = order([row("Mok", "12.10", 1, 21)], total_price="18.15", total_tax="3.15",
                   total_shipping="5.00", shipping_taxes_included=False)
    booking = build_booking(bundle, settings)
    assert brief(booking.lines) == [
        ("product", "8000", "HOOG_VERK_21", "21", "10.00", "2.10", "12.10"),
        ("shipping", "8010", "HOOG_VERK_21", "21", "5.00", "1.05", "6.05")]
    assert booking.ok


def test_r4_2_without_its_own_flag_shipping_follows_the_rows(settings):
    # no shipping_taxes_included: the row flag (incl): 5.00 / 1.21 = 4.1322 -> 4.13 + 0.87
    bundle = order([row("Mok", "12.10", 1, 21)], total_price="17.10", total_tax="2.97",
                   total_shipping="5.00")
    del bundle["order"]["shipping_taxes_included"]
    booking = build_booking(bundle, settings)
    assert brief(booking.lines)[1] == ("shipping", "8010", "HOOG_VERK_21", "21", "4.13",
                                       "0.87", "5.00")


def test_r4_2_shipping_account_falls_back_to_revenue(settings):
    # 9% has no shipping_account: 5.45 / 1.09 = 5.00 to 8001
    bundle = order([row("Koek", "10.90", 1, 9)], total_price="16.35", total_tax="1.35",
                   total_shipping="5.45", shipping_tax_percentage=9)
    assert brief(build_booking(bundle, settings).lines)[1] == (
        "shipping", "8001", "LAAG_VERK_9", "9", "5.00", "0.45", "5.45")


def test_r4_2_no_shipping_line_for_zero(settings):
    bundle = order([row("Mok", "12.10")], total_price="12.10", total_tax="2.10",
                   total_shipping=0)
    assert [l.kind for l in build_booking(bundle, settings).lines] == ["product"]


# --- R4.3 payment costs --------------------------------------------------------------------

def test_r4_3_domestic_payment_costs_at_the_home_standard_rate(settings):
    # 0.50 + 0.25 = 0.75 incl at NL 21%: 0.75 / 1.21 = 0.6198 -> 0.62 + 0.13, to 8020
    bundle = order([row("Koek", "10.90", 1, 9)], total_price="11.65", total_tax="1.03",
                   paymethod_costs="0.50", extra_payment_option_price="0.25")
    booking = build_booking(bundle, settings)
    assert brief(booking.lines)[1] == ("payment_costs", "8020", "HOOG_VERK_21", "21", "0.62",
                                       "0.13", "0.75")
    assert booking.ok


def test_r4_3_null_counts_as_zero(settings):
    bundle = order([row("Mok", "12.10")], total_price="12.10", total_tax="2.10",
                   paymethod_costs=None, extra_payment_option_price=None)
    assert [l.kind for l in build_booking(bundle, settings).lines] == ["product"]


def test_r4_3_oss_payment_costs_at_the_countrys_rate_and_split(settings):
    # DE 19%: 35.70 -> 30.00 + 5.70; payment costs 1.19 -> 1.00 + 0.19; each split (R4.7)
    bundle = order([row("Teekanne", "35.70", 1, 19)], total_price="36.89", total_tax="5.89",
                   paymethod_costs="1.19")
    bundle["order"]["customer"] = customer("DE")
    booking = build_booking(bundle, settings)
    assert booking.scope == "oss"
    assert brief(booking.lines) == [
        ("product", "8300", "GEEN", "0", "30.00", "0.00", "30.00"),
        ("oss_vat", "1665", "GEEN", "0", "5.70", "0.00", "5.70"),
        ("payment_costs", "8300", "GEEN", "0", "1.00", "0.00", "1.00"),
        ("oss_vat", "1665", "GEEN", "0", "0.19", "0.00", "0.19")]
    assert booking.ok and "R4.7" in booking.lines[0].rules


def test_r4_3_icp_payment_costs_are_zero_rated(settings):
    bundle = order([row("Machine", "100.00", 1, 0)], total_price="102.00", total_tax="0",
                   incl=False, paymethod_costs="2.00", is_intra_community_order=True)
    bundle["order"]["customer"] = customer("BE", btw="BE0403170701")
    assert brief(build_booking(bundle, settings).lines)[1] == (
        "payment_costs", "8100", "BI_EU_VERK", "0", "2.00", "0.00", "2.00")


def test_r4_3_invoice_payment_costs_take_the_shipping_rate(settings):
    # invoices: shipping_tax_percentage 9 -> 1.09 / 1.09 = 1.00 + 0.09, 9% has no
    # payment_costs_account -> revenue 8001
    bundle = invoice([row("Koek", "10.90", 1, 9)], total_price="11.99", total_tax="0.99",
                     paymethod_costs="1.09", shipping_tax_percentage=9)
    booking = build_booking(bundle, settings)
    assert brief(booking.lines)[1] == ("payment_costs", "8001", "LAAG_VERK_9", "9", "1.00",
                                       "0.09", "1.09")
    assert booking.ok


def test_r4_3_oss_payment_costs_take_the_rate_in_force_on_the_booking_date(settings):
    # DE 19% until 2020-06-30, 16% from 2020-07-01 (R0.4: the date in Amsterdam, CEST = UTC+2).
    # 1.16 at 16%: 1.16 / 1.16 = 1.00 + 0.16; at 19%: 1.16 / 1.19 = 0.9748 -> 0.97 + 0.19
    def booked(moment):
        bundle = order([row("Teekanne", "35.70", 1, 19)], total_price="36.86",
                       total_tax="5.86", paymethod_costs="1.16", create_date=moment)
        bundle["order"]["customer"] = customer("DE")
        return build_booking(bundle, settings)
    before, after = booked("2020-06-30T21:59:59Z"), booked("2020-06-30T22:00:00Z")
    assert (before.date.isoformat(), after.date.isoformat()) == ("2020-06-30", "2020-07-01")
    assert brief(before.lines)[2:] == [
        ("payment_costs", "8300", "GEEN", "0", "0.97", "0.00", "0.97"),
        ("oss_vat", "1665", "GEEN", "0", "0.19", "0.00", "0.19")]
    assert brief(after.lines)[2:] == [
        ("payment_costs", "8300", "GEEN", "0", "1.00", "0.00", "1.00"),
        ("oss_vat", "1665", "GEEN", "0", "0.16", "0.00", "0.16")]
    assert after.lines[3].description == "VAT DE 16%: Payment costs"
    assert before.ok and after.ok


def test_r4_3_domestic_payment_costs_at_the_home_rate_of_the_day():
    # home EE: 20% on 2023-12-31, 22% on 2024-01-01 (Tallinn is UTC+2 in winter).
    # 1.22 at 22% = 1.00 + 0.22; at 20%: 1.22 / 1.20 = 1.0167 -> 1.02 + 0.20
    settings = make_settings(replace={'home_country = "NL"': 'home_country = "EE"',
                                      'timezone = "Europe/Amsterdam"':
                                      'timezone = "Europe/Tallinn"'},
                             extra='\n[[vat]]\nrate = "20"\nvat_code = "EE20"\n'
                                   'revenue_account = "8020"\n'
                                   '\n[[vat]]\nrate = "22"\nvat_code = "EE22"\n'
                                   'revenue_account = "8022"\n')
    def costs(moment):
        bundle = order([row("Kruus", "12.10", 1, 21)], total_price="13.32", total_tax="2.32",
                       paymethod_costs="1.22", create_date=moment)
        bundle["order"]["customer"] = customer("EE")
        return brief(build_booking(bundle, settings).lines)[1]
    assert costs("2023-12-31T21:59:59Z") == ("payment_costs", "8020", "EE20", "20", "1.02",
                                             "0.20", "1.22")
    assert costs("2023-12-31T22:00:00Z") == ("payment_costs", "8022", "EE22", "22", "1.00",
                                             "0.22", "1.22")


# --- R4.4 surcharges -----------------------------------------------------------------------

def test_r4_4_extra_costs_and_credit_points_at_the_highest_product_rate(settings):
    # highest rate 21: extra_costs -2.42 -> -2.00 - 0.42; credit points 1.21 booked as
    # -1.21 -> -1.00 - 0.21. Total 10.90 + 12.10 - 2.42 - 1.21 = 19.37
    bundle = order([row("Koek", "10.90", 1, 9), row("Mok", "12.10", 1, 21)],
                   total_price="19.37", total_tax="2.37", extra_costs="-2.42",
                   extra_costs_description="Korting vaste klant", credit_point_discount="1.21")
    booking = build_booking(bundle, settings)
    assert brief(booking.lines)[2:] == [
        ("surcharge", "8000", "HOOG_VERK_21", "21", "-2.00", "-0.42", "-2.42"),
        ("surcharge", "8000", "HOOG_VERK_21", "21", "-1.00", "-0.21", "-1.21")]
    assert [l.description for l in booking.lines[2:]] == ["Korting vaste klant",
                                                          "Credit points"]
    assert booking.ok


def test_r4_4_surcharge_without_description(settings):
    # 3.63 incl at 9% (the only product rate): 3.63 / 1.09 = 3.3303 -> 3.33 + 0.30
    bundle = order([row("Koek", "10.90", 1, 9)], total_price="14.53", total_tax="1.20",
                   extra_costs="3.63")
    line = build_booking(bundle, settings).lines[1]
    assert (line.description, line.vat_rate, line.amount_excl, line.vat_amount) == (
        "Surcharge", D("9"), D("3.33"), D("0.30"))


def test_r4_4_without_product_lines_surcharges_take_the_rate_of_r4_3(settings):
    # An invoice that only refunds costs: no rows. R4.3 for invoices: shipping_tax_percentage
    # (9 here, not the home country's 21). Shipping 5.45 -> 5.00 + 0.45; extra costs 2.18 at
    # 9% -> 2.00 + 0.18; the order discount 1.09 (R4.5, no rows: one line at 9%) -> -1.00 -
    # 0.09. Total 5.45 + 2.18 - 1.09 = 6.54, VAT 0.45 + 0.18 - 0.09 = 0.54
    bundle = invoice([], total_price="6.54", total_tax="0.54", total_shipping="5.45",
                     shipping_tax_percentage=9, extra_costs="2.18", total_discounts="1.09")
    booking = build_booking(bundle, settings)
    assert brief(booking.lines) == [
        ("shipping", "8001", "LAAG_VERK_9", "9", "5.00", "0.45", "5.45"),
        ("surcharge", "8001", "LAAG_VERK_9", "9", "2.00", "0.18", "2.18"),
        ("discount", "8001", "LAAG_VERK_9", "9", "-1.00", "-0.09", "-1.09")]
    assert booking.ok


def test_r4_4_an_order_without_product_lines_takes_the_oss_countrys_rate_of_the_day(settings):
    # OSS DE on 2020-08-15: R4.3 gives DE's 16% then. Extra costs 5.80 -> 5.00 + 0.80;
    # credit points 1.16 -> -1.00 - 0.16. Total 4.64, split per R4.7
    bundle = order([], total_price="4.64", total_tax="0.64", extra_costs="5.80",
                   credit_point_discount="1.16", create_date="2020-08-15T10:00:00Z")
    bundle["order"]["customer"] = customer("DE")
    booking = build_booking(bundle, settings)
    assert booking.scope == "oss"
    assert brief(booking.lines) == [
        ("surcharge", "8300", "GEEN", "0", "5.00", "0.00", "5.00"),
        ("oss_vat", "1665", "GEEN", "0", "0.80", "0.00", "0.80"),
        ("surcharge", "8300", "GEEN", "0", "-1.00", "0.00", "-1.00"),
        ("oss_vat", "1665", "GEEN", "0", "-0.16", "0.00", "-0.16")]
    assert booking.ok


# --- R4.5 order-level discount -------------------------------------------------------------

def test_r4_5_no_line_when_the_rows_carry_the_whole_discount(settings):
    bundle = order([row("Mok", "10.89", 2, 21, undiscounted="12.10")],
                   total_price="21.78", total_tax="3.78", total_discounts="2.42")
    assert [l.kind for l in build_booking(bundle, settings).lines] == ["product"]


def test_r4_5_discount_split_remainder_to_the_largest(settings):
    # excl order: 21% 20.00, 9% 10.00; coupon 1.00 (no row discount):
    # 21%: 1.00 x 20/30 = 0.6667 -> 0.67; 9%: 0.3333 -> 0.33; sum 1.00
    # lines (excl leading): -0.67 -> VAT -0.14 (0.1407) -> -0.81; -0.33 -> -0.03 -> -0.36
    bundle = order([row("Mok", "20.00", 1, 21), row("Koek", "10.00", 1, 9)],
                   total_price="29.00", total_tax="4.93", total_discounts="1.00", incl=False)
    booking = build_booking(bundle, settings)
    assert brief(booking.lines)[2:] == [
        ("discount", "8000", "HOOG_VERK_21", "21", "-0.67", "-0.14", "-0.81"),
        ("discount", "8001", "LAAG_VERK_9", "9", "-0.33", "-0.03", "-0.36")]
    # products 20.00 + 4.20 and 10.00 + 0.90; total incl 29.00 + 4.93 = 33.93
    assert sum(l.amount_incl for l in booking.lines) == D("33.93") == booking.total_incl
    assert booking.ok


def test_r4_5_a_residual_below_zero_is_never_booked(settings):
    # 1 x 10.00 incl 21% (price_without_discount 11.00: row discount 1.00), total_discounts
    # 0: residual 0 - 1.00 = -1.00 is not booked. 10.00 -> 8.26 + 1.74 = the total 10.00
    bundle = order([row("Mok", "10.00", 1, 21, undiscounted="11.00")], total_price="10.00",
                   total_tax="1.74", total_discounts="0")
    booking = build_booking(bundle, settings)
    assert brief(booking.lines) == [
        ("product", "8000", "HOOG_VERK_21", "21", "8.26", "1.74", "10.00")]
    assert booking.ok and booking.explanations == ()


def test_r4_5_credit_invoice_mirrors_the_sign_of_the_residual(settings):
    # The credit of the order above: -1 x 10.00, row discount (11.00 - 10.00) x -1 = -1.00,
    # total_discounts 0: residual +1.00 has the other sign than the document: not booked
    bundle = invoice([row("Mok", "10.00", -1, 21, undiscounted="11.00")],
                     total_price="-10.00", total_tax="-1.74", total_discounts="0")
    booking = build_booking(bundle, settings)
    assert brief(booking.lines) == [
        ("product", "8000", "HOOG_VERK_21", "21", "-8.26", "-1.74", "-10.00")]
    assert booking.ok


def test_r4_5_coupon_only_total_books_the_whole_discount(settings):
    # 1 x 10.00 incl 21% (price_without_discount 11.00), a 10% coupon, total_discounts 1.00,
    # total 9.00. Residual 1.00 - 1.00 = 0 leaves 10.00 against 9.00 (1.00 > 0.02); the whole
    # 1.00 balances: -1.00 / 1.21 = -0.8264 -> -0.83, VAT -0.17. VAT 1.74 - 0.17 = 1.57
    bundle = order([row("Mok", "10.00", 1, 21, undiscounted="11.00")], total_price="9.00",
                   total_tax="1.57", total_discounts="1.00")
    booking = build_booking(bundle, settings)
    assert brief(booking.lines) == [
        ("product", "8000", "HOOG_VERK_21", "21", "8.26", "1.74", "10.00"),
        ("discount", "8000", "HOOG_VERK_21", "21", "-0.83", "-0.17", "-1.00")]
    assert booking.ok and booking.lines[1].rules[0] == "R4.5"
    [explanation] = booking.explanations
    assert explanation.rule == "R4.5"
    assert "coupon only" in explanation.message_en and "(1.00)" in explanation.message_en
    assert "alleen de kortingscode" in explanation.message_nl and "(1,00)" in explanation.message_nl
    assert Booking.from_dict(json.loads(json.dumps(booking.to_dict()))) == booking


def test_r4_5_coupon_only_credit_invoice(settings):
    # The same mirrored: -1 x 10.00, row discount -1.00, total_discounts -1.00, total -9.00:
    # the whole -1.00 is booked as a discount of +1.00 -> 0.83 + 0.17
    bundle = invoice([row("Mok", "10.00", -1, 21, undiscounted="11.00")],
                     total_price="-9.00", total_tax="-1.57", total_discounts="-1.00")
    booking = build_booking(bundle, settings)
    assert brief(booking.lines) == [
        ("product", "8000", "HOOG_VERK_21", "21", "-8.26", "-1.74", "-10.00"),
        ("discount", "8000", "HOOG_VERK_21", "21", "0.83", "0.17", "1.00")]
    assert booking.ok and len(booking.explanations) == 1


def test_r4_5_neither_reading_balances_the_residual_stands(settings):
    # As above but total 8.50: residual (no line) misses 1.50, the whole 1.00 misses 0.50;
    # neither within 0.02: no discount line and R5.1 fails with the residual's 1.50
    bundle = order([row("Mok", "10.00", 1, 21, undiscounted="11.00")], total_price="8.50",
                   total_tax="1.48", total_discounts="1.00")
    booking = build_booking(bundle, settings)
    assert [l.kind for l in booking.lines] == ["product"]
    assert failed(booking) == ["TOTAL_MISMATCH"] and booking.explanations == ()
    assert "-1.50" in booking.failed_checks[0].message_en


def test_r4_5_the_residual_reading_wins_when_it_balances(settings):
    # Rows carry 2.42 of row discount, total_discounts 3.42: the residual 1.00 is the coupon,
    # and booking it balances, so the whole 3.42 is never tried. 21.78 - 1.00 = 20.78
    bundle = order([row("Mok", "10.89", 2, 21, undiscounted="12.10")], total_price="20.78",
                   total_tax="3.61", total_discounts="3.42")
    booking = build_booking(bundle, settings)
    assert brief(booking.lines)[1] == ("discount", "8000", "HOOG_VERK_21", "21", "-0.83",
                                       "-0.17", "-1.00")
    assert booking.ok and booking.explanations == ()


def test_r4_5_tie_of_the_largest_amounts_the_higher_rate_takes_the_cent(settings):
    # 10.00 at 21%, 9% and 0% (incl), coupon 1.00: 1.00 / 3 = 0.3333 -> 0.33 each = 0.99;
    # the cent left goes to the tie's higher rate, 21%: -0.34 -> -0.28 - 0.06;
    # 9%: -0.33 / 1.09 = -0.3028 -> -0.30 - 0.03; 0%: -0.33. Total 30.00 - 1.00 = 29.00
    bundle = order([row("Mok", "10.00", 1, 21), row("Koek", "10.00", 1, 9),
                    row("Statiegeld", "10.00", 1, 0)],
                   total_price="29.00", total_tax="2.48", total_discounts="1.00")
    booking = build_booking(bundle, settings)
    assert brief(booking.lines)[3:] == [
        ("discount", "8000", "HOOG_VERK_21", "21", "-0.28", "-0.06", "-0.34"),
        ("discount", "8001", "LAAG_VERK_9", "9", "-0.30", "-0.03", "-0.33"),
        ("discount", "8002", "GEEN", "0", "-0.33", "0.00", "-0.33")]
    assert booking.ok


def test_r4_5_tie_on_a_credit_invoice_the_higher_rate_takes_the_cent(settings):
    # The same credited: -10.00 at each rate, total_discounts -1.00: shares -0.33 each and
    # the cent (-0.01) to the tie's higher rate: +0.34 at 21%
    bundle = invoice([row("Mok", "10.00", -1, 21), row("Koek", "10.00", -1, 9),
                      row("Statiegeld", "10.00", -1, 0)],
                     total_price="-29.00", total_tax="-2.48", total_discounts="-1.00")
    booking = build_booking(bundle, settings)
    assert [line[6] for line in brief(booking.lines)[3:]] == ["0.34", "0.33", "0.33"]
    assert booking.ok


def test_r4_5_amounts_in_cents(settings):
    # total_discounts 1.005 is 1.01 in cents (R0.1, half away from zero): 20.00 - 1.01 = 18.99
    # -1.01 / 1.21 = -0.8347 -> -0.83, VAT -0.18
    bundle = order([row("Mok", "20.00", 1, 21)], total_price="18.99", total_tax="3.29",
                   total_discounts="1.005")
    booking = build_booking(bundle, settings)
    assert brief(booking.lines)[1] == ("discount", "8000", "HOOG_VERK_21", "21", "-0.83",
                                       "-0.18", "-1.01")
    assert booking.ok


def test_r4_5_no_negative_zero_on_a_zero_rate_discount(settings):
    # excl order, 10.00 at 0%, coupon 1.00: -1.00 x 0% VAT is 0.00, printed "0.00", never
    # "-0.00" (preview, audit, the document page)
    bundle = order([row("Statiegeld", "10.00", 1, 0)], total_price="9.00", total_tax="0",
                   incl=False, total_discounts="1.00")
    booking = build_booking(bundle, settings)
    assert brief(booking.lines)[1] == ("discount", "8002", "GEEN", "0", "-1.00", "0.00",
                                       "-1.00")
    assert booking.lines[1].to_dict()["vat_amount"] == "0.00"
    result, status = preview(bundle, settings)
    assert status == 0 and "-0.00" not in json.dumps(result)


# --- R4.6 rounding ---------------------------------------------------------------------------

@pytest.mark.parametrize("tax, difference", [("2.11", "0.01"), ("2.09", "-0.01"),
                                             ("2.12", "0.02")])
def test_r4_6_rounding_line_within_tolerance(settings, tax, difference):
    # lines give 12.09 (9.99 + 2.10); the shop says 9.99 + tax
    bundle = order([row("Pen", "3.33", 3, 21)], total_price="9.99", total_tax=tax,
                   incl=False)
    booking = build_booking(bundle, settings)
    assert brief(booking.lines)[-1] == ("rounding", "8090", "GEEN", "0", difference, "0.00",
                                        difference)
    assert booking.lines[-1].description == "Rounding difference"
    assert booking.ok
    assert sum(l.amount_incl for l in booking.lines) == booking.total_incl


def test_r4_6_total_mismatch_beyond_tolerance(settings):
    # 9.99 + 2.13 = 12.12 against 12.09: 0.03 > 0.02 -> no rounding line, R5.1 fails
    bundle = order([row("Pen", "3.33", 3, 21)], total_price="9.99", total_tax="2.13",
                   incl=False)
    booking = build_booking(bundle, settings)
    assert [l.kind for l in booking.lines] == ["product"]
    assert failed(booking) == ["TOTAL_MISMATCH"]
    check = booking.failed_checks[0]
    assert check.rule == "R5.1" and "0.03" in check.message_en and "0.03" in check.message_nl


def test_r4_6_tolerance_is_a_setting():
    settings = make_settings(replace={'tolerance = "0.02"': 'tolerance = "0.05"'})
    bundle = order([row("Pen", "3.33", 3, 21)], total_price="9.99", total_tax="2.13",
                   incl=False)
    booking = build_booking(bundle, settings)
    assert booking.ok and booking.lines[-1].amount_incl == D("0.03")


# --- R4.7 / R4.8 ----------------------------------------------------------------------------

def test_r4_8_unknown_rate_is_a_failed_check_not_an_exception(settings):
    # FR delivery without an oss.FR entry is domestic (R3.3): 20% has no [[vat]] entry
    bundle = order([row("Vin", "12.00", 1, 20)], total_price="12.00", total_tax="2.00")
    bundle["order"]["customer"] = customer("FR")
    booking = build_booking(bundle, settings)
    assert booking.scope == "domestic"
    assert failed(booking) == ["VAT_CODE_MISSING"]
    assert brief(booking.lines) == [("product", None, None, "20", "10.00", "2.00", "12.00")]
    assert "20%" in booking.failed_checks[0].message_en


def test_r4_8_icp_without_an_icp_entry():
    settings = make_settings(replace={'[icp]\nvat_code = "BI_EU_VERK"\nrevenue_account = "8100"\n': ""})
    bundle = order([row("Machine", "100.00", 1, 0)], total_price="100.00", total_tax="0",
                   incl=False, is_intra_community_order=True)
    bundle["order"]["customer"] = customer("BE", btw="BE0403170701")
    assert failed(build_booking(bundle, settings)) == ["VAT_CODE_MISSING"]


def test_r4_7_oss_discount_is_split_too(settings):
    # DE incl: 2 x 11.90 = 23.80 at 19%, coupon 2.38 -> -2.38 / 1.19 = -2.00, VAT -0.38
    bundle = order([row("Tasse", "11.90", 2, 19)], total_price="21.42", total_tax="3.42",
                   total_discounts="2.38")
    bundle["order"]["customer"] = customer("DE")
    booking = build_booking(bundle, settings)
    assert brief(booking.lines) == [
        ("product", "8300", "GEEN", "0", "20.00", "0.00", "20.00"),
        ("oss_vat", "1665", "GEEN", "0", "3.80", "0.00", "3.80"),
        ("discount", "8300", "GEEN", "0", "-2.00", "0.00", "-2.00"),
        ("oss_vat", "1665", "GEEN", "0", "-0.38", "0.00", "-0.38")]
    assert booking.ok


# --- R0.4, R1.2, R2 ------------------------------------------------------------------------

def test_r0_4_date_in_the_shops_time_zone(settings):
    bundle = order([row("Mok", "12.10")], total_price="12.10", total_tax="2.10",
                   create_date="2026-03-31T22:30:00Z")
    assert build_booking(bundle, settings).date.isoformat() == "2026-04-01"  # CEST, UTC+2
    utc = make_settings(replace={'timezone = "Europe/Amsterdam"': 'timezone = "UTC"'})
    assert build_booking(bundle, utc).date.isoformat() == "2026-03-31"


def test_r2_1_sales_number_carries_the_prefix():
    settings = make_settings(replace={'number_prefix = ""': 'number_prefix = "WS-"'})
    bundle = order([row("Mok", "12.10")], total_price="12.10", total_tax="2.10")
    booking = build_booking(bundle, settings)
    assert (booking.number, booking.sales_number) == ("1042", "WS-1042")


def test_r1_2_invoice_field_names(settings):
    # invoices: price_with_attributes (10.00, not selling_price), invoice_row_taxes_included
    # (false although taxes_included... both false here), row discount from
    # price_without_discount_with_attributes: (12.00 - 10.00) x 2 = 4.00
    item = row("Mok", "10.00", 2, 21)
    item.update(selling_price=D("99"), price_without_discount_with_attributes=D("12.00"),
                price_without_discount=D("77"))
    bundle = invoice([item], total_price="20.00", total_tax="4.20", incl=False,
                     total_discounts="4.00")
    booking = build_booking(bundle, settings)
    assert booking.kind == "invoice" and booking.number == "F-2026-7"
    assert brief(booking.lines) == [
        ("product", "8000", "HOOG_VERK_21", "21", "20.00", "4.20", "24.20")]
    assert booking.lines[0].row_discount == D("4.00")
    # no linked order: no payment method, no paid flag; the transaction id falls back (R8.1)
    assert (booking.payment_method, booking.paid, booking.transaction_id) == (
        "default", None, "F-2026-7")


def test_r1_2_invoice_row_flag_is_the_invoices_own():
    settings = make_settings()
    item = row("Mok", "12.10", 1, 21)
    bundle = invoice([item], total_price="12.10", total_tax="2.10", incl=True,
                     invoice_row_taxes_included=True, order_row_taxes_included=False)
    assert brief(build_booking(bundle, settings).lines)[0][4:] == ("10.00", "2.10", "12.10")


def test_r2_3_invoice_totals_are_a_cross_check(settings):
    bundle = invoice([row("Mok", "12.10")], total_price="12.10", total_tax="2.10",
                     total_price_inc_tax="12.11", total_price_exc_tax="10.00")
    booking = build_booking(bundle, settings)
    assert booking.total_incl == D("12.10") and booking.ok
    assert len(booking.notes) == 1 and "total_price_inc_tax 12.11" in booking.notes[0]


def test_unreadable_documents_raise_naming_the_field(settings):
    with pytest.raises(DocumentError, match="neither 'order' nor 'invoice'"):
        build_booking({"orders": {}}, settings)
    bundle = order([row("Mok", "12.10")], total_price="12.10", total_tax="2.10")
    bundle["orderrows"]["items"][0]["selling_price"] = "twaalf"
    with pytest.raises(DocumentError, match=r"orderrows\[0\]\.selling_price: not a number"):
        build_booking(bundle, settings)


def test_rows_may_be_a_plain_list(settings):
    bundle = order([row("Mok", "12.10")], total_price="12.10", total_tax="2.10")
    bundle["orderrows"] = bundle["orderrows"]["items"]
    assert build_booking(bundle, settings).ok


def test_floats_and_ints_give_the_same_booking_as_decimals(settings):
    exact = order([row("Pen", "1.99", 3, 21)], total_price="5.97", total_tax="1.04")
    floats = json.loads(json.dumps(exact, default=float))  # what a careless caller passes
    assert isinstance(floats["order"]["total_price"], float)
    assert build_booking(floats, settings) == build_booking(exact, settings)


def test_booking_round_trips_through_its_dict(settings):
    bundle = order([row("Mok", "10.89", 2, 21, undiscounted="12.10"), row("Koek", "8.72", 1, 9)],
                   total_price="35.45", total_tax="5.36", total_discounts="2.42",
                   total_shipping="4.95")
    booking = build_booking(bundle, settings)
    data = json.loads(json.dumps(booking.to_dict()))
    assert Booking.from_dict(data) == booking
    assert data["lines"][0]["rules"] == ["R4.1", "R0.3", "R4.8"]
