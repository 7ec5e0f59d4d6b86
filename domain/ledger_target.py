"""A ledger target: a further ledger a connection books into, and each document's posting there.

The connection's own ledger keeps its postings on the ``Document`` (its claim, lookup and
``Posted``). A second ledger (a copy for the accountant, or the ledger a connection switches
to) is a ``LedgerTarget``, with its own settings (the new ledger's accounts, VAT codes and
credentials, sealed) and a replay: every document the connection booked since ``from_date``,
listed once, with a position, so a killed or paused replay goes on where it was. Each
document's posting into a target is a ``TargetPosting`` of its own, keyed by (target,
document): the claim, the lookup before a retry and ``Posted`` are per target, so the old
ledger's postings stay as they were and the new one gets each document exactly once (I1).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.document import Claim, DocumentError
from domain.ids import KOPPEL_NAMESPACE


class Purpose:
    COPY = "copy"  # a second ledger in parallel: it gets what the connection's ledger gets
    SWITCH = "switch"  # the ledger the connection moves to


class ReplayState:
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"  # replayed up to now; it goes on following new bookings
    SWITCHED = "switched"  # (switch) the connection books into this ledger itself now


def target_id(connection_id: UUID, name: str) -> UUID:
    """A target is named by the merchant, per connection: adding it again resumes it."""
    return uuid5(KOPPEL_NAMESPACE, f"ledger-target:{connection_id}:{name.strip().casefold()}")


def target_posting_id(target: UUID, document: UUID) -> UUID:
    return uuid5(KOPPEL_NAMESPACE, f"target-posting:{target}:{document}")


class LedgerTarget(Aggregate):
    TOPIC = "koppel:LedgerTarget"

    class Added(Aggregate.Created):
        TOPIC = "koppel:LedgerTarget.Added:v1"
        connection_id: UUID
        name: str
        purpose: str
        settings: dict  # secrets sealed (``enc:``) or ``env:`` references, never plain
        from_date: str
        by: str
        document_ids: list

    class Created(Aggregate.Created):
        """Never triggered (a target is created by ``Added``); the library asks for one."""

        TOPIC = "koppel:LedgerTarget.Created:unused"

    def __init__(self, connection_id: UUID, name: str, purpose: str, settings: dict,
                 from_date: str, by: str, document_ids: list) -> None:
        if purpose not in (Purpose.COPY, Purpose.SWITCH):
            raise ValueError(f"unknown purpose {purpose!r}")
        self.connection_id = connection_id
        self.name = name
        self.purpose = purpose
        self.settings = settings
        self.settings_version = 1
        self.from_date = from_date
        self.document_ids = [str(i) for i in document_ids]
        self.position = 0
        self.state = ReplayState.RUNNING
        self.runs = 1
        self.ledger_tokens: str | None = None
        self.switch_version: int | None = None  # the connection's version that books here

    @staticmethod
    def create_id(connection_id: UUID, name: str) -> UUID:
        return target_id(connection_id, name)

    @classmethod
    def add(cls, connection_id: UUID, name: str, purpose: str, settings: dict, from_date: str,
            by: str, document_ids: list[UUID]) -> "LedgerTarget":
        return cls._create(cls.Added, connection_id=connection_id, name=name, purpose=purpose,
                           settings=settings, from_date=from_date, by=by,
                           document_ids=[str(i) for i in document_ids])

    @property
    def total(self) -> int:
        return len(self.document_ids)

    @property
    def remaining(self) -> list[str]:
        return self.document_ids[self.position:]

    def takes(self, settings_version: int | None) -> bool:
        """Does a document the connection's own ledger booked go here too? Into a copy,
        always; into a switch, when it was checked with the settings from before the switch
        (a later one the connection books here itself)."""
        if self.state != ReplayState.SWITCHED:
            return True
        return settings_version is not None and settings_version < self.switch_version

    class Relisted(Aggregate.Event):
        """Replayed again (asked again after it finished): the documents booked since the
        date, listed anew; what is in the target already stays there once."""

        TOPIC = "koppel:LedgerTarget.Relisted:v1"
        by: str
        document_ids: list

        def apply(self, target: "LedgerTarget") -> None:
            target.document_ids = list(self.document_ids)
            target.position = 0
            target.state = ReplayState.RUNNING
            target.runs += 1

    def relist(self, by: str, document_ids: list[UUID]) -> None:
        if self.state != ReplayState.FINISHED:
            raise ValueError("only a finished replay is listed again; this one goes on")
        self.trigger_event(self.Relisted, by=by, document_ids=[str(i) for i in document_ids])

    class Extended(Aggregate.Event):
        """Documents received while the replay was listed or ran: replayed after the rest,
        so none falls between the listing and the moment the target follows new ones."""

        TOPIC = "koppel:LedgerTarget.Extended:v1"
        document_ids: list

        def apply(self, target: "LedgerTarget") -> None:
            target.document_ids = [*target.document_ids, *self.document_ids]

    def extend(self, document_ids: list[UUID]) -> bool:
        new = [str(i) for i in document_ids if str(i) not in set(self.document_ids)]
        if not new:
            return False
        self.trigger_event(self.Extended, document_ids=new)
        return True

    class Advanced(Aggregate.Event):
        TOPIC = "koppel:LedgerTarget.Advanced:v1"
        position: int

        def apply(self, target: "LedgerTarget") -> None:
            target.position = self.position

    def advance(self, position: int) -> None:
        if not self.position < position <= self.total:
            raise ValueError(f"position {position} is not ahead of {self.position}")
        self.trigger_event(self.Advanced, position=position)

    class Paused(Aggregate.Event):
        TOPIC = "koppel:LedgerTarget.Paused:v1"
        by: str

        def apply(self, target: "LedgerTarget") -> None:
            target.state = ReplayState.PAUSED

    def pause(self, by: str) -> bool:
        if self.state != ReplayState.RUNNING:
            return False
        self.trigger_event(self.Paused, by=by)
        return True

    class Resumed(Aggregate.Event):
        TOPIC = "koppel:LedgerTarget.Resumed:v1"
        by: str

        def apply(self, target: "LedgerTarget") -> None:
            target.state = ReplayState.RUNNING

    def resume(self, by: str) -> bool:
        if self.state != ReplayState.PAUSED:
            return False
        self.trigger_event(self.Resumed, by=by)
        return True

    class Finished(Aggregate.Event):
        TOPIC = "koppel:LedgerTarget.Finished:v1"

        def apply(self, target: "LedgerTarget") -> None:
            target.state = ReplayState.FINISHED

    def finish(self) -> None:
        if self.position != self.total:
            raise ValueError("a replay finishes when every listed document is replayed")
        self.trigger_event(self.Finished)

    class Switched(Aggregate.Event):
        """The connection books into this ledger itself from now on (its settings are this
        target's); the target stops following, so nothing reaches it twice."""

        TOPIC = "koppel:LedgerTarget.Switched:v1"
        by: str
        connection_version: int  # the connection's settings version that books here

        def apply(self, target: "LedgerTarget") -> None:
            target.state = ReplayState.SWITCHED
            target.switch_version = self.connection_version

    def switched(self, by: str, connection_version: int) -> None:
        if self.purpose != Purpose.SWITCH or self.state != ReplayState.FINISHED:
            raise ValueError("only a finished switch replay hands over")
        self.trigger_event(self.Switched, by=by, connection_version=connection_version)

    class LedgerTokensIssued(Aggregate.Event):
        """As the connection's: new OAuth tokens of the target's ledger (Billit), sealed."""

        TOPIC = "koppel:LedgerTarget.LedgerTokensIssued:v1"
        sealed_tokens: str

        def apply(self, target: "LedgerTarget") -> None:
            target.ledger_tokens = self.sealed_tokens

    def issue_ledger_tokens(self, sealed_tokens: str) -> None:
        if not sealed_tokens.startswith("enc:"):
            raise ValueError("ledger tokens must be sealed before they are recorded")
        self.trigger_event(self.LedgerTokensIssued, sealed_tokens=sealed_tokens)


class PostingState:
    CHECKED = "checked"
    DEBTOR_RESOLVED = "debtor_resolved"
    POSTING = "posting"
    POSTED = "posted"
    FAILED = "failed"


class TargetPosting(Aggregate):
    """One document's posting into one ledger target, with the claim protocol of the
    document's own (see ``domain.document``): ``PostingStarted`` saved before the call, an
    interruption with its settle window, a lookup before every later attempt. Its payment
    (R8) has a claim of its own, the same way (``PaymentStarted`` ... ``PaymentPosted``)."""

    TOPIC = "koppel:TargetPosting"

    class Checked(Aggregate.Created):
        """The rules ran on the document's source with the target's settings."""

        TOPIC = "koppel:TargetPosting.Checked:v1"
        target_id: UUID
        document_id: UUID
        number: str
        booking: dict
        settings_version: int
        ok: bool

    class Created(Aggregate.Created):
        TOPIC = "koppel:TargetPosting.Created:unused"

    def __init__(self, target_id: UUID, document_id: UUID, number: str, booking: dict,
                 settings_version: int, ok: bool) -> None:
        self.target_id = target_id
        self.document_id = document_id
        self.number = number
        self.booking = booking
        self.settings_version = settings_version
        self.status = PostingState.CHECKED
        self.relation: dict | None = None
        self.claim = Claim()
        self.reference: dict | None = None
        self.failure: dict | None = None
        self.payment_status: str | None = None  # posting | posted | failed | interrupted
        self.payment_claim = Claim()
        self.payment_reference: dict | None = None
        self.payment_failure: dict | None = None

    @staticmethod
    def create_id(target_id: UUID, document_id: UUID) -> UUID:
        return target_posting_id(target_id, document_id)

    @classmethod
    def check(cls, target_id: UUID, document_id: UUID, number: str, booking: dict,
              settings_version: int, ok: bool) -> "TargetPosting":
        return cls._create(cls.Checked, target_id=target_id, document_id=document_id,
                           number=number, booking=booking, settings_version=settings_version,
                           ok=ok)

    class DebtorResolved(Aggregate.Event):
        TOPIC = "koppel:TargetPosting.DebtorResolved:v1"
        relation: dict

        def apply(self, posting: "TargetPosting") -> None:
            posting.relation = self.relation
            posting.status = PostingState.DEBTOR_RESOLVED

    def resolve_debtor(self, relation: dict) -> None:
        self._require(PostingState.CHECKED)
        self.trigger_event(self.DebtorResolved, relation=relation)

    class PostingStarted(Aggregate.Event):
        TOPIC = "koppel:TargetPosting.PostingStarted:v1"
        attempt: int
        worker: str
        request: dict
        lease_seconds: float

        def apply(self, posting: "TargetPosting") -> None:
            posting.status = PostingState.POSTING
            posting.claim = posting.claim.taken(self)

    def claim_free_at(self, now: datetime) -> datetime | None:
        return self.claim.busy_until(now, live=self.status == PostingState.POSTING)

    def start_posting(self, worker: str, request: dict, lease_seconds: float,
                      now: datetime) -> int:
        self._require(PostingState.DEBTOR_RESOLVED, PostingState.POSTING)
        if self.claim_free_at(now) is not None:
            raise DocumentError("another attempt may still reach the target with this document")
        self.trigger_event(self.PostingStarted, attempt=self.claim.attempt + 1, worker=worker,
                           request=request, lease_seconds=lease_seconds)
        return self.claim.attempt

    @property
    def may_have_reached_ledger(self) -> bool:
        return self.claim.may_have_reached_ledger

    class PostingInterrupted(Aggregate.Event):
        TOPIC = "koppel:TargetPosting.PostingInterrupted:v1"
        attempt: int
        error: str
        outcome_unknown: bool
        settle_until: datetime | None = None

        def apply(self, posting: "TargetPosting") -> None:
            posting.status = PostingState.DEBTOR_RESOLVED
            posting.claim = posting.claim.given_back(self.settle_until)

    def interrupt_posting(self, error: str, outcome_unknown: bool,
                          settle_until: datetime | None) -> None:
        self._require(PostingState.POSTING)
        self.trigger_event(self.PostingInterrupted, attempt=self.claim.attempt, error=error,
                           outcome_unknown=outcome_unknown,
                           settle_until=settle_until if outcome_unknown else None)

    class LookedUp(Aggregate.Event):
        TOPIC = "koppel:TargetPosting.LookedUp:v1"
        found: dict | None

        def apply(self, posting: "TargetPosting") -> None:
            pass  # the audit's record; Posted acts on what was found

    def record_lookup(self, found: dict | None) -> None:
        self.trigger_event(self.LookedUp, found=found)

    class Posted(Aggregate.Event):
        TOPIC = "koppel:TargetPosting.Posted:v1"
        reference: dict
        response: Any
        found_by_lookup: bool

        def apply(self, posting: "TargetPosting") -> None:
            posting.status = PostingState.POSTED
            posting.reference = self.reference
            posting.failure = None

    def record_posted(self, reference: dict, response: Any, found_by_lookup: bool) -> None:
        self._require(PostingState.POSTING)
        self.trigger_event(self.Posted, reference=reference, response=response,
                           found_by_lookup=found_by_lookup)

    class Failed(Aggregate.Event):
        TOPIC = "koppel:TargetPosting.Failed:v1"
        stage: str
        code: str
        rule: str
        message_nl: str
        message_en: str
        detail: Any

        def apply(self, posting: "TargetPosting") -> None:
            posting.status = PostingState.FAILED
            posting.failure = {"stage": self.stage, "code": self.code, "rule": self.rule,
                               "message_nl": self.message_nl, "message_en": self.message_en}

    def fail(self, stage: str, code: str, rule: str, message_nl: str, message_en: str,
             detail: Any = None) -> None:
        if self.status == PostingState.POSTED:
            raise DocumentError("a posted document cannot fail")
        self.trigger_event(self.Failed, stage=stage, code=code, rule=rule,
                           message_nl=message_nl, message_en=message_en, detail=detail)

    # -- the payment (R8) into the target, with the claim protocol of the document's own ----

    class PaymentStarted(Aggregate.Event):
        """The claim on booking the payment into the target (I1 for payments)."""

        TOPIC = "koppel:TargetPosting.PaymentStarted:v1"
        attempt: int
        worker: str
        request: dict
        lease_seconds: float

        def apply(self, posting: "TargetPosting") -> None:
            posting.payment_status = "posting"
            posting.payment_claim = posting.payment_claim.taken(self)

    def payment_claim_free_at(self, now: datetime) -> datetime | None:
        return self.payment_claim.busy_until(now, live=self.payment_status == "posting")

    def start_payment(self, worker: str, request: dict, lease_seconds: float,
                      now: datetime) -> int:
        self._require(PostingState.POSTED)
        if self.payment_status == "posted":
            raise DocumentError(f"the payment of {self.number} is booked already")
        if self.payment_claim_free_at(now) is not None:
            raise DocumentError("another attempt may still reach the target with this payment")
        self.trigger_event(self.PaymentStarted, attempt=self.payment_claim.attempt + 1,
                           worker=worker, request=request, lease_seconds=lease_seconds)
        return self.payment_claim.attempt

    @property
    def payment_may_have_reached_ledger(self) -> bool:
        return self.payment_claim.may_have_reached_ledger

    class PaymentInterrupted(Aggregate.Event):
        """As ``PostingInterrupted``, for the payment: the next attempt waits out
        ``settle_until`` and looks the payment up first."""

        TOPIC = "koppel:TargetPosting.PaymentInterrupted:v1"
        attempt: int
        error: str
        outcome_unknown: bool
        settle_until: datetime | None = None

        def apply(self, posting: "TargetPosting") -> None:
            posting.payment_status = "interrupted"
            posting.payment_claim = posting.payment_claim.given_back(self.settle_until)

    def interrupt_payment(self, error: str, outcome_unknown: bool,
                          settle_until: datetime | None) -> None:
        self._require_payment("posting")
        self.trigger_event(self.PaymentInterrupted, attempt=self.payment_claim.attempt,
                           error=error, outcome_unknown=outcome_unknown,
                           settle_until=settle_until if outcome_unknown else None)

    class PaymentLookedUp(Aggregate.Event):
        """An attempt asked the target whether the payment is there (``LookedUp`` is the
        sale's): the ledger's reference or None."""

        TOPIC = "koppel:TargetPosting.PaymentLookedUp:v1"
        found: dict | None

        def apply(self, posting: "TargetPosting") -> None:
            pass  # the audit's record; PaymentPosted acts on what was found

    def record_payment_lookup(self, found: dict | None) -> None:
        self.trigger_event(self.PaymentLookedUp, found=found)

    class PaymentPosted(Aggregate.Event):
        TOPIC = "koppel:TargetPosting.PaymentPosted:v1"
        reference: dict
        response: Any
        found_by_lookup: bool

        def apply(self, posting: "TargetPosting") -> None:
            posting.payment_status = "posted"
            posting.payment_reference = self.reference
            posting.payment_failure = None

    def record_payment(self, reference: dict, response: Any, found_by_lookup: bool) -> None:
        self._require_payment("posting")
        self.trigger_event(self.PaymentPosted, reference=reference, response=response,
                           found_by_lookup=found_by_lookup)

    class PaymentFailed(Aggregate.Event):
        """No open item, another amount (R8.2), or the target's refusal; the sale stays
        posted. The replay asked again tries it once more."""

        TOPIC = "koppel:TargetPosting.PaymentFailed:v1"
        code: str
        rule: str
        message_nl: str
        message_en: str
        detail: Any

        def apply(self, posting: "TargetPosting") -> None:
            posting.payment_status = "failed"
            posting.payment_failure = {"code": self.code, "rule": self.rule,
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

    class Retried(Aggregate.Event):
        """A person (or the replay asked again) runs a failed posting once more: the rules
        run again on the document's source with the target's settings now."""

        TOPIC = "koppel:TargetPosting.Retried:v1"
        by: str
        booking: dict
        settings_version: int

        def apply(self, posting: "TargetPosting") -> None:
            posting.booking = self.booking
            posting.settings_version = self.settings_version
            posting.status = PostingState.CHECKED
            posting.failure = None

    def retry(self, by: str, booking: dict, settings_version: int) -> None:
        self._require(PostingState.FAILED)
        self.trigger_event(self.Retried, by=by, booking=booking,
                           settings_version=settings_version)

    def _require(self, *states: str) -> None:
        if self.status not in states:
            raise DocumentError(f"the posting of {self.number} is {self.status}, expected "
                                f"one of {states}")
