"""The decision of one claimed sale write (I1), against a ledger that answers as told: the
lookups it makes, whether it sends, and what counts as posted."""

from __future__ import annotations

import pytest

from application.errors import DuplicateError, RejectedError
from application.send_once import send_once

OURS = {"id": 7, "invoiceNumber": "1001", "mine": True}
OTHERS = {"id": 8, "invoiceNumber": "1001", "mine": False}


class Ledger:
    rule = "R7.1"

    def __init__(self, holds=None, answer=None):
        self.holds, self.answer, self.sent, self.finds = holds, answer, 0, 0

    def find(self, request):
        self.finds += 1
        return self.holds

    def send(self, request):
        self.sent += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def is_ours(self, found, request):
        return found["mine"]


def run(ledger, may_have_reached):
    lookups = []
    return send_once(ledger, {}, may_have_reached=may_have_reached,
                     looked_up=lookups.append), lookups


def test_a_first_attempt_sends_without_looking():
    ledger = Ledger(answer={"id": 9, "invoiceNumber": "1001"})
    sent, lookups = run(ledger, False)
    assert (sent.record, sent.found_by_lookup, ledger.sent, lookups) == (
        {"id": 9, "invoiceNumber": "1001"}, False, 1, [])


def test_a_later_attempt_that_finds_its_booking_sends_nothing():
    ledger = Ledger(holds=OURS, answer={"id": 9})
    sent, lookups = run(ledger, True)
    assert (sent.record, sent.found_by_lookup, ledger.sent) == (OURS, True, 0)
    assert lookups == [{"id": 7, "invoiceNumber": "1001"}]


def test_a_later_attempt_that_finds_another_booking_under_the_number_sends_nothing():
    ledger = Ledger(holds=OTHERS)
    sent, _ = run(ledger, True)
    assert (sent.taken, sent.record, ledger.sent) == (OTHERS, None, 0)


def test_a_later_attempt_that_finds_nothing_sends():
    ledger = Ledger(holds=None, answer={"id": 9})
    sent, lookups = run(ledger, True)
    assert (sent.record, ledger.sent, lookups) == ({"id": 9}, 1, [None])


@pytest.mark.parametrize("holds, posted, taken", [(OURS, True, False), (OTHERS, False, True),
                                                  (None, False, False)])
def test_the_ledgers_duplicate_guard_is_looked_up(holds, posted, taken):
    ledger = Ledger(holds=holds, answer=DuplicateError("MUTA_008", code="MUTA_008"))
    sent, lookups = run(ledger, False)
    assert ledger.sent == 1 and ledger.finds == 1 and len(lookups) == 1
    assert (sent.record is not None, sent.taken is not None) == (posted, taken)
    assert (sent.refused is not None) == (holds is None)


def test_a_refusal_is_reported_not_raised():
    refusal = RejectedError("no", code="MUT_019")
    sent, _ = run(Ledger(answer=refusal), False)
    assert sent.refused is refusal and sent.record is None and sent.taken is None
