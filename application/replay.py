"""Booking a connection's documents into a further ledger: a copy, or the ledger it moves to.

A target is added with the new ledger's settings and a date. Its replay lists the documents
the connection took in since that date (once, recorded with a position, like the history
import) and books every one the connection's own ledger holds into the target, with the same
rules and the target's settings. From the moment it is added the target also follows: a
document the connection books later goes there too (``follow``, called by the workers after
``Posted``). Each document's posting into a target is its own aggregate (``TargetPosting``),
with the claim protocol of processing.py: the claim is saved before the call, an unknown
outcome waits out the settle window, every later attempt looks the document up first. So a
killed replay, a worker that dies mid-call or a 500 after the ledger committed books nothing
twice, and the old ledger's postings stay untouched in the documents' history. A sale the
target's settings want paid (R8.1) gets its payment there after it, with the payment's own
claim on the posting and the decision processing uses for the connection's own payments
(application/pay_once.py): the target's open items end paid, as the connection's do.

A switch ends with a hand-over (``hand_over``): the connection's own settings become the
target's, documents not yet booked are checked again with them, and the target stops
following what the connection now books there itself.
"""

from __future__ import annotations

import copy
import json
import threading
from concurrent.futures import ThreadPoolExecutor
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import RecordConflictError

from application import settings as settings_file
from application.app import Koppel
from application.connections import ConnectionDirectory, _get_path, _set_path
from application.errors import (CredentialsError, KoppelError, RejectedError,
                                TransientError)
from application.credited import credited_invoice
from application.pay_once import pay_once
from application.posting import sale_posting
from application.processing import (CONFLICT_RETRIES, ClaimHeld, ConnectionPaused, Processing,
                                    _wait_for_claim, worker_name)
from application.send_once import number_taken, reference, send_once
from domain import payments as payment_rules
from domain import start_date
from domain.booking import Booking, build_booking
from domain.document import Document, Status
from domain.ledger_target import (LedgerTarget, PostingState, Purpose, ReplayState,
                                  TargetPosting, target_id, target_posting_id)
from domain.settings import Settings
from domain.source import DocumentError as UnreadableSource
from domain.start_date import moment

RECEIVED = Document.Received.TOPIC
INTAKE_FAILED = Document.IntakeFailed.TOPIC
# Documents replayed between two recorded positions: what a killed replay does again.
CHUNK = 20
# Documents of a chunk sent at once (each with its own claim, as on several workers).
THREADS = 4
# How often the replay itself tries one document again (a 500, the settle window) before it
# stops with the error; the same command (or the next worker slice) goes on from there.
TRIES = 4


class HandOverBlocked(KoppelError):
    """Documents are still on their way into the old ledger: the switch waits for them."""

    def __init__(self, numbers: list[str]) -> None:
        shown = ", ".join(numbers[:10]) + (" ..." if len(numbers) > 10 else "")
        super().__init__(
            f"{len(numbers)} document(s) may still reach the old ledger ({shown}); the switch "
            f"waits until they are booked or failed",
            message_nl=f"{len(numbers)} document(en) kunnen nog in de oude boekhouding "
                       f"aankomen ({shown}); de overstap wacht tot ze geboekt of mislukt zijn",
            code="SWITCH_WAITS")
        self.numbers = numbers


@dataclass(frozen=True)
class TargetContext:
    """What the rules and the debtor step need of a target, as of a connection: the
    relation claims (domain/relation.py) are keyed by ``id``, so per target ledger."""

    id: UUID
    name: str
    connection_id: UUID
    version: int
    settings: Settings


@dataclass(frozen=True)
class Progress:
    name: str
    purpose: str
    state: str
    position: int
    total: int
    from_date: str
    posted: int = 0
    failed: int = 0
    paid: int = 0  # payments booked into the target (R8)
    payments_failed: int = 0
    waiting: int = 0  # postings left part-way (a follow or replay under way, or to be resent)


