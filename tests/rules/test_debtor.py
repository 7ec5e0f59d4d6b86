"""R6: fixed debtor, matching, relation fields and the relation code."""

from __future__ import annotations

from domain.booking import build_booking
from domain.customer import Address, Customer
from domain.debtor import (base_code, fixed_debtor_code, match_relation, relation_code,
                           relation_fields)

from .conftest import customer, make_settings, order, row


def test_r6_4_the_spec_example():
    klaartje = Customer(first_name="Klaartje", last_name="Pietersen")
    base = base_code(klaartje)
    assert base == "KlaartjePi"
    assert relation_code(base, set()) == "KlaartjePi"
    assert relation_code(base, {"KlaartjePi"}) == "KlaartjePi1"
    existing = {"KlaartjePi"} | {f"KlaartjePi{n}" for n in range(1, 5)}
    assert relation_code(base, existing) == "KlaartjePi5"
    # the first FREE number: a gap is reused
    assert relation_code(base, {"KlaartjePi", "KlaartjePi2"}) == "KlaartjePi1"
    assert relation_code(base, {"Other"}) == "KlaartjePi"


def test_r6_4_company_first_folded_and_cut():
    assert base_code(Customer(company="Café Lotte BV", first_name="Lotte")) == "CafeLotteB"
    assert base_code(Customer(first_name="Zoë", last_name="Ångström")) == "ZoeAngstro"
    assert base_code(Customer(company="'t Hoekje & Zn.")) == "tHoekjeZn"
    assert base_code(Customer(company="12 Ambachten")) == "12Ambachte"


def test_r6_4_empty_gives_deb():
    assert base_code(Customer()) == "DEB"
    assert base_code(Customer(company="   ---  ")) == "DEB"
    assert base_code(Customer(company="東京")) == "DEB"
    assert relation_code("DEB", {"DEB", "DEB1"}) == "DEB2"


def test_r6_2_match_is_case_insensitive():
    relations = [{"code": "A", "email": "x@y.nl"}, {"code": "BakkerijDe", "email": "Sanne@Bakkerij.NL"}]
    assert match_relation("sanne@bakkerij.nl", relations)["code"] == "BakkerijDe"
    assert match_relation("other@bakkerij.nl", relations) is None
    assert match_relation("", [{"code": "C", "email": ""}]) is None


def test_r6_3_business_relation_fields():
    billing = Address(street="Kerkstraat", housenumber="12", housenumber_suffix="a",
                      zipcode="3511AB", city="Utrecht", country="Nederland", country_code="NL")
    fields = relation_fields(Customer(company="Bakkerij De Vries", first_name="Sanne",
                                      last_name="de Vries", email="s@b.nl", phone="030",
                                      btw="NL123", kvk="12345678", billing=billing))
    assert fields == {"type": "B", "name": "Bakkerij De Vries", "contact": "Sanne de Vries",
                      "address": "Kerkstraat 12a", "postalCode": "3511AB", "city": "Utrecht",
                      "country": "Nederland", "emailAddress": "s@b.nl", "phoneNumber": "030",
                      "vatNumber": "NL123", "companyRegistrationNumber": "12345678"}


def test_r6_3_private_relation_and_non_numeric_kvk():
    fields = relation_fields(Customer(first_name="Jan", last_name="Jansen", kvk="KVK 123",
                                      billing=Address(address_line_1="Dorpsstraat 1")))
    assert fields["type"] == "P" and fields["name"] == "Jan Jansen"
    assert fields["address"] == "Dorpsstraat 1"
    assert "companyRegistrationNumber" not in fields and "vatNumber" not in fields


def _paypal_order(country="NL", icp=False):
    bundle = order([row("Mok", "12.10")], total_price="12.10", total_tax="2.10",
                   paymethod="PayPal", is_intra_community_order=icp)
    bundle["order"]["customer"] = customer(country, btw="BE0403170701" if icp else "")
    return bundle


def test_r6_1_fixed_debtor_only_in_invoice_mode_and_never_for_icp():
    invoice_mode = make_settings(replace={'document = "mutation"': 'document = "invoice"'})
    booking = build_booking(_paypal_order(), invoice_mode)
    assert booking.payment_method == "paypal"
    assert fixed_debtor_code(booking, invoice_mode, "invoice") == "PAYPAL"
    assert fixed_debtor_code(booking, invoice_mode, None) == "PAYPAL"
    assert fixed_debtor_code(booking, invoice_mode, "invoices") == "PAYPAL"
    assert fixed_debtor_code(booking, invoice_mode, "mutation") is None
    icp = build_booking(_paypal_order("BE", icp=True), invoice_mode)
    assert icp.scope == "icp" and fixed_debtor_code(icp, invoice_mode, "invoice") is None
    # ideal has no fixed debtor configured
    ideal = build_booking(order([row("Mok", "12.10")], total_price="12.10", total_tax="2.10"),
                          invoice_mode)
    assert fixed_debtor_code(ideal, invoice_mode, "invoice") is None
