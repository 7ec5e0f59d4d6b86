"""Moving a document from the shop into the ledger: intake, check, debtor, claim, post.

Every step records its events on the document, and they are saved at the latest before the
ledger is written to: the check and the debtor go into the store together with the claim
(``PostingStarted``), the sale's ``Posted`` together with the payment's claim. A worker may die
anywhere: what was not saved is worked out again (the check is pure, the debtor is found by
e-mail), what was saved is carried on from (I2). Transient errors propagate to the caller (the
worker retries with backoff); business errors end the document in Errors with a code, a rule
and a message.

The claim protocol (I1), for the sale and for its payment alike:

1. ``PostingStarted`` (``PaymentStarted``) is saved before the ledger is called; a conflicting
   claim loses, and a live claim keeps every other worker out for its lease.
2. An attempt that ends without an answer we can trust is recorded as interrupted. When its
   write may have been committed (``outcome_unknown``: a timeout, a 5xx on a POST) the ledger
   may also still be *working* on it: a slow ledger commits after koppel gave up. So the
   interruption records ``settle_until``, the end of the settle window, and no new attempt
   starts before it (a retry inside it waits for the rest, see ``ClaimHeld``). A claim's lease
   is never shorter than the settle window, for the same reason when a worker dies mid-call.
3. Every attempt after the first looks the document up in the ledger (``LookedUp``) before
   sending anything; found, it is recorded as posted by that lookup.
4. The ledger's own duplicate guards come on top: Billit's ``Idempotency-Key`` (the document's
   id, the same on every attempt), e-Boekhouden's unique sales number and payment reference
   (``checkPaymentReference``). A "duplicate" answer means "already there: look it up".
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable
from uuid import UUID

from eventsourcing.persistence import RecordConflictError
from structlog.contextvars import bind_contextvars

from application.app import Koppel
from application.connections import ConnectionContext, ConnectionDirectory
from application.debtors import Debtors
from application.errors import (
    CredentialsError, NotFoundError, RejectedError, SignatureError,
    Throttled, TransientError,
)
from application.credited import credited_invoice
from application.pay_once import pay_once
from application.send_once import number_taken, reference, send_once
from domain import payments as payment_rules
from domain import shop_answers
from domain import start_date
from domain.modes import waits_for_payment
from domain.booking import Booking, build_booking
from domain.document import Document, DocumentError, Status
from domain.source import DocumentError as UnreadableSource

log = logging.getLogger(__name__)

# How long a claim keeps other workers away. It must outlast one ledger call (HTTP timeout)
# and the worker's time limit, so a claim is only taken over from a worker that is gone.
DEFAULT_CLAIM_LEASE = 120.0
# How long after an unknown outcome a write may still land in the ledger: longer than any
# request can live there. koppel gives up on a call after its HTTP timeout (15 s by default),
# but the ledger's server goes on working: the front ends of hosted APIs cut a request off
# after 230 s (Azure App Service) or 110-120 s (IIS/ASP.NET's execution timeout), and the
# code behind them may finish even later than its front end answered. 300 s covers the
# longest of those plus koppel's own timeout with room for clocks that differ between
# workers; waiting that long before a retry costs a bookkeeper nothing.
DEFAULT_SETTLE_WINDOW = 300.0
CONFLICT_RETRIES = 8

# Entered around one document's work with its connection's ledger (see ``Processing.process``).
Turn = Callable[[UUID], AbstractContextManager]


class ClaimHeld(TransientError):
    """Another attempt may be talking to the ledger (a worker holds the claim, or an earlier
    write may still land): try again after ``retry_after`` seconds."""


class WaitingForReconnect(TransientError):
    """The connection's credentials were refused: the document waits, it does not fail."""


class ConnectionPaused(WaitingForReconnect):
    """The connection is paused (or its app uninstalled): the document waits until it is
    resumed, however long that takes."""


@dataclass(frozen=True)
class Outcome:
    status: str
    number: str
    connection_id: UUID | None = None


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


