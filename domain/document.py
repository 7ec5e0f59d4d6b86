"""A shop document (an order or an invoice) on its way into the ledger: the aggregate.

Its events are the document's whole history, so support can always show what the shop sent,
which rules and settings made which booking lines, what went to the ledger and what came back
(I3). The posting protocol that keeps a document from reaching the ledger twice (I1) lives
here as state: ``PostingStarted`` is the claim, and a claim is only taken over once its lease
has run out, after which the ledger must be asked whether the earlier attempt arrived.

Event classes carry explicit, versioned topics: they are stored forever, so a class may be
renamed or moved but its topic never changes, and a changed payload gets a new class with an
upcaster rather than an edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.ids import document_id


class Status:
    RECEIVED = "received"  # the source is known; the rules have not run on it yet
    WAITING = "waiting"  # checked, but not ready to post (R5.8: an unpaid order)
    CHECKED = "checked"  # the booking passed every check of R5
    DEBTOR_RESOLVED = "debtor_resolved"
    POSTING = "posting"  # claimed: a worker is talking to the ledger
    POSTED = "posted"
    FAILED = "failed"
    BEFORE_START = "before_start"  # created before the connection's start date: not booked

    OPEN = (RECEIVED, WAITING, CHECKED, DEBTOR_RESOLVED, POSTING)


@dataclass(frozen=True)
class Claim:
    """Who may talk to the ledger about a sale or a payment: the attempt number, and when its
    lease ends. A live claim keeps other workers out; an attempt after the first must ask the
    ledger whether an earlier one arrived before sending anything (I1).

    ``settle_until``: an attempt that ended without knowing whether its write arrived (a
    timeout, a 5xx) may still have that write on its way inside the ledger, which can land
    after the caller gave up. Until this moment no new attempt may start, because a lookup
    before it would find nothing and a second write would follow the first."""

    attempt: int = 0
    claimed_at: datetime | None = None
    lease_seconds: float = 0.0
    settle_until: datetime | None = None

    def busy_until(self, now: datetime, live: bool) -> datetime | None:
        """When a new attempt may start, while that is still ahead of ``now``: the end of a
        ``live`` claim's lease or of the settle window after an unknown outcome."""
        ends = [self.settle_until] if self.settle_until is not None else []
        if live and self.claimed_at is not None:
            ends.append(self.claimed_at + timedelta(seconds=self.lease_seconds))
        end = max(ends, default=None)
        return end if end is not None and now < end else None

    @property
    def may_have_reached_ledger(self) -> bool:
        return self.attempt > 1

    def taken(self, event) -> "Claim":
        return Claim(event.attempt, event.timestamp, event.lease_seconds)

    def given_back(self, settle_until: datetime | None = None) -> "Claim":
        return Claim(self.attempt, settle_until=settle_until)


class DocumentError(Exception):
    """A command that the document's state does not allow (a programming error upstream)."""


