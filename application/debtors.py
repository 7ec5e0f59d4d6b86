"""R6: the relation a sale is booked on, found or created once per customer per connection.

The ledger is the authority (R6.2: a relation with the customer's e-mail is used as it is). A
relation is only created under a claim on the customer's ``Relation`` aggregate (see
domain/relation.py), so two workers never both create one: the loser of the claim waits for
the winner's relation. A claim taken over from a worker that is gone asks the ledger first.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Callable
from uuid import UUID

from eventsourcing.persistence import RecordConflictError

from application.errors import DuplicateError, RejectedError, TransientError
from domain import debtor as debtor_rules
from domain.booking import Booking
from domain.relation import Relation

log = logging.getLogger(__name__)

# A claim's holder needs two ledger calls; a waiter looks this long before it gives its worker
# back (the message is retried when the holder's lease has run out).
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.1
CODE_ATTEMPTS = 5


class RelationBeingCreated(TransientError):
    """Another worker is creating this customer's relation: use theirs when it is there."""


class Debtors:
    def __init__(self, app, *, lease: float, clock: Callable[[], datetime],
                 worker: Callable[[], str], wait: float = WAIT_SECONDS,
                 poll: float = POLL_SECONDS) -> None:
        self.app = app
        self.lease = lease
        self.clock = clock
        self.worker = worker
        self.wait = wait
        self.poll = poll

    def resolve(self, ledger, booking: Booking, connection, document_id: UUID) -> dict:
        """R6.1 a fixed debtor, else R6.2 the customer's relation, else R6.3/R6.4 a new one.
        Existing relations are never modified."""
        settings = connection.settings
        fixed = debtor_rules.fixed_debtor_code(booking, settings, settings.shop.process)
        if fixed:
            relation = ledger.find_relation_by_code(fixed)
            if relation is None:
                raise RejectedError(
                    f"The fixed debtor {fixed} of payment method {booking.payment_method} "
                    f"does not exist in the ledger (R6.1)", code="FIXED_DEBTOR_MISSING",
                    message_nl=f"De vaste debiteur {fixed} van betaalmethode "
                               f"{booking.payment_method} bestaat niet in de boekhouding (R6.1)")
            return _ref(relation, "fixed")
        key = debtor_rules.relation_key(booking.customer.email, document_id)
        deadline = time.monotonic() + self.wait
        while True:
            found = self._once(ledger, booking, connection.id, key)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                who = booking.customer.email or booking.customer.name
                raise RelationBeingCreated(
                    f"the relation of {who} is being created by another worker",
                    message_nl=f"de relatie van {who} wordt door een andere worker aangemaakt",
                    retry_after=self._lease_left(connection.id, key))
            time.sleep(self.poll)

    # -- one look ---------------------------------------------------------------------

    def _once(self, ledger, booking: Booking, conn_id: UUID, key: str) -> dict | None:
        """The relation, or None while another worker holds the claim to create it."""
        email = booking.customer.email.strip()
        if email:
            found = ledger.find_relation_by_email(email)
            if found is not None:
                return _ref(found, "matched")
        claim = self.app.find_relation(Relation.create_id(conn_id, key))
        now = self.clock()
        if claim is not None and claim.busy_until(now):
            return None
        if claim is not None and claim.relation is not None and not email:
            # This document's own relation (a customer without e-mail), made before: kept
            # when the ledger still has it under its code.
            kept = ledger.find_relation_by_code(claim.relation["code"])
            if kept is not None and kept["id"] == claim.relation["id"]:
                return _ref(kept, "created")
        earlier_code = claim.code if claim is not None else None
        base = debtor_rules.base_code(booking.customer)
        code = debtor_rules.relation_code(base, ledger.relation_codes(base))
        if claim is None:
            claim = Relation.open(conn_id, key)
        claim.take(self.worker(), self.lease, now, code)
        try:
            self.app.save(claim)
        except RecordConflictError:
            return None  # another worker's claim was saved first: wait for its relation
        return self._create_holding(ledger, booking, claim, earlier_code)

    def _create_holding(self, ledger, booking: Booking, claim: Relation,
                        earlier_code: str | None) -> dict:
        if claim.may_exist_unrecorded:
            found = self._made_earlier(ledger, booking, earlier_code)
            if found is not None:
                self._record(claim, booking, found, "found")
                return _ref(found, "matched" if booking.customer.email.strip() else "created")
        fields = debtor_rules.relation_fields(booking.customer)
        base = debtor_rules.base_code(booking.customer)
        for attempt in range(CODE_ATTEMPTS):
            if attempt:
                # The code was taken a moment ago (by a customer of another e-mail): the
                # next free one, recorded before it is sent.
                claim.choose_code(debtor_rules.relation_code(base, ledger.relation_codes(base)))
                self.app.save(claim)
            try:
                created = ledger.create_relation({**fields, "code": claim.code})
            except DuplicateError:
                continue
            except RejectedError as error:
                if error.code == "REL_049":
                    continue
                claim.release(f"rejected: {error.code or error.message}")
                self._save_end(claim)
                raise
            except TransientError as error:
                if not error.outcome_unknown:
                    claim.release(f"not sent: {error.message}")
                    self._save_end(claim)
                # else the create may still land: the claim stays until its lease ends, and
                # whoever takes it then looks in the ledger first.
                raise
            except Exception:
                claim.release("credentials refused or an unexpected error")
                self._save_end(claim)
                raise
            created = {"id": created["id"], "code": created.get("code") or claim.code}
            self._record(claim, booking, created, "created")
            return _ref(created, "created")
        claim.release("no free relation code")
        self._save_end(claim)
        raise TransientError(f"could not find a free relation code for {base}",
                             message_nl=f"geen vrije relatiecode gevonden voor {base}")

    def _made_earlier(self, ledger, booking: Booking, earlier_code: str | None) -> dict | None:
        """I1 for relations: what an earlier holder may have created before it died."""
        email = booking.customer.email.strip()
        if email:
            return ledger.find_relation_by_email(email)
        if not earlier_code:
            return None
        candidate = ledger.find_relation_by_code(earlier_code)
        if candidate is None:
            return None
        full = ledger.get_relation(candidate["id"]) or {}
        ours = debtor_rules.relation_fields(booking.customer)
        same = all(str(full.get(k) or "") == str(ours.get(k) or "")
                   for k in ("name", "emailAddress", "postalCode"))
        return candidate if same else None

    def _record(self, claim: Relation, booking: Booking, relation: dict, how: str) -> None:
        """A customer with an e-mail needs no record: the ledger is the record (R6.2), and
        the claim just runs out. That saves a write per new customer, and keeps everyone
        else looking in the ledger until the lease ends, however slowly its search shows a
        new relation. Without an e-mail the record is how the document finds its own."""
        if booking.customer.email.strip():
            return
        claim.record(relation, how)
        self._save_end(claim)

    def _save_end(self, claim: Relation) -> None:
        try:
            self.app.save(claim)
        except RecordConflictError:
            # Our lease ran out and another worker took the claim over; it looks in the
            # ledger before it creates anything, so it finds what we made.
            log.warning("the claim on relation %s was taken over before it was recorded",
                        claim.key)

    def _lease_left(self, conn_id: UUID, key: str) -> float:
        claim = self.app.find_relation(Relation.create_id(conn_id, key))
        now = self.clock()
        end = claim.busy_until(now) if claim is not None else None
        return max(1.0, (end - now).total_seconds()) if end else 1.0


def _ref(relation: dict, action: str) -> dict:
    return {"id": relation["id"], "code": relation.get("code"), "action": action}