class Processing:
    def __init__(self, app: Koppel, connections: ConnectionDirectory, *,
                 claim_lease: float = DEFAULT_CLAIM_LEASE,
                 settle_window: float = DEFAULT_SETTLE_WINDOW,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 claim_taken_over: Callable[[str], None] = lambda subject: None) -> None:
        """``claim_taken_over(subject)``: told when a claim ("sale", "payment") is taken
        from a worker whose lease ran out (the operator's metrics count them)."""
        self.app = app
        self.claim_taken_over = claim_taken_over
        self.connections = connections
        self.claim_lease = claim_lease
        self.settle_window = settle_window
        self.clock = clock
        self.debtors = Debtors(app, lease=self.lease, clock=clock, worker=worker_name)

    @property
    def lease(self) -> float:
        """A claim's lease: a worker that dies mid-call leaves its write as uncertain as a
        timeout does, so the claim outlives the settle window too."""
        return max(self.claim_lease, self.settle_window)

    def _settle_until(self) -> datetime:
        return self.clock() + timedelta(seconds=self.settle_window)

    # -- intake ------------------------------------------------------------------------------

    def intake(self, conn_id: UUID, kind: str, shop_id: int, via: str) -> UUID | None:
        """Fetch the source over the signed shop API (a webhook body is only a hint) and
        record it. Returns the document id, or None when the shop has no such document or
        did not give it."""
        connection = self.connections.get(conn_id)
        try:
            bundle = self._fetch_source(connection, kind, shop_id)
        except (WaitingForReconnect, Throttled):
            raise  # the connection shows the first; the second is koppel's own pacing
        except (TransientError, RejectedError, SignatureError) as error:
            self._not_given(conn_id, kind, shop_id, via, error)
            return None
        if bundle is None:
            log.warning("shop has no %s %s (connection %s): nothing recorded", kind, shop_id,
                        connection.name)
            return None
        number = _shop_number(kind, bundle)
        for _ in range(CONFLICT_RETRIES):
            document = self.app.document_of(conn_id, kind, shop_id)
            if document is None:
                document = Document.receive(conn_id, kind, shop_id, number, bundle, via)
            elif not document.refresh(number, bundle, via):
                return document.id
            try:
                self.app.save(document)
                return document.id
            except RecordConflictError:
                continue  # a parallel intake of the same document won: look again
        raise TransientError(f"{kind} {number} is being changed by others; trying again")

    def _not_given(self, conn_id: UUID, kind: str, shop_id: int, via: str,
                   error: Exception) -> None:
        """The shop answered, but not with the document: record why on a document that has
        no source yet, so it is seen in Open or Errors (I2); then retry when that may help."""
        said = _shop_said(error)
        if isinstance(error, RejectedError):
            problem = shop_answers.refused(kind, shop_id, error.code, said)
        elif isinstance(error, SignatureError):
            problem = shop_answers.untrusted(kind, shop_id)
        else:
            problem = shop_answers.unavailable(kind, shop_id, error.code or "-", said)
        record = dict(via=via, code=problem.code, message_nl=problem.message_nl,
                      message_en=problem.message_en, retrying=problem.retrying,
                      detail=getattr(error, "detail", None))
        for _ in range(CONFLICT_RETRIES):
            document = self.app.document_of(conn_id, kind, shop_id)
            if document is None:
                document = Document.intake_failed(conn_id, kind, shop_id, **record)
            elif document.source is not None or not document.fetch_failed(**record):
                break  # a document with a source is visible already; or nothing new
            try:
                self.app.save(document)
                break
            except RecordConflictError:
                continue
        log.warning("the shop did not give %s %s: %s", kind, shop_id, problem.message_en)
        if isinstance(error, TransientError):
            raise error
        if problem.retrying:
            raise TransientError(problem.message_en, code=problem.code) from error

    def _fetch_source(self, connection: ConnectionContext, kind: str,
                      shop_id: int) -> dict | None:
        shop = self.connections.shop(connection)
        try:
            with self._credentials_guard(connection, "shop"):
                return (shop.fetch_order(shop_id) if kind == "order"
                        else shop.fetch_invoice(shop_id))
        except NotFoundError:
            return None

    # -- a person asks -----------------------------------------------------------------------

    def request_reprocess(self, doc_id: UUID, by: str, reason: str) -> Document:
        """A person asks to run a document in Errors or Open again (the CLI now, the
        dashboard's Process button later): recorded with who and why, and the source is
        fetched from the shop first, because what the error message asked them to fix (a VAT
        number, say) is fixed in the shop (``Refreshed`` when it changed). The caller runs
        the document (``process``) or sends it to the workers. Raises ``DocumentError`` for
        a posted document (R5.7) and ``NotFoundError`` when the shop no longer has it."""
        document = self.app.document(doc_id)
        document.request_reprocess(by=by, reason=reason)  # a posted one stops here
        connection = self.connections.get(document.connection_id)
        bundle = self._fetch_source(connection, document.kind, document.shop_id)
        if bundle is None:
            raise NotFoundError(
                f"The shop no longer has {document.kind} {document.number}; nothing was "
                f"changed or run.", code="404")
        for _ in range(CONFLICT_RETRIES):
            document.refresh(_shop_number(document.kind, bundle), bundle, "reprocess")
            try:
                self.app.save(document)
                return document
            except RecordConflictError:  # a worker moved it meanwhile: ask again on the news
                document = self.app.document(doc_id)
                document.request_reprocess(by=by, reason=reason)
        raise TransientError(f"{document.number} is being changed by others; trying again")

    # -- processing ------------------------------------------------------------------------

    def process(self, doc_id: UUID, *, recheck_payment: bool = False,
                turn: Turn = nullcontext) -> Outcome:
        """Take the document as far as it can go now. ``recheck_payment``: the scheduled
        payment check also tries payments that failed for want of an open item (R8.3).
        ``turn(connection_id)`` is entered around the work with the connection's ledger: a
        worker's share of its threads for one connection (``workers/fairness.py``). It may
        refuse by raising; nothing of the document has changed then."""
        for _ in range(CONFLICT_RETRIES):
            try:
                return self._advance(doc_id, recheck_payment, turn)
            except RecordConflictError:
                continue  # another worker advanced the document: reload and re-decide
        raise TransientError("the document kept changing under this worker; trying again")

    def _advance(self, doc_id: UUID, recheck_payment: bool, turn: Turn) -> Outcome:
        document = self.app.document(doc_id)
        if document.next_step == "fetch":
            self.intake(document.connection_id, document.kind, document.shop_id, "reprocess")
            document = self.app.document(doc_id)
            if document.next_step == "fetch":  # the shop no longer has it
                return Outcome(document.status, document.number, document.connection_id)
        connection = self.connections.get(document.connection_id)
        # Every line logged from here on (the connectors' too) says which document it is about.
        bind_contextvars(connection=connection.name, document=document.number,
                         document_id=str(doc_id))
        if connection.paused is not None:
            raise ConnectionPaused(f"{connection.name} is paused ({connection.paused}); "
                                   f"{document.number} waits")
        with turn(connection.id):
            try:
                while (step := document.next_step) is not None:
                    if step == "check":
                        if not self._booked_by_connection(document, connection):
                            break
                        self._check(document, connection)
                    elif step == "debtor":
                        self._resolve_debtor(document, connection)
                    else:
                        self._post(document, connection)
                if self._payment_due(document, connection, recheck_payment):
                    self._pay(document, connection)
            except TransientError:
                self._keep_what_is_known(document)
                raise
            if document.pending_events:
                self.app.save(document)
        return Outcome(document.status, document.number, document.connection_id)

    def _keep_what_is_known(self, document: Document) -> None:
        """A document that must wait (a ledger outage, refused credentials) keeps its check,
        so Open shows what it waits with."""
        if not document.pending_events:
            return
        try:
            self.app.save(document)
        except RecordConflictError:
            pass  # another worker got further; the retry reloads

    @staticmethod
    def _booked_by_connection(document: Document, connection: ConnectionContext) -> bool:
        """A document the shop created before the connection's start date, and in no
        imported period, is set aside (recorded, shown, not booked)."""
        created = start_date.created_at(document.source)
        if connection.span.books(created):
            return True
        if document.status != Status.BEFORE_START:
            document.set_aside(created, connection.span.start_date)
        return False

    def _check(self, document: Document, connection: ConnectionContext) -> None:
        try:
            booking = build_booking(document.source, connection.settings)
        except UnreadableSource as error:
            # The shop sent something the rules cannot read (a field missing, a price that
            # is no number): no booking can be made, and retrying will not change that.
            document.record_check({"error": str(error)}, connection.version, ok=False)
            document.fail("check", "SOURCE_UNREADABLE", "R1",
                          f"Het document uit de winkel is niet te lezen: {error}",
                          f"The shop's document cannot be read: {error}")
            return
        waiting_for = None
        if booking.ok and waits_for_payment(document.kind, booking, connection.settings):
            waiting_for = "payment"
        document.record_check(booking.to_dict(), connection.version, booking.ok, waiting_for)
        if not booking.ok:
            first = booking.failed_checks[0]
            document.fail("check", first.code, first.rule, first.message_nl, first.message_en,
                          detail=[c.code for c in booking.failed_checks])

    def _resolve_debtor(self, document: Document, connection: ConnectionContext) -> None:
        booking = Booking.from_dict(document.booking)
        if not self.connections.posting(connection).needs_debtor:
            document.resolve_debtor({"action": "in_document", "name": booking.customer.name})
            return
        ledger = self.connections.ledger(connection)
        try:
            with self._credentials_guard(connection, "ledger"):
                relation = self.debtors.resolve(ledger, booking, connection, document.id)
        except RejectedError as error:
            document.fail("debtor", error.code or "DEBTOR_REJECTED", "R6", error.message_nl,
                          error.message, detail=error.detail)
        else:
            document.resolve_debtor(relation)

    def _post(self, document: Document, connection: ConnectionContext) -> None:
        now = self.clock()
        _wait_for_claim(document.claim_free_at(now), now, document.number)
        booking = Booking.from_dict(document.booking)
        posting = self.connections.posting(connection)
        credited = self._credited_invoice(document, connection, posting, booking)
        request = posting.request(booking, document.relation, str(document.id), credited)
        taken_over = document.status == Status.POSTING  # a claim whose lease ran out
        document.start_posting(worker_name(), request, self.lease, now)
        # The claim, with the check and debtor before it: a conflict means another worker has
        # moved the document on. Nothing reaches the ledger before this is stored.
        self.app.save(document)
        if taken_over:
            self.claim_taken_over("sale")

        try:
            with self._credentials_guard(connection, "ledger"):
                self._send_once(document, posting, booking, request)
        except TransientError as error:
            # The claim is given back (the caller saves it); after an unknown outcome the next
            # attempt waits out the settle window, then looks the document up first.
            document.interrupt_posting(error.message, error.outcome_unknown,
                                       self._settle_until())
            raise
        # Posted (or Failed) is saved by the caller, with the payment's claim when one is due.

    def _credited_invoice(self, document: Document, connection: ConnectionContext, posting,
                          booking: Booking) -> str | None:
        """R7.3 (application/credited.py): in the connection's own ledger the credited
        invoice is known by the reference its ``Posted`` recorded."""
        def ledger_number(reference: dict) -> str | None:
            with self._credentials_guard(connection, "ledger"):
                return posting.ledger_number(reference)

        return credited_invoice(self.app, document, posting, booking,
                                shop_invoices=self.shop_invoices(connection),
                                booked=lambda original: original.ledger_reference,
                                ledger_number=ledger_number)

    def shop_invoices(self, connection: ConnectionContext) -> Callable[[str], list[dict]]:
        """The shop's invoices of an order (R7.3), asked with the connection's credentials:
        refused, the connection turns red and the document waits."""
        def invoices(order_number: str) -> list[dict]:
            with self._credentials_guard(connection, "shop"):
                return self.connections.shop(connection).invoices_of_order(order_number)
        return invoices

    def _send_once(self, document: Document, posting, booking: Booking, request: dict) -> None:
        """The ledger call of one claimed attempt; records Posted or Failed on the document."""
        sent = send_once(posting, request,
                         may_have_reached=document.may_have_reached_ledger,
                         looked_up=lambda found: document.record_lookup("sale", found))
        if sent.refused is not None:
            self._fail_rejected(document, sent.refused, posting.rule)
        elif sent.taken is not None:
            document.fail("ledger", "NUMBER_TAKEN", "R2.1", *number_taken(booking.sales_number),
                          detail=sent.taken)
        else:
            document.record_posted(reference(sent.record), sent.record,
                                   found_by_lookup=sent.found_by_lookup)

    # -- the payment (R8) ---------------------------------------------------------------

    def _payment_due(self, document: Document, connection: ConnectionContext,
                     recheck: bool) -> bool:
        if document.status != Status.POSTED or document.booking is None:
            return False
        retryable = {None, "interrupted", "posting"} | ({"failed"} if recheck else set())
        if document.payment_status not in retryable:
            return False
        if (document.settings_version or 0) < connection.ledger_since:
            return False  # its sale is in the ledger the connection switched away from
        booking = Booking.from_dict(document.booking)
        return payment_rules.payment_due(document.kind, booking, connection.settings)

    def _pay(self, document: Document, connection: ConnectionContext) -> None:
        now = self.clock()
        _wait_for_claim(document.payment_claim_free_at(now), now,
                        f"the payment of {document.number}")
        booking = Booking.from_dict(document.booking)
        request = payment_rules.payment_request(document.kind, booking, connection.settings,
                                                document.relation["id"])
        taken_over = document.payment_status == "posting"
        document.start_payment(worker_name(), request, self.lease, now)
        self.app.save(document)  # the payment's claim, with the sale's Posted before it
        if taken_over:
            self.claim_taken_over("payment")

        ledger = self.connections.ledger(connection)
        try:
            with self._credentials_guard(connection, "ledger"):
                self._pay_once(document, ledger, booking, request, connection)
        except TransientError as error:
            # As for the sale: given back, and after an unknown outcome the settle window.
            document.interrupt_payment(error.message, error.outcome_unknown,
                                       self._settle_until())
            raise

    @staticmethod
    def _pay_once(document: Document, ledger, booking: Booking, request: dict,
                  connection: ConnectionContext) -> None:
        """The ledger calls of one claimed attempt (application/pay_once.py); records the
        payment as posted or failed on the document."""
        paid = pay_once(ledger, booking, request,
                        may_have_reached=document.payment_may_have_reached_ledger,
                        without_open_item=connection.settings.payments.without_open_item,
                        looked_up=lambda found: document.record_lookup("payment", found))
        paid.record_on(document)

    def _fail_rejected(self, document: Document, error: RejectedError, rule: str) -> None:
        document.fail("ledger", error.code or "LEDGER_REJECTED", rule, error.message_nl,
                      error.message, detail=error.detail)

    # -- credentials -------------------------------------------------------------------

    def _credentials_guard(self, connection: ConnectionContext, system: str):
        return _CredentialsGuard(self, connection, system)

    def mark_credentials_refused(self, connection: ConnectionContext, system: str,
                                 message: str, message_nl: str = "") -> None:
        for _ in range(CONFLICT_RETRIES):
            aggregate = self.app.find_connection(connection.id)
            aggregate.refuse_credentials(system, message, message_nl)
            try:
                self.app.save(aggregate)
                return
            except RecordConflictError:
                continue


