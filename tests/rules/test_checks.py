"""R5: each check, passing and failing, with code, rule and a Dutch and English message."""

from __future__ import annotations

from domain.booking import build_booking
from domain.checks import RULES

from .conftest import customer, failed, make_settings, order, row

ALL = ["TOTAL_MISMATCH", "ICP_VAT_NUMBER_INVALID", "VAT_CODE_MISSING",
       "INTERNATIONAL_WITH_VAT", "CURRENCY_NOT_ENABLED", "CUSTOMER_NAME_MISSING"]


def _plain():
    return order([row("Mok", "12.10")], total_price="12.10", total_tax="2.10")


def _icp(btw: str):
    bundle = order([row("Machine", "400", 1, 0)], total_price="400", total_tax="0",
                   incl=False, is_intra_community_order=True)
    bundle["order"]["customer"] = customer("BE", btw=btw)
    return bundle


def test_every_check_is_listed_in_rule_order(settings):
    booking = build_booking(_plain(), settings)
    assert [check.code for check in booking.checks] == ALL
    assert [check.rule for check in booking.checks] == [f"R5.{n}" for n in range(1, 7)]
    assert booking.ok and booking.failed_checks == ()
    for check in booking.checks:
        assert check.message_nl and check.message_en and check.message_nl != check.message_en
        assert check.rule in check.message_en and check.rule in check.message_nl
    assert RULES["CUSTOMER_NAME_MISSING"] == "R5.6"


def test_r5_2_icp_vat_number(settings):
    assert build_booking(_icp("BE0403170701"), settings).ok
    assert build_booking(_icp("be 0403.170.701".replace(".", "")), settings).ok  # spaces go
    for bad in ("BE0123456780", "NL123", "XX123456789"):   # check digit, format, country
        booking = build_booking(_icp(bad), settings)
        assert failed(booking) == ["ICP_VAT_NUMBER_INVALID"]
        assert bad in booking.failed_checks[0].message_en
        assert bad in booking.failed_checks[0].message_nl
    booking = build_booking(_icp(""), settings)
    assert failed(booking) == ["ICP_VAT_NUMBER_INVALID"]
    assert "without" in booking.failed_checks[0].message_en
    assert "zonder" in booking.failed_checks[0].message_nl
    # the lines are still made (examples/03)
    assert [line.account for line in booking.lines] == ["8100"]


def test_r5_2_only_for_icp(settings):
    bundle = _plain()
    bundle["order"]["customer"]["btw"] = "nonsense"
    assert build_booking(bundle, settings).ok


def test_r5_5_currency(settings):
    bundle = _plain()
    bundle["order"]["currency"] = "USD"
    booking = build_booking(bundle, settings)
    assert failed(booking) == ["CURRENCY_NOT_ENABLED"]
    assert "USD" in booking.failed_checks[0].message_nl
    # e-Boekhouden has no way to enable it; Billit does
    billit = make_settings(replace={'system = "eboekhouden"': 'system = "billit"'},
                           extra='\n[billit]\nparty_id = "1"\ncurrency_enabled = true\n')
    assert build_booking(bundle, billit).ok
    not_enabled = make_settings(replace={'system = "eboekhouden"': 'system = "billit"'},
                                extra='\n[billit]\nparty_id = "1"\n')
    assert failed(build_booking(bundle, not_enabled)) == ["CURRENCY_NOT_ENABLED"]


def test_r5_6_customer_name(settings):
    bundle = _plain()
    bundle["order"]["customer"] = customer(company="", first="", last="")
    booking = build_booking(bundle, settings)
    assert failed(booking) == ["CUSTOMER_NAME_MISSING"]
    assert booking.failed_checks[0].rule == "R5.6"
    for company, first, last in (("BV", "", ""), ("", "Sanne", ""), ("", "", "de Vries")):
        bundle["order"]["customer"] = customer(company=company, first=first, last=last)
        assert build_booking(bundle, settings).ok


def test_several_checks_fail_together(settings):
    bundle = order([row("Mok", "12.10", 1, 17)], total_price="99.00", total_tax="2.10",
                   currency="GBP")
    bundle["order"]["customer"] = customer("GB", company="", first="", last="")
    booking = build_booking(bundle, settings)
    assert failed(booking) == ["TOTAL_MISMATCH", "VAT_CODE_MISSING", "INTERNATIONAL_WITH_VAT",
                               "CURRENCY_NOT_ENABLED", "CUSTOMER_NAME_MISSING"]
    assert len(booking.lines) == 1   # still made
