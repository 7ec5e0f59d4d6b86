"""Correction bookings for posted documents after a settings change: a reversal, then the new
booking, each exactly once (domain/correction.py has the protocol's state).

The protocol is the sale's (application/processing.py): the claim (``Started``) is saved
before the ledger is called; an attempt after the first looks the part's number up and
records it as posted when it is there; an unknown outcome (a timeout, a 5xx after the ledger
committed) gives the claim back with a settle window, and no attempt starts before it ends;
the ledger's own guard (e-Boekhouden's unique invoice number) comes on top: a "duplicate"
means "look it up".

Only e-Boekhouden mutations (R7.1) are corrected by koppel: a reversal there is the same
mutation with its amounts negated. An invoice of the invoicing module (R7.2) or a Billit order
(R7.3) needs a credit invoice of the ledger's own, which koppel does not make yet: those go on
the correction list for the accountant only.
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
from application.errors import DuplicateError, RejectedError, TransientError
from application.posting import EBoekhoudenMutation
from application.processing import ClaimHeld, worker_name
from domain.booking import Booking
from domain.correction import (PARTS, REBOOKING, REVERSAL, Correction, correction_id,
                               correction_number)
from domain.document import Document, Status
from domain.eboekhouden import MUTATION_PATH, sale_request
from domain.settings import Settings


class CannotCorrect(ValueError):
    """This document cannot get correction bookings from koppel (the list still has it)."""


def corrects_itself(settings: Settings) -> bool:
    return not settings.is_billit and settings.ledger.document == "mutation"


def posted_request(app: Koppel, doc_id: UUID) -> dict | None:
    """The request of the attempt that posted the document (its last claim)."""
    request = None
    for event in app.history(doc_id):
        if isinstance(event, Document.PostingStarted):
            request = event.request
    return request


def reversal_request(original: dict, number: str) -> dict:
    """R7.1 negated: the same rows on the same accounts and VAT codes, amounts times -1."""
    body = dict(original["body"])
    body["invoiceNumber"] = number
    body["description"] = f"{number} - correctie"[:50]
    body["rows"] = [{**row, "amount": -Decimal(str(row["amount"]))} for row in body["rows"]]
    return {"method": "POST", "path": MUTATION_PATH, "body": body}


def rebooking_request(proposed: Booking, draft: Settings, relation_id, number: str) -> dict:
    return sale_request(replace(proposed, sales_number=number), draft, relation_id)


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
            raise CannotCorrect(f"{document.number} is {document.status}, not posted")
        if not corrects_itself(draft):
            raise CannotCorrect("koppel corrects e-Boekhouden mutations (R7.1) only")
        original = posted_request(self.app, doc_id)
        if original is None or original.get("path") != MUTATION_PATH:
            raise CannotCorrect(f"{document.number} was not booked as a mutation (R7.1)")
        sales_number = original["body"]["invoiceNumber"]
        requests = {
            REVERSAL: reversal_request(original, correction_number(
                sales_number, REVERSAL, settings_version)),
            REBOOKING: rebooking_request(proposed, draft, document.relation["id"],
                                         correction_number(sales_number, REBOOKING,
                                                           settings_version)),
        }
        correction = Correction.request(doc_id, document.connection_id, document.number,
                                        settings_version, by, reason, _jsonable(requests))
        try:
            self.app.save(correction)
        except RecordConflictError:
            pass  # asked at the same moment elsewhere: the same id, the same correction
        return wanted

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
            ledger = self.connections.ledger(connection)
            correction.start(part, worker_name(), self.lease, now)
            self.app.save(correction)  # the claim: nothing reaches the ledger before it
            try:
                self._send_once(correction, part, ledger, connection.settings)
            except TransientError as error:
                correction.interrupt(part, error.message, error.outcome_unknown,
                                     self.clock() + timedelta(seconds=self.settle_window))
                self.app.save(correction)
                raise
            self.app.save(correction)
        return correction

    def _send_once(self, correction: Correction, part: str, ledger, settings: Settings) -> None:
        request = correction.requests[part]
        number = request["body"]["invoiceNumber"]
        if correction.may_have_reached_ledger(part) and self._found(correction, part, ledger,
                                                                    settings, number, request):
            return
        try:
            response = ledger.create_mutation(_decimals(request["body"]))
        except DuplicateError as error:
            if not self._found(correction, part, ledger, settings, number, request):
                correction.fail(part, error.code or "DUPLICATE", error.message_nl,
                                error.message, detail=error.detail)
        except RejectedError as error:
            correction.fail(part, error.code or "LEDGER_REJECTED", error.message_nl,
                            error.message, detail=error.detail)
        else:
            correction.record_posted(part, {"id": response.get("id")}, response,
                                     found_by_lookup=False)

    def _found(self, correction: Correction, part: str, ledger, settings: Settings,
               number: str, request: dict) -> bool:
        found = ledger.find_mutation(number)
        correction.record_lookup(part, {"id": found.get("id")} if found else None)
        if found is None:
            return False
        if EBoekhoudenMutation(ledger, settings).is_ours(found, _decimals(request)):
            correction.record_posted(part, {"id": found.get("id")}, found, found_by_lookup=True)
        else:
            correction.fail(part, "NUMBER_TAKEN",
                            f"De boekhouding heeft al een andere boeking met nummer {number}; "
                            f"koppel heeft er niets aan veranderd.",
                            f"The ledger already holds another booking numbered {number}; "
                            f"koppel changed nothing.", detail=found)
        return True


def _jsonable(value):
    """Events keep amounts as strings (like ``Checked``'s booking); ``_decimals`` reverses."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: _jsonable(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_jsonable(inner) for inner in value]
    return value


def _decimals(value):
    """The amounts of a stored request as ``Decimal`` again (R0.1: never float)."""
    if isinstance(value, dict):
        return {key: (Decimal(inner) if key == "amount" else _decimals(inner))
                for key, inner in value.items()}
    if isinstance(value, list):
        return [_decimals(inner) for inner in value]
    return value


__all__ = ["CannotCorrect", "Corrections", "PARTS", "corrects_itself"]
