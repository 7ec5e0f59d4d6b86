"""R3: scope (R3.1-R3.5) and payment method (R3.6, every branch)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.booking import build_booking
from domain.classify import clean_up, payment_method, scope

from .conftest import customer, failed, make_settings, order, row

D = Decimal
CONFIGURED = ["ideal", "paypal", "default"]


@pytest.mark.parametrize("is_icp, tax, country, expected", [
    (True, "0", "BE", "icp"),                 # R3.1 whatever else
    (True, "21", "NL", "icp"),
    (False, "0", "US", "international"),      # R3.2
    (False, "0", "FR", "international"),      # R3.2 reads "not home", EU or not
    (False, "19", "DE", "oss"),               # R3.3 with an oss.DE entry
    (False, "20", "FR", "domestic"),          # R3.3 "otherwise a foreign EU delivery is domestic"
    (False, "21", "NL", "domestic"),          # R3.4
    (False, "0", "NL", "domestic"),           # 0 tax at home is still domestic
    (False, "5", "US", "domestic"),           # outside the EU with VAT: R3.5 fails it
])
def test_scope(is_icp, tax, country, expected):
    assert scope(is_icp=is_icp, total_tax=D(tax), country=country, home_country="NL",
                 oss_countries={"DE"}) == expected


def test_r1_4_delivery_country_wins_over_billing(settings):
    bundle = order([row("Teekanne", "35.70", tax=19)], total_price="35.70", total_tax="5.70")
    bundle["order"]["customer"] = customer("NL", delivery_country="DE")
    booking = build_booking(bundle, settings)
    assert (booking.country, booking.scope) == ("DE", "oss")


def test_r1_4_a_delivery_address_without_a_country_falls_back_to_billing(settings):
    # the delivery address is filled (so it is not "same as billing", R1.3) but has no
    # country code: the billing country (DE) is the delivery country
    bundle = order([row("Teekanne", "35.70", tax=19)], total_price="35.70", total_tax="5.70")
    bundle["order"]["customer"] = customer("DE", delivery_country="DE")
    bundle["order"]["customer"]["deliveryaddress"]["country_code"] = ""
    booking = build_booking(bundle, settings)
    assert booking.customer.delivery != booking.customer.billing
    assert (booking.country, booking.scope) == ("DE", "oss")


def test_r1_4_neither_address_has_a_country_the_shop_sells_at_home():
    # home BE (settings), no country code anywhere: a BE sale, domestic; its payment costs
    # carry BE's standard rate (R4.3): 1.21 -> 1.00 + 0.21
    settings = make_settings(replace={'home_country = "NL"': 'home_country = "BE"'})
    bundle = order([row("Mok", "12.10")], total_price="13.31", total_tax="2.31",
                   paymethod_costs="1.21")
    bundle["order"]["customer"] = customer(None)
    booking = build_booking(bundle, settings)
    assert (booking.country, booking.scope) == ("BE", "domestic")
    assert (booking.lines[1].kind, booking.lines[1].vat_rate) == ("payment_costs", 21)
    assert booking.ok


def test_r1_3_empty_delivery_address_means_billing(settings):
    bundle = order([row("Mok", "12.10")], total_price="12.10", total_tax="2.10")
    booking = build_booking(bundle, settings)
    assert booking.customer.delivery == booking.customer.billing
    assert booking.country == "NL"


def test_r3_5_outside_the_eu_with_vat_fails(settings):
    bundle = order([row("Mok", "12.10")], total_price="12.10", total_tax="2.10")
    bundle["order"]["customer"] = customer("US")
    booking = build_booking(bundle, settings)
    assert failed(booking) == ["INTERNATIONAL_WITH_VAT"]
    check = booking.failed_checks[0]
    assert check.rule == "R5.4" and "US" in check.message_en and "US" in check.message_nl


def test_clean_up():
    assert clean_up("Bank-Transfer_ NL") == "banktransfernl"


@pytest.mark.parametrize("paymethod, label, expected", [
    ("iDEAL", "", "ideal"),                           # 1. a configured key, cleaned up
    ("Pay_Pal", "", "paypal"),                        # 1. (and 4.)
    ("Pay by PayPal", "", "paypal"),                  # 4. contains paypal
    ("BankTransfer", "Vooraf overmaken", "banktransfer"),   # 2. transfer
    ("bank", "", "banktransfer"),                     # 2. bank
    ("On invoice", "", "banktransfer"),               # 2. invoice
    ("Op rekening", "", "banktransfer"),              # 2. rekening
    ("Mollie iDEAL", "", "ideal"),                    # 3. contains ideal (no key equals it)
    ("Mollie-Afterpay", "", "afterpay"),              # 5.
    ("Bancontact / Mister Cash", "", "mistercash"),   # 6. both words
    ("Mister", "", "default"),                        # 6. needs both
    ("Credit Card", "", "creditcard"),                # 7. credit + card
    ("Maestro", "", "creditcard"),                    # 7.
    ("VISA", "", "creditcard"),                       # 7.
    ("MasterCard", "", "creditcard"),                 # 7. (card alone is not enough:)
    ("Card", "", "default"),
    ("Cadeaubon", "", "default"),                     # 8.
    ("", "", "default"),
    ("PSP 42", "iDEAL via Mollie", "ideal"),          # label only when paymethod matches nothing
    ("PayPal", "Vooraf overmaken", "paypal"),         # paymethod first
])
def test_r3_6_payment_method(paymethod, label, expected):
    assert payment_method(paymethod, label, CONFIGURED) == expected


def test_r3_6_configured_key_wins_over_the_built_in_words():
    # "Bank PayPal" contains "bank" (2.), but a configured key equal to it wins (1.)
    assert payment_method("Bank PayPal", "", ["bank_paypal"]) == "bank_paypal"
    assert payment_method("Bank PayPal", "", []) == "banktransfer"
    # first match wins in order: "transfer" (2.) comes before "ideal" (3.)
    assert payment_method("iDEAL transfer", "", []) == "banktransfer"
