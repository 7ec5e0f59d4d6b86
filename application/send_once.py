"""One claimed attempt at a sale's ledger write, which must land exactly once (I1).

The decision is the same wherever a sale is booked (the connection's own ledger in
``application.processing``, a further ledger in ``application.replay``) and wherever a posted
one is corrected (both parts of ``application.corrections``): when an earlier
attempt may have reached the ledger, look first; send; when the ledger's own guard says the
number or key is taken, look again, because only a booking that is ours counts as posted. The
callers record the outcome as events of their own aggregate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from application.errors import DuplicateError, RejectedError
from application.posting import SalePosting


@dataclass(frozen=True)
class Sent:
    """``record``: the ledger's booking of ours (its answer, or found by a lookup);
    ``taken``: a booking under our number that is not ours; ``refused``: the ledger's refusal.
    Exactly one of the three is set."""

    record: dict | None = None
    found_by_lookup: bool = False
    taken: dict | None = None
    refused: RejectedError | None = None


def number_taken(number: str) -> tuple[str, str]:
    """R2.1: the Dutch and English words for a sale whose number another booking holds."""
    return (f"De boekhouding heeft al een andere boeking met nummer {number} (andere klant of "
            f"ander bedrag); koppel heeft er niets aan veranderd of toegevoegd. Gebruiken meer "
            f"winkels deze administratie, stel dan shop.number_prefix in.",
            f"The ledger already holds another booking numbered {number} (another customer or "
            f"amount); koppel neither changed nor added to it. If several shops feed this "
            f"ledger, set shop.number_prefix.")


def reference(found: dict) -> dict:
    """What identifies the document in the ledger (shown on Report; the rest stays in the
    event for the audit)."""
    keys = ("id", "invoiceNumber", "mutationId")
    return {key: found[key] for key in keys if found.get(key) is not None}


def send_once(sale: SalePosting, request: dict, *, may_have_reached: bool,
              looked_up: Callable[[dict | None], None]) -> Sent:
    """``looked_up(reference or None)`` is told of every lookup (the audit's ``LookedUp``).
    Transient errors propagate: the caller gives the claim back."""
    if may_have_reached:
        found = sale.find(request)
        looked_up(reference(found) if found else None)
        if found is not None:
            return _found(sale, request, found)
    try:
        response = sale.send(request)
    except DuplicateError as error:
        # The ledger's own guard: the number or key is taken, by an earlier attempt of ours
        # or by another document: only the first may count as posted.
        found = sale.find(request)
        looked_up(reference(found) if found else None)
        return Sent(refused=error) if found is None else _found(sale, request, found)
    except RejectedError as error:
        return Sent(refused=error)
    return Sent(record=response)


def _found(sale: SalePosting, request: dict, found: dict) -> Sent:
    if sale.is_ours(found, request):
        return Sent(record=found, found_by_lookup=True)
    return Sent(taken=found)
