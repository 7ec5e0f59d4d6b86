"""The decision of one claimed payment write (R8.2, I1), against a ledger that answers as told:
the lookups it makes, whether it sends, and what counts as paid. Processing (the connection's
own ledger) and the replay (a further ledger) both book payments with it."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from application.errors import DuplicateError, RejectedError
from application.pay_once import pay_once

BOOKING = SimpleNamespace(sales_number="1001", total_incl=Decimal("12.10"))
REQUEST = {"body": {"description": "ideal - 1001 - tx9"}}
OPEN = {"invoiceNumber": "1001", "outstandingAmount": 12.10}
OURS = {"id": 7, "description": "ideal - 1001 - tx9"}
BY_HAND = {"id": 8, "description": "paid at the counter"}


class Ledger:
    def __init__(self, payment=None, outstanding=OPEN, answer=None):
        self.payment, self.outstanding, self.answer = payment, outstanding, answer
        self.sent = self.finds = 0

    def find_payment(self, number):
        self.finds += 1
        return self.payment

    def find_outstanding(self, number):
        return self.outstanding

    def create_mutation(self, body):
        self.sent += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def run(ledger, may_have_reached=False, without_open_item=False):
    lookups = []
    return pay_once(ledger, BOOKING, REQUEST, may_have_reached=may_have_reached,
                    without_open_item=without_open_item, looked_up=lookups.append), lookups


def test_a_first_attempt_against_its_open_item_sends_without_looking():
    ledger = Ledger(answer={"id": 9})
    paid, lookups = run(ledger)
    assert (paid.record, paid.found_by_lookup, paid.problem, ledger.sent, lookups) == (
        {"id": 9}, False, None, 1, [])


def test_a_later_attempt_that_finds_the_payment_sends_nothing():
    ledger = Ledger(payment=OURS, answer={"id": 9})
    paid, lookups = run(ledger, may_have_reached=True)
    assert (paid.record, paid.found_by_lookup, ledger.sent, lookups) == (OURS, True, 0,
                                                                         [{"id": 7}])


def test_a_later_attempt_that_finds_nothing_checks_the_open_item_and_sends():
    ledger = Ledger(answer={"id": 9})
    paid, lookups = run(ledger, may_have_reached=True)
    assert (paid.record, ledger.sent, lookups) == ({"id": 9}, 1, [None])


@pytest.mark.parametrize("outstanding, code", [
    (None, "PAYMENT_NO_OPEN_ITEM"),
    ({"invoiceNumber": "1001", "outstandingAmount": 11.10}, "PAYMENT_AMOUNT_MISMATCH")])
def test_no_matching_open_item_books_nothing_unless_koppels_own_payment_is_found(outstanding,
                                                                                 code):
    for payment, found in ((None, False), (BY_HAND, False), (OURS, True)):
        ledger = Ledger(payment=payment, outstanding=outstanding)
        paid, lookups = run(ledger)
        assert ledger.sent == 0 and ledger.finds == 1
        assert (paid.record is not None, paid.found_by_lookup) == (found, found)
        assert (paid.problem.code if paid.problem else None) == (None if found else code)
        assert lookups == [{"id": 7} if found else None]  # one by hand is not koppel's


def test_a_later_attempt_without_an_open_item_looks_once():
    ledger = Ledger(payment=None, outstanding=None)
    paid, lookups = run(ledger, may_have_reached=True)
    assert paid.problem.code == "PAYMENT_NO_OPEN_ITEM" and lookups == [None]
    assert ledger.finds == 1 and ledger.sent == 0


def test_without_open_item_setting_sends_anyway():
    ledger = Ledger(outstanding=None, answer={"id": 9})
    paid, lookups = run(ledger, without_open_item=True)
    assert (paid.record, ledger.sent, lookups) == ({"id": 9}, 1, [])


@pytest.mark.parametrize("payment, paid_once", [(OURS, True), (None, False)])
def test_muta_008_is_looked_up(payment, paid_once):
    ledger = Ledger(payment=payment, answer=DuplicateError("taken", code="MUTA_008"))
    paid, lookups = run(ledger)
    assert ledger.sent == 1 and ledger.finds == 1 and len(lookups) == 1
    assert (paid.record is not None) == paid_once
    assert (paid.problem.code if paid.problem else None) == (None if paid_once else "MUTA_008")


def test_a_refusal_is_reported_with_the_ledgers_answer():
    refusal = RejectedError("no", code="MUT_019", detail={"said": "no"})
    paid, _ = run(Ledger(answer=refusal))
    assert (paid.problem.code, paid.problem.rule, paid.detail, paid.record) == (
        "MUT_019", "R8.2", {"said": "no"}, None)
