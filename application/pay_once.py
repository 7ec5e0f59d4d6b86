"""One claimed attempt at a payment's ledger write (R8.1-R8.2), which must land at most once (I1).

The decision is the same wherever a sale's payment is booked (the connection's own ledger in
``application.processing``, a further ledger in ``application.replay``), as ``send_once`` is
for the sale: when an earlier attempt may have reached the ledger, look first; check the open
item (R8.2); send; when the ledger's payment-reference guard says the payment is there, look
again, because only a payment that is ours counts as posted. The callers record the outcome
as events of their own aggregate (the claim is theirs too, saved before this is called).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from application.errors import DuplicateError, RejectedError
from application.send_once import reference
from domain import payments as payment_rules
from domain.booking import Booking
from domain.payments import PaymentProblem


@dataclass(frozen=True)
class Paid:
    """``record``: the ledger's payment of ours (its answer, or found by a lookup);
    ``problem``: why it was not booked (R8.2, or the ledger's refusal, its answer in
    ``detail``). Exactly one of the two is set."""

    record: dict | None = None
    found_by_lookup: bool = False
    problem: PaymentProblem | None = None
    detail: Any = None

    def record_on(self, holder) -> None:
        """Record the outcome on the aggregate whose claim this attempt held (a ``Document``
        or a ``TargetPosting``: both record a payment, or its failure, alike)."""
        if self.problem is not None:
            holder.fail_payment(self.problem.code, self.problem.rule, self.problem.message_nl,
                                self.problem.message_en, detail=self.detail)
        else:
            holder.record_payment(reference(self.record), self.record,
                                  found_by_lookup=self.found_by_lookup)


def pay_once(ledger, booking: Booking, request: dict, *, may_have_reached: bool,
             without_open_item: bool, looked_up: Callable[[dict | None], None]) -> Paid:
    """``looked_up(reference or None)`` is told of every lookup (the audit's record).
    ``without_open_item``: the connection's ``payments.without_open_item``. Transient errors
    propagate: the caller gives the claim back."""
    if may_have_reached:
        found = _find(ledger, booking, looked_up)
        if found is not None:
            return Paid(record=found, found_by_lookup=True)
    problem = payment_rules.check_open_item(ledger.find_outstanding(booking.sales_number),
                                            booking)
    if problem and not without_open_item:
        # No open item may mean the payment is booked already, by an attempt this event store
        # does not know (restored from a backup older than the booking): look first; only a
        # payment with koppel's own description counts, not one booked by hand (the ledger
        # does not show the payment reference).
        if not may_have_reached:
            found = _find(ledger, booking, looked_up, described=request["body"]["description"])
            if found is not None:
                return Paid(record=found, found_by_lookup=True)
        return Paid(problem=problem)
    try:
        response = ledger.create_mutation(request["body"])
    except RejectedError as error:
        # A duplicate (MUTA_008): the payment reference is taken, by an earlier attempt of ours
        # (found) or by a booking that is not this payment (it fails: the merchant looks).
        if isinstance(error, DuplicateError):
            found = _find(ledger, booking, looked_up)
            if found is not None:
                return Paid(record=found, found_by_lookup=True)
        return Paid(problem=PaymentProblem(error.code or "PAYMENT_REJECTED", "R8.2",
                                           error.message_nl, error.message),
                    detail=error.detail)
    return Paid(record=response)


def _find(ledger, booking: Booking, looked_up: Callable[[dict | None], None],
          described: str | None = None) -> dict | None:
    """``described``: count only a payment with this description as koppel's."""
    found = ledger.find_payment(booking.sales_number)
    if described is not None and found is not None and found.get("description") != described:
        found = None
    looked_up(reference(found) if found else None)
    return found