class LedgerReplays:
    def __init__(self, app: Koppel, connections: ConnectionDirectory, processing: Processing,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 counts: Callable[[UUID], dict[str, int]] | None = None) -> None:
        self.app, self.connections, self.processing = app, connections, processing
        self.clock = clock
        # A target's postings counted by state (the read model, projections/targets.py); None:
        # counted by loading each posting (slow, for a bare application without read model).
        self.counts = counts
        self._lock = threading.Lock()
        self._ports: dict[tuple[UUID, int], object] = {}
        self._parsed: dict[tuple[UUID, int], Settings] = {}
        self._targets: dict[UUID, LedgerTarget] = {}
        self._handing_over: set[UUID] = set()  # connections this process pauses to switch

    # -- adding a target -------------------------------------------------------------------

    def add(self, conn_id: UUID, name: str, settings: Settings, from_date: datetime,
            purpose: str, by: str) -> LedgerTarget:
        """Record the target and its replay's documents; the same name asked again goes on
        where it was (or, finished, lists anew: nothing reaches the target twice)."""
        existing = self.find(target_id(conn_id, name))
        if existing is not None:
            # A process killed between recording the target and the connection's part.
            self.connections.changed(conn_id, lambda c: c.add_ledger_target(
                existing.id, existing.name, existing.purpose, by))
            if existing.state == ReplayState.PAUSED:
                self.resume(existing.id, by)
            elif existing.state == ReplayState.FINISHED:
                listed = self.listing(conn_id, moment(existing.from_date))
                self._record(existing.id, lambda t: t.relist(by, listed))
            return self.get(existing.id)
        stored = self._stored_settings(conn_id, settings)
        from_date = moment(from_date)
        target = LedgerTarget.add(conn_id, name, purpose, stored, from_date.isoformat(), by,
                                  self.listing(conn_id, from_date))
        self.app.save(target)
        # From here the workers send what the connection books to the target too; what was
        # taken in between the listing and now is added to the replay.
        self.connections.changed(conn_id, lambda c: c.add_ledger_target(target.id, name,
                                                                         purpose, by))
        self._record(target.id, lambda t: t.extend(self.listing(conn_id, from_date)))
        return self.get(target.id)

    def _stored_settings(self, conn_id: UUID, settings: Settings) -> dict:
        """The new ledger's settings as stored: secrets sealed, and the connection's own
        name and shop (the target books the same shop's documents)."""
        stored = settings_file.settings_to_dict(settings)
        connection = self.app.find_connection(conn_id)
        stored["name"] = connection.name
        stored["shop"] = connection.settings["shop"]
        for path in settings_file.SECRET_FIELDS:
            if not path.startswith("shop.") and _get_path(stored, path):
                _set_path(stored, path, self.connections.box.seal(_get_path(stored, path)))
        return stored

    def listing(self, conn_id: UUID, since: datetime | None) -> list[UUID]:
        """The connection's documents the shop created from ``since`` on, oldest first, read
        from the event log (what koppel took in, whatever the shop holds now)."""
        found = [(created, doc_id) for doc_id, created in self._documents(conn_id)
                 if since is None or (created is not None and created >= since)]
        return [doc_id for _, doc_id in sorted(found, key=lambda pair: (
            pair[0] or datetime.min.replace(tzinfo=timezone.utc), str(pair[1])))]

    def _documents(self, conn_id: UUID) -> Iterator[tuple[UUID, datetime | None]]:
        """Every document of the connection, with when the shop created it. A document
        whose first intake failed (``IntakeFailed``) has its source from a later event: it
        is read whole (rare)."""
        start = 1
        while True:
            batch = self.app.recorder.select_notifications(start=start, limit=1000,
                                                           topics=[RECEIVED, INTAKE_FAILED])
            if not batch:
                return
            for notification in batch:
                event = self.app.mapper.to_domain_event(notification)
                if event.connection_id != conn_id:
                    continue
                source = getattr(event, "source", None)
                if source is None:
                    source = self.app.document(event.originator_id).source
                yield event.originator_id, start_date.created_at(source) if source else None
            start = batch[-1].id + 1

    # -- the replay ------------------------------------------------------------------------

    def run(self, tid: UUID, on_progress: Callable[[LedgerTarget], None] | None = None,
            post: Callable[[UUID, UUID], object] | None = None,
            keep_going: Callable[[], bool] = lambda: True,
            threads: int = THREADS) -> LedgerTarget:
        """Replay from the recorded position until done, paused, or ``keep_going()`` says
        stop (asked between chunks). The documents of a chunk go out ``threads`` at a time,
        as several workers would send them (each posting is claimed on its own); the
        position moves past a chunk when all of it is done. A document that still fails
        transiently after a few tries stops the run with that error: the same run again goes
        on from that chunk."""
        post = post or self._post_patiently
        with ThreadPoolExecutor(max(1, threads), thread_name_prefix="replay") as pool:
            while True:
                target = self.get(tid)  # a pause may come from another process
                if target.state != ReplayState.RUNNING:
                    return target
                if not target.remaining:
                    extra = self.listing(target.connection_id, moment(target.from_date))
                    if self._record(tid, lambda t: t.extend(extra)).remaining:
                        continue
                    return self._record(tid, lambda t: t.finish())
                if not keep_going():
                    return target
                chunk = target.remaining[:CHUNK]
                for outcome in [pool.submit(post, tid, UUID(doc_id)) for doc_id in chunk]:
                    outcome.result()  # the first error stops the run, after the whole chunk
                target = self._record(tid, lambda t, n=len(chunk): t.advance(t.position + n))
                if on_progress:
                    on_progress(target)

    def _post_patiently(self, tid: UUID, doc_id: UUID) -> str:
        for attempt in range(TRIES):
            try:
                # A replay (asked again) also tries a payment that failed once more: the
                # merchant may have booked the missing open item meanwhile (R8.2).
                return self.post(tid, doc_id, recheck_payment=True)
            except ClaimHeld as held:
                if attempt == TRIES - 1:
                    raise
                time.sleep(max(0.05, held.retry_after or 0.0))
            except TransientError:
                if attempt == TRIES - 1:
                    raise
                time.sleep(0.2 * 2 ** attempt)
        raise AssertionError("unreachable")

    def follow(self, doc_id: UUID, conn_id: UUID | None = None) -> list[tuple[UUID, str]]:
        """The connection booked this document: book it into each of its targets that takes
        it (the workers call this after ``Posted``, naming the connection, so a connection
        without further ledgers costs no reload of the document). Transient errors propagate
        (retry)."""
        if conn_id is not None and not self.connections.get(conn_id).ledger_targets:
            return []
        document = self.app.document(doc_id)
        if document.status != Status.POSTED:
            return []
        connection = self.connections.get(document.connection_id)
        return [(UUID(tid), self.post(UUID(tid), doc_id)) for tid in connection.ledger_targets]

    def pause(self, tid: UUID, by: str) -> LedgerTarget:
        """The replay stops after the documents it is replaying now."""
        return self._record(tid, lambda t: t.pause(by=by))

    def resume(self, tid: UUID, by: str) -> LedgerTarget:
        return self._record(tid, lambda t: t.resume(by=by))

    # -- one document into one target (I1) -----------------------------------------------

    def post(self, tid: UUID, doc_id: UUID, recheck_payment: bool = False) -> str:
        """Book the document into the target unless it is there, and its payment after it
        when the target's settings want one (R8.1): the sale's posting's status, or "skipped"
        when the target does not take it (yet): not booked by the connection, or from before
        the target's date. ``recheck_payment``: also try a payment that failed (R8.2: no open
        item, another amount) once more."""
        for _ in range(CONFLICT_RETRIES):
            try:
                return self._advance(tid, doc_id, recheck_payment)
            except RecordConflictError:
                continue  # another worker moved this posting on: reload and decide again
        raise TransientError("the posting kept changing under this worker; trying again")

    def _advance(self, tid: UUID, doc_id: UUID, recheck_payment: bool = False) -> str:
        target = self.get(tid)
        document = self.app.document(doc_id)
        created = start_date.created_at(document.source) if document.source else None
        if document.status != Status.POSTED or not target.takes(document.settings_version) \
                or created is None or created < moment(target.from_date):
            return "skipped"
        connection = self.connections.get(target.connection_id)
        if connection.paused is not None and target.connection_id not in self._handing_over:
            # Paused (by a person, or its app uninstalled): nothing reaches any ledger.
            raise ConnectionPaused(f"{connection.name} is paused ({connection.paused}); "
                                   f"{document.number} waits for {target.name}")
        context = self.context(target)
        posting = self.find_posting(tid, doc_id)
        if posting is None:
            posting = self._check(context, document)
        try:
            while posting.status in (PostingState.CHECKED, PostingState.DEBTOR_RESOLVED,
                                     PostingState.POSTING):
                if posting.status == PostingState.CHECKED:
                    self._resolve_debtor(posting, context, document)
                else:
                    self._post(posting, context, document, connection)
            if self._payment_due(posting, document.kind, context, recheck_payment):
                self._pay(posting, document.kind, context)
        except TransientError:
            if posting.pending_events:
                try:
                    self.app.save(posting)
                except RecordConflictError:
                    pass  # another worker got further; the retry reloads
            raise
        if posting.pending_events:
            self.app.save(posting)
        return posting.status

    def _booked_source(self, document: Document) -> dict:
        """The source the connection's ledger booked: a source the shop changed after
        posting is only recorded (R5.7), so the new ledger gets what the old one got."""
        if not document.changed_after_posting:
            return document.source
        source = checked = None
        for event in self.app.history(document.id):
            if isinstance(event, (Document.Received, Document.Refreshed)):
                source = event.source
            elif isinstance(event, Document.Checked):
                checked = source
            elif isinstance(event, Document.Posted):
                return checked or document.source
        return document.source

    def _check(self, context: TargetContext, document: Document) -> TargetPosting:
        try:
            booking = build_booking(self._booked_source(document), context.settings)
        except UnreadableSource as error:
            posting = TargetPosting.check(context.id, document.id, document.number,
                                          {"error": str(error)}, context.version, ok=False)
            posting.fail("check", "SOURCE_UNREADABLE", "R1",
                         f"Het document uit de winkel is niet te lezen: {error}",
                         f"The shop's document cannot be read: {error}")
            return posting
        posting = TargetPosting.check(context.id, document.id, document.number,
                                      booking.to_dict(), context.version, booking.ok)
        if not booking.ok:
            first = booking.failed_checks[0]
            posting.fail("check", first.code, first.rule, first.message_nl, first.message_en,
                         detail=[c.code for c in booking.failed_checks])
        return posting

    def _resolve_debtor(self, posting: TargetPosting, context: TargetContext,
                        document: Document) -> None:
        booking = Booking.from_dict(posting.booking)
        ledger = self.ledger(context)
        if not sale_posting(context.settings, ledger).needs_debtor:
            posting.resolve_debtor({"action": "in_document", "name": booking.customer.name})
            return
        try:
            with _credentials(context):
                relation = self.processing.debtors.resolve(ledger, booking, context, document.id)
        except RejectedError as error:
            posting.fail("debtor", error.code or "DEBTOR_REJECTED", "R6", error.message_nl,
                         error.message, detail=error.detail)
        else:
            posting.resolve_debtor(relation)

    def _post(self, posting: TargetPosting, context: TargetContext, document: Document,
              connection) -> None:
        now = self.clock()
        _wait_for_claim(posting.claim_free_at(now), now, posting.number)
        booking = Booking.from_dict(posting.booking)
        sale = sale_posting(context.settings, self.ledger(context))
        credited = self._credited_invoice(context, document, connection, sale, booking)
        # The posting's own id is its external id (Billit's ExternalProviderID and
        # Idempotency-Key): one per document per target, the same on every attempt.
        request = sale.request(booking, posting.relation, str(posting.id), credited)
        posting.start_posting(worker_name(), request, self.processing.lease, now)
        self.app.save(posting)  # the claim: nothing reaches the target before it is stored
        try:
            with _credentials(context):
                self._send_once(posting, sale, booking, request)
        except TransientError as error:
            # As the document's own: given back, and after an unknown outcome no attempt
            # before the settle window has passed (the write may still land).
            posting.interrupt_posting(error.message, error.outcome_unknown, self.clock()
                                      + timedelta(seconds=self.processing.settle_window))
            raise

    def _credited_invoice(self, context: TargetContext, document: Document, connection, sale,
                          booking: Booking) -> str | None:
        """R7.3 (application/credited.py): in the target the credited invoice is known by its
        own posting's reference there. The replay sends a chunk's documents at once, so the
        invoice may not be in the target yet when its credit note is: one the target takes is
        booked first (exactly once, as every posting), then named."""
        def booked(original: Document) -> dict | None:
            posting = self.find_posting(context.id, original.id)
            if posting is None or posting.status != PostingState.POSTED:
                self._post_first(context.id, original.id)
                posting = self.find_posting(context.id, original.id)
            return posting.reference if posting is not None and \
                posting.status == PostingState.POSTED else None

        def ledger_number(reference: dict) -> str | None:
            with _credentials(context):
                return sale.ledger_number(reference)

        return credited_invoice(self.app, document, sale, booking,
                                shop_invoices=self.processing.shop_invoices(connection),
                                booked=booked, ledger_number=ledger_number)

    def _post_first(self, tid: UUID, doc_id: UUID) -> None:
        """Book a credited invoice into the target before its credit note. Its claim may be
        held by another thread of the chunk sending it right now: wait for that, a little at a
        time, as long as the claim asks (then the error: the credit note is tried again)."""
        pause, deadline = 0.05, None
        while True:
            try:
                self.post(tid, doc_id)
                return
            except ClaimHeld as held:
                now = time.monotonic()
                deadline = deadline or now + max(0.0, held.retry_after or 0.0)
                if now >= deadline:
                    raise
                time.sleep(min(pause, deadline - now))
                pause = min(pause * 2, 1.0)

    def _send_once(self, posting: TargetPosting, sale, booking: Booking, request: dict) -> None:
        sent = send_once(sale, request, may_have_reached=posting.may_have_reached_ledger,
                         looked_up=posting.record_lookup)
        if sent.refused is not None:
            self._refused(posting, sent.refused, sale.rule)
        elif sent.taken is not None:
            posting.fail("ledger", "NUMBER_TAKEN", "R2.1", *number_taken(booking.sales_number),
                         detail=sent.taken)
        else:
            posting.record_posted(reference(sent.record), sent.record,
                                  found_by_lookup=sent.found_by_lookup)

    # -- the payment (R8), as the connection's own ledger books it (application/pay_once.py) --

    @staticmethod
    def _payment_due(posting: TargetPosting, kind: str, context: TargetContext,
                     recheck: bool) -> bool:
        """After the sale is in the target, by the target's settings (R8.1): a payment not
        booked yet, one an earlier attempt left (interrupted, or claimed by a worker that is
        gone), and with ``recheck`` one that failed."""
        if posting.status != PostingState.POSTED:
            return False
        retryable = {None, "interrupted", "posting"} | ({"failed"} if recheck else set())
        if posting.payment_status not in retryable:
            return False
        return payment_rules.payment_due(kind, Booking.from_dict(posting.booking),
                                         context.settings)

    def _pay(self, posting: TargetPosting, kind: str, context: TargetContext) -> None:
        now = self.clock()
        _wait_for_claim(posting.payment_claim_free_at(now), now,
                        f"the payment of {posting.number}")
        booking = Booking.from_dict(posting.booking)
        request = payment_rules.payment_request(kind, booking, context.settings,
                                                posting.relation["id"])
        posting.start_payment(worker_name(), request, self.processing.lease, now)
        self.app.save(posting)  # the payment's claim, with the sale's Posted before it
        try:
            with _credentials(context):
                paid = pay_once(self.ledger(context), booking, request,
                                may_have_reached=posting.payment_may_have_reached_ledger,
                                without_open_item=context.settings.payments.without_open_item,
                                looked_up=posting.record_payment_lookup)
        except TransientError as error:
            # As for the sale: given back, and after an unknown outcome the settle window.
            posting.interrupt_payment(error.message, error.outcome_unknown, self.clock()
                                      + timedelta(seconds=self.processing.settle_window))
            raise
        paid.record_on(posting)

    @staticmethod
    def _refused(posting: TargetPosting, error: RejectedError, rule: str) -> None:
        posting.fail("ledger", error.code or "LEDGER_REJECTED", rule, error.message_nl,
                     error.message, detail=error.detail)

    # -- switching: the connection books into the target itself ---------------------------

    def hand_over(self, tid: UUID, by: str) -> list[UUID]:
        """End a switch: with the connection paused, wait for nothing (refuse while a
        document may still reach the old ledger), replay what the old ledger booked
        meanwhile, make the target's settings the connection's, and check the documents it
        has not booked yet again with them. Returns those documents (to be processed)."""
        target = self.get(tid)
        if target.purpose != Purpose.SWITCH:
            raise ValueError(f"{target.name} is a copy; only a switch hands over")
        conn_id = target.connection_id
        paused_here = self.connections.changed(
            conn_id, lambda c: c.pause(by=by, reason=f"switching to ledger {target.name}"))
        if not paused_here:
            raise TransientError(f"{target.name}: the connection is paused; resume it first",
                                 code="PAUSED")
        self._handing_over.add(conn_id)
        try:
            documents = [self.app.document(doc_id) for doc_id, _ in self._documents(conn_id)]
            busy = [d.number for d in documents if _on_its_way(d)]
            if busy:
                raise HandOverBlocked(busy)
            if target.state == ReplayState.FINISHED:  # what the old ledger booked meanwhile
                self._record(tid, lambda t: t.relist(by, self.listing(conn_id,
                                                                      moment(t.from_date))))
            target = self.run(tid)
            if target.state != ReplayState.FINISHED:
                raise TransientError(f"the replay into {target.name} is {target.state}; it "
                                     f"must finish before the switch")
            version = self.connections.record(
                conn_id, lambda c: c.change_settings(dict(target.settings), by=by)
            ).settings_version
            self._record(tid, lambda t: t.switched(by, version))
            self.connections.record(conn_id, lambda c: c.switch_ledger(tid, version, by=by))
            return [d for d in (self._check_again(d.id, version, by, target.name)
                                for d in documents) if d is not None]
        finally:
            self._handing_over.discard(conn_id)
            self.connections.changed(conn_id, lambda c: c.resume(by=by))

    def _check_again(self, doc_id: UUID, version: int, by: str, name: str) -> UUID | None:
        """A document checked with the old ledger's settings and not booked is checked
        again: its lines and debtor were the old ledger's."""
        for _ in range(CONFLICT_RETRIES):
            document = self.app.document(doc_id)
            if document.status not in (Status.CHECKED, Status.DEBTOR_RESOLVED, Status.WAITING,
                                       Status.FAILED) or (document.settings_version or 0) >= version:
                return None
            document.request_reprocess(by=by, reason=f"the connection now books into {name}")
            try:
                self.app.save(document)
                return doc_id
            except RecordConflictError:
                continue
        return None

    # -- reading ---------------------------------------------------------------------------

    def find(self, tid: UUID) -> LedgerTarget | None:
        try:
            found = self.app.repository.get(tid)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, LedgerTarget) else None

    def get(self, tid: UUID) -> LedgerTarget:
        """The target as it is now, to read (never to change: ``_record`` changes a copy).
        Asked for every document, so the last one read is kept and brought up to date with
        the events recorded since: a long replay records a position every chunk, and
        reading them all again each time would make a replay quadratic."""
        with self._lock:
            known = self._targets.get(tid)
        if known is None:
            target = self.find(tid)
            if target is None:
                raise LookupError(f"no ledger target {tid}")
        else:
            news = list(self.app.events.get(tid, gt=known.version))
            if not news:
                return known
            target = copy.deepcopy(known)
            for event in news:
                target = event.mutate(target)
        with self._lock:
            if tid not in self._targets or self._targets[tid].version < target.version:
                self._targets[tid] = target
        return target

    def named(self, conn_id: UUID, name: str) -> LedgerTarget | None:
        return self.find(target_id(conn_id, name))

    def targets(self, conn_id: UUID) -> list[LedgerTarget]:
        return [self.get(UUID(tid)) for tid in self.connections.get(conn_id).ledger_targets]

    def find_posting(self, tid: UUID, doc_id: UUID) -> TargetPosting | None:
        try:
            found = self.app.repository.get(target_posting_id(tid, doc_id))
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, TargetPosting) else None

    def progress(self, tid: UUID, count: bool = True) -> Progress:
        """How far the replay is and, with ``count``, the target's postings (replayed and
        followed alike) by state: booked, failed, waiting, and their payments."""
        target = self.get(tid)
        counted = (self.counts or self._count_postings)(tid) if count else {}
        return Progress(target.name, target.purpose, target.state, target.position,
                        target.total, target.from_date, **counted)

    def _count_postings(self, tid: UUID) -> dict[str, int]:
        target = self.get(tid)
        postings = [p for p in (self.find_posting(tid, UUID(d)) for d in target.document_ids)
                    if p is not None]
        posted = sum(p.status == PostingState.POSTED for p in postings)
        failed = sum(p.status == PostingState.FAILED for p in postings)
        return {"posted": posted, "failed": failed,
                "waiting": len(postings) - posted - failed,
                "paid": sum(p.payment_status == "posted" for p in postings),
                "payments_failed": sum(p.payment_status == "failed" for p in postings)}

    def _record(self, tid: UUID, command: Callable[[LedgerTarget], object]) -> LedgerTarget:
        for _ in range(CONFLICT_RETRIES):
            target = copy.deepcopy(self.get(tid))
            command(target)
            if not target.pending_events:
                return target
            try:
                self.app.save(target)
            except RecordConflictError:
                continue
            return target
        raise TransientError(f"ledger target {tid} kept changing; try again")

    # -- the target's ledger -----------------------------------------------------------------

    def context(self, target: LedgerTarget) -> TargetContext:
        with self._lock:
            parsed = self._parsed.get((target.id, 0))
            if parsed is None:  # a target's settings never change: parsed once
                parsed = self._parsed[(target.id, 0)] = settings_file.settings_from_dict(
                    target.settings)
        return TargetContext(target.id, target.name, target.connection_id,
                             target.settings_version, parsed)

    def ledger(self, context: TargetContext):
        with self._lock:
            port = self._ports.get((context.id, 0))
        if port is not None:
            return port
        directory = self.connections
        stored = self.get(context.id).settings

        def secret(path: str) -> str:
            value = _get_path(stored, path)
            if not value:
                raise KeyError(f"setting {path} is empty")
            return directory.box.open(value, directory.environ)

        if context.settings.ledger.system == "billit":
            port = directory.connectors.billit(context.settings, secret,
                                               TargetTokens(self, context.id))
        else:
            port = directory.connectors.eboekhouden(context.settings, secret)
        with self._lock:
            return self._ports.setdefault((context.id, 0), port)