class _CredentialsGuard:
    """Turns refused credentials into a red connection and a waiting document."""

    def __init__(self, processing: Processing, connection: ConnectionContext, system: str):
        self.processing, self.connection, self.system = processing, connection, system

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if isinstance(exc, CredentialsError):
            self.processing.mark_credentials_refused(self.connection, self.system, exc.message,
                                                     exc.message_nl)
            raise WaitingForReconnect(exc.message) from exc
        if exc is None and self.connection.credentials_problem:
            # The credentials work again (the token's end date moved, say): the connection
            # is no longer red.
            self.processing.connections.reconnected(self.connection.id, by="koppel")
        return False


def _wait_for_claim(free_at: datetime | None, now: datetime, what: str) -> None:
    if free_at is not None:
        raise ClaimHeld(f"{what} may still reach the ledger from an earlier attempt; koppel "
                        f"tries again after {free_at.isoformat(timespec='seconds')}",
                        retry_after=(free_at - now).total_seconds())


def _shop_said(error: Exception) -> str:
    """The shop's own words (CCV's ``developermessage``), else koppel's."""
    detail = getattr(error, "detail", None)
    if isinstance(detail, dict) and detail.get("developermessage"):
        return str(detail["developermessage"])
    return getattr(error, "message", str(error))


def _shop_number(kind: str, bundle: dict) -> str:
    """R2.1: the number the merchant knows the document by."""
    if kind == "order":
        order = bundle["order"]
        return str(order.get("ordernumber_full") or order.get("ordernumber") or order["id"])
    invoice = bundle["invoice"]
    return str(invoice.get("invoicenumber_full") or invoice.get("invoicenumber") or invoice["id"])


__all__ = ["Processing", "Outcome", "ClaimHeld", "WaitingForReconnect", "ConnectionPaused",
           "Status",
           "DocumentError"]