class Document(Aggregate):
    TOPIC = "koppel:Document"

    class Received(Aggregate.Created):
        """The shop's source was fetched for the first time (``via``: webhook, sweep, ...)."""

        TOPIC = "koppel:Document.Received:v1"
        connection_id: UUID
        kind: str
        shop_id: int
        number: str
        source: dict
        via: str

    class Created(Aggregate.Created):
        """Never triggered: the library gives every aggregate a ``Created`` class, and with
        explicit topics it must have one; a document is created by ``Received``."""

        TOPIC = "koppel:Document.Created:unused"

    class IntakeFailed(Aggregate.Created):
        """The shop answered, but not with the document (R1): an error koppel does not
        expect, or an answer not signed with the shop's secret. The document is recorded
        without its source so it is seen (I2): waiting for the shop while ``retrying``, else
        failed. A later good answer records ``Refreshed`` and the document carries on."""

        TOPIC = "koppel:Document.IntakeFailed:v1"
        connection_id: UUID
        kind: str
        shop_id: int
        number: str
        via: str
        code: str
        message_nl: str
        message_en: str
        retrying: bool
        detail: Any

        def apply(self, document: "Document") -> None:
            document._shop_problem(self)

    def __init__(self, connection_id: UUID, kind: str, shop_id: int, number: str = "",
                 source: dict | None = None, via: str = "") -> None:
        self.connection_id = connection_id
        self.kind = kind
        self.shop_id = shop_id
        self.number = number
        self.source = source
        self.status = Status.RECEIVED
        self.booking: dict | None = None
        self.settings_version: int | None = None
        self.waiting_for: str | None = None
        self.relation: dict | None = None
        self.sale_claim = Claim()
        self.ledger_reference: dict | None = None
        self.failure: dict | None = None
        self.changed_after_posting = False
        self.payment_status: str | None = None  # posting | posted | failed | interrupted
        self.payment_claim = Claim()
        self.payment_reference: dict | None = None
        self.payment_failure: dict | None = None

    @staticmethod
    def create_id(connection_id: UUID, kind: str, shop_id: int) -> UUID:
        return document_id(connection_id, kind, shop_id)

    @classmethod
    def receive(cls, connection_id: UUID, kind: str, shop_id: int, number: str,
                source: dict, via: str) -> "Document":
        return cls._create(cls.Received, connection_id=connection_id, kind=kind,
                           shop_id=int(shop_id), number=str(number), source=source, via=via)

    @classmethod
    def intake_failed(cls, connection_id: UUID, kind: str, shop_id: int, via: str, code: str,
                      message_nl: str, message_en: str, retrying: bool,
                      detail: Any = None) -> "Document":
        """Until the shop gives the document, its shop id is the number it is known by."""
        return cls._create(cls.IntakeFailed, connection_id=connection_id, kind=kind,
                           shop_id=int(shop_id), number=str(shop_id), via=via, code=code,
                           message_nl=message_nl, message_en=message_en, retrying=retrying,
                           detail=detail)

    class FetchFailed(Aggregate.Event):
        """The shop again did not give a document it never gave (see ``IntakeFailed``)."""

        TOPIC = "koppel:Document.FetchFailed:v1"
        via: str
        code: str
        message_nl: str
        message_en: str
        retrying: bool
        detail: Any

        def apply(self, document: "Document") -> None:
            document._shop_problem(self)

    def fetch_failed(self, via: str, code: str, message_nl: str, message_en: str,
                     retrying: bool, detail: Any = None) -> bool:
        """Record the shop's answer on a document without a source; False when that is the
        answer already recorded (a retry changes nothing)."""
        if self.source is not None:
            raise DocumentError(f"document {self.number} has its source from the shop")
        if self.failure == _shop_failure(code, message_nl, message_en) and \
                self.waiting_for == ("shop" if retrying else None):
            return False
        self.trigger_event(self.FetchFailed, via=via, code=code, message_nl=message_nl,
                           message_en=message_en, retrying=retrying, detail=detail)
        return True

    def _shop_problem(self, event) -> None:
        self.status = Status.WAITING if event.retrying else Status.FAILED
        self.waiting_for = "shop" if event.retrying else None
        self.failure = _shop_failure(event.code, event.message_nl, event.message_en)

    # -- new source ----------------------------------------------------------------------

    class Refreshed(Aggregate.Event):
        """The shop returned a different source. After posting it is only recorded (R5.7)."""

        TOPIC = "koppel:Document.Refreshed:v1"
        number: str
        source: dict
        via: str

        def apply(self, document: "Document") -> None:
            document.source = self.source
            document.number = self.number
            if document.status == Status.POSTED:
                document.changed_after_posting = True
            elif document.status != Status.POSTING:
                document.status = Status.RECEIVED
                document.failure = None
                document.waiting_for = None

    def refresh(self, number: str, source: dict, via: str) -> bool:
        """Record a new source; False when it is the one already known."""
        if source == self.source:
            return False
        self.trigger_event(self.Refreshed, number=str(number), source=source, via=via)
        return True

    # -- the start date (domain/start_date.py) -----------------------------------------------

    class BeforeStartDate(Aggregate.Event):
        """The shop created this document before the connection's start date (and in no
        imported period): it is kept, shown, and not booked. Importing its period, or an
        earlier start date, books it after all."""

        TOPIC = "koppel:Document.BeforeStartDate:v1"
        created: str
        start_date: str

        def apply(self, document: "Document") -> None:
            document.status = Status.BEFORE_START

    def set_aside(self, created: datetime, start_date: datetime) -> None:
        self._require(Status.RECEIVED)
        self.trigger_event(self.BeforeStartDate, created=created.isoformat(),
                           start_date=start_date.isoformat())

    # -- the rules -----------------------------------------------------------------------

    class Checked(Aggregate.Event):
        """The rules ran: ``booking`` holds every line with its rule numbers and every check;
        ``settings_version`` is the connection's settings in force. ``waiting_for`` says why a
        booking that passed its checks is not posted yet (R5.8)."""

        TOPIC = "koppel:Document.Checked:v1"
        booking: dict
        settings_version: int
        ok: bool
        waiting_for: str | None

        def apply(self, document: "Document") -> None:
            document.booking = self.booking
            document.settings_version = self.settings_version
            document.waiting_for = self.waiting_for
            if self.ok:
                document.status = Status.WAITING if self.waiting_for else Status.CHECKED

    def record_check(self, booking: dict, settings_version: int, ok: bool,
                     waiting_for: str | None = None) -> None:
        self._require(Status.RECEIVED, Status.WAITING, Status.BEFORE_START)
        self.trigger_event(self.Checked, booking=booking, settings_version=settings_version,
                           ok=ok, waiting_for=waiting_for if ok else None)

    class DebtorResolved(Aggregate.Event):
        """R6: the ledger relation the sale is booked on, and how it was found."""

        TOPIC = "koppel:Document.DebtorResolved:v1"
        relation: dict  # {"id", "code", "action": "matched" | "created" | "fixed"}

        def apply(self, document: "Document") -> None:
            document.relation = self.relation
            document.status = Status.DEBTOR_RESOLVED

    def resolve_debtor(self, relation: dict) -> None:
        self._require(Status.CHECKED)
        self.trigger_event(self.DebtorResolved, relation=relation)

    # -- the claim and the ledger's answer -----------------------------------------------

    class PostingStarted(Aggregate.Event):
        """The claim (I1): saved before the ledger is called. A second worker saving its own
        claim on the same version conflicts, so only one holds it."""

        TOPIC = "koppel:Document.PostingStarted:v1"
        attempt: int
        worker: str
        request: dict
        lease_seconds: float

        def apply(self, document: "Document") -> None:
            document.status = Status.POSTING
            document.sale_claim = document.sale_claim.taken(self)

    @property
    def attempt(self) -> int:
        return self.sale_claim.attempt

    def claim_held(self, now: datetime) -> bool:
        """Another attempt may be talking to the ledger (a live claim, or the settle window
        after an unknown outcome): leave the document alone until ``claim_free_at``."""
        return self.claim_free_at(now) is not None

    def claim_free_at(self, now: datetime) -> datetime | None:
        return self.sale_claim.busy_until(now, live=self.status == Status.POSTING)

    def start_posting(self, worker: str, request: dict, lease_seconds: float,
                      now: datetime) -> int:
        """Take the claim; returns the attempt number. An attempt after the first must ask
        the ledger whether an earlier one arrived before sending anything (I1)."""
        self._require(Status.DEBTOR_RESOLVED, Status.POSTING)
        if self.claim_held(now):
            raise DocumentError("another attempt may still reach the ledger with this document")
        self.trigger_event(self.PostingStarted, attempt=self.attempt + 1, worker=worker,
                           request=request, lease_seconds=lease_seconds)
        return self.attempt

    @property
    def may_have_reached_ledger(self) -> bool:
        return self.sale_claim.may_have_reached_ledger

    class Posted(Aggregate.Event):
        """The ledger holds the document. ``found_by_lookup`` when an earlier attempt whose
        answer was lost turned out to have arrived."""

        TOPIC = "koppel:Document.Posted:v1"
        reference: dict
        response: Any
        found_by_lookup: bool

        def apply(self, document: "Document") -> None:
            document.status = Status.POSTED
            document.ledger_reference = self.reference
            document.failure = None

    def record_posted(self, reference: dict, response: Any, found_by_lookup: bool) -> None:
        self._require(Status.POSTING)
        self.trigger_event(self.Posted, reference=reference, response=response,
                           found_by_lookup=found_by_lookup)

    class PostingInterrupted(Aggregate.Event):
        """The ledger call of this attempt ended without an answer we can trust (timeout, 5xx,
        429). The claim is given back; the next attempt looks the document up first, because
        with ``outcome_unknown`` the ledger may hold it already. ``settle_until`` (events
        stored before it existed read None): no next attempt before then, as the write may
        still be on its way inside the ledger."""

        TOPIC = "koppel:Document.PostingInterrupted:v1"
        attempt: int
        error: str
        outcome_unknown: bool
        settle_until: datetime | None = None

        def apply(self, document: "Document") -> None:
            document.status = Status.DEBTOR_RESOLVED
            document.sale_claim = document.sale_claim.given_back(self.settle_until)

    def interrupt_posting(self, error: str, outcome_unknown: bool,
                          settle_until: datetime | None = None) -> None:
        """``settle_until``: when the write of this attempt can no longer land, given when
        ``outcome_unknown``."""
        self._require(Status.POSTING)
        self.trigger_event(self.PostingInterrupted, attempt=self.attempt, error=error,
                           outcome_unknown=outcome_unknown,
                           settle_until=settle_until if outcome_unknown else None)

    class LookedUp(Aggregate.Event):
        """An attempt asked the ledger whether an earlier one arrived, before sending anything
        (I1): ``subject`` "sale" or "payment", ``found`` the ledger's reference or None."""

        TOPIC = "koppel:Document.LookedUp:v1"
        subject: str
        found: dict | None

        def apply(self, document: "Document") -> None:
            pass  # a record for the audit (I3); what was found is acted on by Posted

    def record_lookup(self, subject: str, found: dict | None) -> None:
        self.trigger_event(self.LookedUp, subject=subject, found=found)

    class Failed(Aggregate.Event):
        """A business error: a check of R5 (``stage`` "check"), the debtor (R6) or the
        ledger's refusal ("ledger"). ``code`` and ``rule`` say which; the messages say it in
        the merchant's words; ``detail`` keeps the ledger's own answer for support."""

        TOPIC = "koppel:Document.Failed:v1"
        stage: str
        code: str
        rule: str
        message_nl: str
        message_en: str
        detail: Any

        def apply(self, document: "Document") -> None:
            document.status = Status.FAILED
            document.failure = {
                "stage": self.stage, "code": self.code, "rule": self.rule,
                "message_nl": self.message_nl, "message_en": self.message_en,
            }

    def fail(self, stage: str, code: str, rule: str, message_nl: str, message_en: str,
             detail: Any = None) -> None:
        if self.status == Status.POSTED:
            raise DocumentError("a posted document cannot fail")
        self.trigger_event(self.Failed, stage=stage, code=code, rule=rule,
                           message_nl=message_nl, message_en=message_en, detail=detail)

    # -- the payment (R8), with the same claim protocol as the sale -------------------------

    class PaymentStarted(Aggregate.Event):
        """The claim on booking the payment (I1 for payments)."""

        TOPIC = "koppel:Document.PaymentStarted:v1"
        attempt: int
        worker: str
        request: dict
        lease_seconds: float

        def apply(self, document: "Document") -> None:
            document.payment_status = "posting"
            document.payment_claim = document.payment_claim.taken(self)

    @property
    def payment_attempt(self) -> int:
        return self.payment_claim.attempt

    def payment_claim_held(self, now: datetime) -> bool:
        return self.payment_claim_free_at(now) is not None

    def payment_claim_free_at(self, now: datetime) -> datetime | None:
        return self.payment_claim.busy_until(now, live=self.payment_status == "posting")

    def start_payment(self, worker: str, request: dict, lease_seconds: float,
                      now: datetime) -> int:
        self._require(Status.POSTED)
        if self.payment_status == "posted":
            raise DocumentError(f"the payment of {self.number} is booked already")
        if self.payment_claim_held(now):
            raise DocumentError("another attempt may still reach the ledger with this payment")
        self.trigger_event(self.PaymentStarted, attempt=self.payment_attempt + 1,
                           worker=worker, request=request, lease_seconds=lease_seconds)
        return self.payment_attempt

    @property
    def payment_may_have_reached_ledger(self) -> bool:
        return self.payment_claim.may_have_reached_ledger

    class PaymentInterrupted(Aggregate.Event):
        """As ``PostingInterrupted``, for the payment."""

        TOPIC = "koppel:Document.PaymentInterrupted:v1"
        attempt: int
        error: str
        outcome_unknown: bool
        settle_until: datetime | None = None

        def apply(self, document: "Document") -> None:
            document.payment_status = "interrupted"
            document.payment_claim = document.payment_claim.given_back(self.settle_until)

    def interrupt_payment(self, error: str, outcome_unknown: bool,
                          settle_until: datetime | None = None) -> None:
        self._require_payment("posting")
        self.trigger_event(self.PaymentInterrupted, attempt=self.payment_attempt, error=error,
                           outcome_unknown=outcome_unknown,
                           settle_until=settle_until if outcome_unknown else None)

    class PaymentPosted(Aggregate.Event):
        TOPIC = "koppel:Document.PaymentPosted:v1"
        reference: dict
        response: Any
        found_by_lookup: bool

        def apply(self, document: "Document") -> None:
            document.payment_status = "posted"
            document.payment_reference = self.reference
            document.payment_failure = None

    def record_payment(self, reference: dict, response: Any, found_by_lookup: bool) -> None:
        self._require_payment("posting")
        self.trigger_event(self.PaymentPosted, reference=reference, response=response,
                           found_by_lookup=found_by_lookup)

    class PaymentFailed(Aggregate.Event):
        """No open item, another amount (R8.2), or the ledger's refusal. The payment check
        looks again later: the merchant may book the missing item meanwhile."""

        TOPIC = "koppel:Document.PaymentFailed:v1"
        code: str
        rule: str
        message_nl: str
        message_en: str
        detail: Any

        def apply(self, document: "Document") -> None:
            document.payment_status = "failed"
            document.payment_failure = {"code": self.code, "rule": self.rule,
                                        "message_nl": self.message_nl,
                                        "message_en": self.message_en}

    def fail_payment(self, code: str, rule: str, message_nl: str, message_en: str,
                     detail: Any = None) -> None:
        self._require_payment("posting")
        self.trigger_event(self.PaymentFailed, code=code, rule=rule, message_nl=message_nl,
                           message_en=message_en, detail=detail)

    def _require_payment(self, *statuses: str) -> None:
        if self.payment_status not in statuses:
            raise DocumentError(f"the payment of {self.number} is {self.payment_status}, "
                                f"expected one of {statuses}")

    # -- people ----------------------------------------------------------------------------

    class ReprocessRequested(Aggregate.Event):
        """A person asked to run the document again (after fixing settings, say)."""

        TOPIC = "koppel:Document.ReprocessRequested:v1"
        by: str
        reason: str

        def apply(self, document: "Document") -> None:
            document.status = Status.RECEIVED
            document.failure = None
            document.waiting_for = None

    def request_reprocess(self, by: str, reason: str) -> None:
        if self.status in (Status.POSTED, Status.POSTING):
            raise DocumentError(
                f"document {self.number} is {self.status}: it is never posted twice (R5.7)"
            )
        self.trigger_event(self.ReprocessRequested, by=by, reason=reason)

    # -- helpers -----------------------------------------------------------------------------

    @property
    def next_step(self) -> str | None:
        """What processing must do next: "check", "debtor", "post", or None (done/waiting)."""
        if self.source is None:
            # Never given by the shop (``IntakeFailed``) and processed again: fetch it first.
            return "fetch" if self.status == Status.RECEIVED else None
        return {
            Status.RECEIVED: "check",
            # Checked again when its period is imported; processing leaves it be otherwise.
            Status.BEFORE_START: "check",
            Status.CHECKED: "debtor",
            Status.DEBTOR_RESOLVED: "post",
            Status.POSTING: "post",
        }.get(self.status)

    def _require(self, *statuses: str) -> None:
        if self.status not in statuses:
            raise DocumentError(
                f"document {self.number} is {self.status}, expected one of {statuses}"
            )


def _shop_failure(code: str, message_nl: str, message_en: str) -> dict:
    return {"stage": "shop", "code": code, "rule": "R1", "message_nl": message_nl,
            "message_en": message_en}
