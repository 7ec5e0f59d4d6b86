"""Hand-computed cases in ``cases/``: document + expected lines (see each file's "about")."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from domain.billit import order_request
from domain.booking import build_booking

from .conftest import CASES, brief, failed

CASE_FILES = sorted(CASES.glob("*.json"))


def _case(path):
    return json.loads(path.read_text(), parse_float=Decimal)


def test_there_are_cases():
    assert len(CASE_FILES) >= 2


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda path: path.stem)
def test_case(path, settings):
    case = _case(path)
    booking = build_booking(case["document"], settings)
    expected = case["expected"]
    assert booking.scope == expected["scope"]
    assert booking.payment_method == expected["payment_method"]
    assert str(booking.total_incl) == expected["total_incl"]
    assert failed(booking) == expected["failed"]
    assert [list(line) for line in brief(booking.lines)] == expected["lines"]
    for key in ("paid", "transaction_id", "number"):
        if key in expected:
            assert getattr(booking, key) == expected[key], key


def test_credit_invoice_goes_to_billit_as_a_positive_credit_note(settings):
    booking = build_booking(_case(CASES / "credit-invoice-linked-order.json")["document"],
                            settings)
    request = order_request(booking, settings, "ccvshop-invoice-98765433")
    body = request["body"]
    assert body["OrderType"] == "CreditNote"
    # -21.78 for -2 pieces: sent as 2 x 10.89; shipping 1 x 4.95
    assert [(l["Quantity"], l["UnitPriceIncl"]) for l in body["OrderLines"]] == [
        (Decimal("2"), Decimal("10.89")), (Decimal("1"), Decimal("4.95"))]
    assert request["headers"] == {"Idempotency-Key": "ccvshop-invoice-98765433"}
