"""Correction bookings for posted documents after a settings change: a reversal, then the new
booking, each exactly once (domain/correction.py has the protocol's state).

Every kind of ledger document the connection books is corrected in its own kind, through the
connection's ``SalePosting`` (application/posting.py):

- R7.1 an e-Boekhouden mutation: the reversal is the same mutation with its amounts negated;
- R7.2 an invoice of e-Boekhouden's invoicing module: the reversal is a credit invoice (the
  same items with negative quantities); when the ledger numbers invoices, both parts are
  found again by their ``reference``;
- R7.3 a Billit order: the reversal is a ``CreditNote`` naming the posted invoice
  (``AboutInvoiceNumber``, the number Billit gave it), with its own ``ExternalProviderID``.

The new booking is the posting's own request for the booking the new settings make, under
the correction's number (``domain.correction.correction_number``). Both parts are built from
what was actually posted (the request of the attempt that posted it) when the correction is
asked for, and fixed in ``Correction.Requested``: every attempt sends exactly the same.

Each part is sent through ``application.send_once``, the piece every sale uses: the claim
(``Started``) is saved before the ledger is called; an attempt after the first looks the part
up and records it as posted when it is there; an unknown outcome (a timeout, a 5xx after the
ledger committed) gives the claim back with a settle window, and no attempt starts before it
ends; the ledger's own guard (e-Boekhouden's unique invoice number, Billit's Idempotency-Key)
comes on top: a "duplicate" means "look it up".

A draft that books another ledger system, or another kind of document, than the posted one
is not a correction but a switch: such a document stays on the correction list for the
accountant (``CannotCorrect`` says why), as does one koppel cannot reverse (its original no
longer in Billit, say).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Callable
from uuid import UUID

from eventsourcing.persistence import RecordConflictError

from application.app import Koppel
from application.connections import ConnectionDirectory
from application.errors import KoppelError, TransientError
from application.posting import SalePosting, kind_of, sale_posting
from application.processing import ClaimHeld, worker_name
from application.send_once import reference, send_once
from domain.booking import Booking
from domain.correction import (PARTS, REBOOKING, REVERSAL, Correction, correction_id,
                               correction_number, part_external_id)
from domain.document import Document, Status
from domain.settings import Settings

# e-Boekhouden's longest invoice number and reference (FACT_007, MUT_018, ``reference`` 50).
LONGEST_NUMBER = 50

# What each kind is called in the reasons a document is not corrected (NL, EN).
_KINDS = {"R7.1": ("een boeking (mutatie) in e-Boekhouden", "an e-Boekhouden mutation"),
          "R7.2": ("een factuur in e-Boekhouden", "an e-Boekhouden invoice"),
          "R7.3": ("een order in Billit", "a Billit order")}


class CannotCorrect(ValueError):
    """This document cannot get correction bookings from koppel (the list still has it);
    ``message_nl`` and ``message`` (English) say why."""

    def __init__(self, message_nl: str, message: str) -> None:
        super().__init__(message)
        self.message_nl, self.message = message_nl, message


def posted_request(app: Koppel, doc_id: UUID) -> dict | None:
    """The request of the attempt that posted the document (its last claim)."""
    request = None
    for event in app.history(doc_id):
        if isinstance(event, Document.PostingStarted):
            request = event.request
    return request


def corrects_itself(draft: Settings, posted: dict | None) -> bool:
    """Does the draft book into the same ledger system and the same kind of document as the
    posted original? Only then are a reversal and a new booking a correction; otherwise it is
    a switch (a replay into the new ledger), not a correction."""
    return posted is not None and sale_posting(draft, None).path == posted.get("path")


def _refuse_other_kind(draft: Settings, posted: dict | None, number: str) -> None:
    if posted is None:
        raise CannotCorrect(f"Van {number} is geen geboekte aanvraag bewaard.",
                            f"No posted request of {number} is kept.")
    if corrects_itself(draft, posted):
        return
    booked, drafted = kind_of(posted), sale_posting(draft, None)
    booked_nl, booked_en = _KINDS.get(booked.rule if booked else "", ("iets anders",
                                                                     "something else"))
    drafted_nl, drafted_en = _KINDS[drafted.rule]
    if (booked is not None and booked.rule == "R7.3") != (drafted.rule == "R7.3"):
        raise CannotCorrect(
            f"{number} staat als {booked_nl} geboekt; de nieuwe instellingen boeken in een "
            f"ander boekhoudpakket ({drafted_nl}). Dat is een overstap, geen correctie: "
            f"corrigeer {number} met de hand of boek de periode opnieuw in het nieuwe pakket.",
            f"{number} is booked as {booked_en}; the new settings book into another ledger "
            f"({drafted_en}). That is a switch, not a correction: correct {number} by hand or "
            f"replay the period into the new ledger.")
    raise CannotCorrect(
        f"{number} staat als {booked_nl} geboekt; de nieuwe instellingen boeken {drafted_nl}. "
        f"koppel corrigeert alleen in dezelfde soort document: corrigeer {number} met de hand.",
        f"{number} is booked as {booked_en}; the new settings book {drafted_en}. koppel "
        f"corrects only within the same kind of document: correct {number} by hand.")


class Corrections:
    def __init__(self, app: Koppel, connections: ConnectionDirectory, *, lease: float,
                 settle_window: float,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.app, self.connections = app, connections
        self.lease, self.settle_window, self.clock = lease, settle_window, clock

    # -- asking ----------------------------------------------------------------------------

    def request(self, doc_id: UUID, proposed: Booking, draft: Settings, settings_version: int,
                by: str, reason: str) -> UUID:
        """Record the correction of one posted document (once: asking again for the same
        settings version returns the one recorded)."""
        wanted = correction_id(doc_id, settings_version)
        if wanted in self.app.repository:
            return wanted
        document = self.app.document(doc_id)
        if document.status != Status.POSTED:
            raise CannotCorrect(f"{document.number} is {document.status}, niet geboekt.",
                                f"{document.number} is {document.status}, not posted.")
        original = posted_request(self.app, doc_id)
        _refuse_other_kind(draft, original, document.number)
        connection = self.connections.get(document.connection_id)
        if (document.settings_version or 0) < connection.ledger_since:
            raise CannotCorrect(
                f"{document.number} staat in de boekhouding waar de koppeling van is "
                f"overgestapt; koppel boekt daar niets meer in.",
                f"{document.number} is in the ledger the connection switched away from; "
                f"koppel books nothing there any more.")
        posting = sale_posting(draft, None)  # builds requests; the ledger is asked below
        numbers = {part: correction_number(posting.number(original), part, settings_version)
                   for part in PARTS}
        if any(len(number) > LONGEST_NUMBER for number in numbers.values()):
            raise CannotCorrect(
                f"Het correctienummer {numbers[REBOOKING]} is langer dan de boekhouding "
                f"toestaat ({LONGEST_NUMBER} tekens): corrigeer {document.number} met de hand.",
                f"The correction number {numbers[REBOOKING]} is longer than the ledger allows "
                f"({LONGEST_NUMBER} characters): correct {document.number} by hand.")
        credited = self._ledger_number(connection, draft, document) \
            if posting.names_credited_invoice else None
        external = {part: part_external_id(wanted, part) for part in PARTS}
        rebooked = replace(proposed, number=numbers[REBOOKING], sales_number=numbers[REBOOKING])
        requests = {
            REVERSAL: posting.reversal(original, numbers[REVERSAL], external[REVERSAL],
                                       credited),
            REBOOKING: posting.rebooking(rebooked, document.relation, external[REBOOKING],
                                         original),
        }
        correction = Correction.request(doc_id, document.connection_id, document.number,
                                        settings_version, by, reason, _jsonable(requests))
        try:
            self.app.save(correction)
        except RecordConflictError:
            pass  # asked at the same moment elsewhere: the same id, the same correction
        return wanted

    def _ledger_number(self, connection, draft: Settings, document: Document) -> str:
        """R7.3: the number Billit gave the posted order, which its credit note names. Asked
        once, when the correction is asked for; without it there is no correction (a
        transient failure too: applying a draft does not wait for Billit)."""
        posting = sale_posting(draft, self.connections.ledger(connection))
        try:
            number = posting.ledger_number(document.ledger_reference or {})
        except KoppelError as error:
            raise CannotCorrect(
                f"Billit gaf het nummer van {document.number} niet ({error.message_nl}); "
                f"vraag de correctie later opnieuw aan of corrigeer met de hand.",
                f"Billit did not give the number of {document.number} ({error.message}); ask "
                f"for the correction again later or correct it by hand.") from error
        if not number:
            raise CannotCorrect(
                f"{document.number} staat niet (meer) in Billit: er is niets om te crediteren.",
                f"{document.number} is not (or no longer) in Billit: there is nothing to "
                f"credit.")
        return number

    def get(self, correction: UUID) -> Correction:
        return self.app.repository.get(correction)

    # -- booking ---------------------------------------------------------------------------

    def run(self, correction: UUID) -> Correction:
        """Book what is still to be booked. Raises ``ClaimHeld`` while another attempt may be
        talking to the ledger, and ``TransientError`` after an interrupted attempt (both:
        try again later)."""
        for _ in range(8):
            try:
                return self._advance(correction)
            except RecordConflictError:
                continue  # another runner moved it on: reload and decide again
        raise TransientError("the correction kept changing under this runner; trying again")

    def _advance(self, correction_id_: UUID) -> Correction:
        correction = self.get(correction_id_)
        while (part := correction.next_part) is not None:
            now = self.clock()
            free_at = correction.claim_free_at(part, now)
            if free_at is not None:
                raise ClaimHeld(f"the {part} of {correction.number} may still reach the ledger; "
                                f"koppel tries again after {free_at.isoformat()}",
                                retry_after=(free_at - now).total_seconds())
            connection = self.connections.get(correction.connection_id)
            posting = self.connections.posting(connection)
            correction.start(part, worker_name(), self.lease, now)
            self.app.save(correction)  # the claim: nothing reaches the ledger before it
            try:
                self._send_once(correction, part, posting, connection.ledger_since)
            except TransientError as error:
                correction.interrupt(part, error.message, error.outcome_unknown,
                                     self.clock() + timedelta(seconds=self.settle_window))
                self.app.save(correction)
                raise
            self.app.save(correction)
        return correction

    def _send_once(self, correction: Correction, part: str, posting: SalePosting,
                   ledger_since: int = 0) -> None:
        """The ledger call of one claimed attempt at a part; records Posted or Failed."""
        request = _numbers(correction.requests[part])
        if posting.path != request["path"] or ledger_since > correction.settings_version:
            # The connection books another kind of document, or into another ledger, since
            # the correction was asked for (a switch): this part is not for that ledger.
            correction.fail(part, "LEDGER_CHANGED",
                            "De koppeling boekt sinds de aanvraag in een ander soort document "
                            "of pakket; koppel heeft niets verstuurd. Corrigeer met de hand.",
                            "The connection books another kind of document or ledger since "
                            "the correction was asked for; koppel sent nothing. Correct it by "
                            "hand.")
            return
        sent = send_once(posting, request,
                         may_have_reached=correction.may_have_reached_ledger(part),
                         looked_up=lambda found: correction.record_lookup(part, found))
        if sent.refused is not None:
            error = sent.refused
            correction.fail(part, error.code or "LEDGER_REJECTED", error.message_nl,
                            error.message, detail=error.detail)
        elif sent.taken is not None:
            number = posting.number(request)
            correction.fail(part, "NUMBER_TAKEN",
                            f"De boekhouding heeft al een andere boeking met nummer {number}; "
                            f"koppel heeft er niets aan veranderd.",
                            f"The ledger already holds another booking numbered {number}; "
                            f"koppel changed nothing.", detail=sent.taken)
        else:
            correction.record_posted(part, reference(sent.record), sent.record,
                                     found_by_lookup=sent.found_by_lookup)


def _jsonable(value):
    """Events keep amounts as strings (like ``Checked``'s booking); ``_numbers`` reverses."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: _jsonable(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_jsonable(inner) for inner in value]
    return value


# The numbers of a ledger request (R7.1 rows, R7.2 items, R7.3 order lines), sent as JSON
# numbers: Billit refuses an amount in a string.
NUMBER_KEYS = frozenset({"amount", "quantity", "pricePerUnit", "Quantity", "UnitPriceIncl",
                         "VATPercentage"})


def _numbers(value):
    """The amounts of a stored request as ``Decimal`` again (R0.1: never float)."""
    if isinstance(value, dict):
        return {key: (Decimal(str(inner)) if key in NUMBER_KEYS and inner is not None
                      and not isinstance(inner, bool) else _numbers(inner))
                for key, inner in value.items()}
    if isinstance(value, list):
        return [_numbers(inner) for inner in value]
    return value


__all__ = ["CannotCorrect", "Corrections", "PARTS", "corrects_itself", "posted_request"]