class TargetTokens:
    """The target ledger's OAuth tokens (Billit without an API key), sealed in its events."""

    def __init__(self, replays: LedgerReplays, tid: UUID) -> None:
        self.replays, self.tid = replays, tid

    def load(self) -> dict | None:
        target = self.replays.find(self.tid)
        if target is None or not target.ledger_tokens:
            return None
        return json.loads(self.replays.connections.box.open(target.ledger_tokens, {}))

    def save(self, tokens: dict) -> None:
        sealed = self.replays.connections.box.seal(json.dumps(tokens, sort_keys=True))
        self.replays._record(self.tid, lambda t: t.issue_ledger_tokens(sealed))

    def __repr__(self) -> str:
        return f"TargetTokens({self.tid}, <tokens hidden>)"


def _on_its_way(document: Document) -> bool:
    """May this document still reach the old ledger? A claim is held, or an earlier attempt
    ended without an answer and nothing booked or failed it since."""
    if document.status == Status.POSTING:
        return True
    if document.status in (Status.POSTED, Status.FAILED):
        return document.payment_status in ("posting", "interrupted")
    return document.attempt > 0


class _credentials:
    """Refused credentials of the target's ledger: the posting waits (a transient error)."""

    def __init__(self, context: TargetContext) -> None:
        self.context = context

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if isinstance(exc, CredentialsError):
            raise TransientError(f"the ledger {self.context.name} refused koppel's "
                                 f"credentials: {exc.message}", code="CREDENTIALS") from exc
        return False
