"""A correction of a posted booking after a settings change: a reversal, then a new booking.

A posted document is never posted twice (R5.7); when a merchant applies new settings and asks
for it, koppel books two new ledger documents instead: the reversal of what was booked (R7.1 the same
rows with amounts negated, R7.2 a credit invoice, R7.3 a credit note) and the booking the new settings make. Each has its own number,
derived from the sales number and the settings version (``<number>-R<v>``, ``<number>-C<v>``,
see ``correction_number``), so each is found again in the ledger by that number (a Billit
order by its own external id, ``part_external_id``), and each goes through the same claim
protocol as a sale (I1): the claim is saved before the ledger is called, an attempt after the
first looks the number up first, and after an unknown outcome no attempt starts before the
settle window ends. The aggregate id is derived from the document and the settings version:
asking twice for the same correction lands on the same aggregate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.document import Claim, DocumentError
from domain.ids import KOPPEL_NAMESPACE

REVERSAL, REBOOKING = "reversal", "rebooking"
PARTS = (REVERSAL, REBOOKING)  # in this order: the new booking only after the reversal


def correction_id(document_id: UUID, settings_version: int) -> UUID:
    return uuid5(KOPPEL_NAMESPACE, f"correction:{document_id}:{settings_version}")


def correction_number(sales_number: str, part: str, settings_version: int) -> str:
    """The ledger number of a part: unique per document and settings version.

    mapping.md has no rule for it; it derives from R2.1 (every ledger document has a unique
    number, the shop's number with the connection's prefix) and the document kinds of R7.x:
    ``<number>-R<v>`` for the reversal and ``<number>-C<v>`` for the new booking, ``<number>``
    the posted document's own. It ends in a digit, as e-Boekhouden requires of an invoice
    number (FACT_009). Where it goes: R7.1 the mutation's ``invoiceNumber``; R7.2 the
    invoice's ``invoiceNumber`` when the shop numbers invoices and always its ``reference`` (by
    which it is found when the ledger numbers it); R7.3 the order's ``OrderTitle`` and
    ``PaymentReference`` (where R7.3 puts the shop number; Billit numbers the order itself and
    finds it by ``part_external_id``)."""
    return f"{sales_number}-{'R' if part == REVERSAL else 'C'}{settings_version}"


def part_external_id(correction: UUID, part: str) -> str:
    """R7.3: a part's ``ExternalProviderID`` and ``Idempotency-Key``, derived from the
    correction and the part, so every attempt sends the same and a lookup finds it again."""
    return str(uuid5(KOPPEL_NAMESPACE, f"correction-part:{correction}:{part}"))


class Correction(Aggregate):
    TOPIC = "koppel:Correction"

    class Requested(Aggregate.Created):
        """A person asked for the correction bookings of one posted document, with why.
        ``requests``: the reversal's and the new booking's ledger requests, fixed here so
        every attempt sends exactly the same."""

        TOPIC = "koppel:Correction.Requested:v1"
        document_id: UUID
        connection_id: UUID
        number: str
        settings_version: int
        by: str
        reason: str
        requests: dict

    class Created(Aggregate.Created):
        """Never triggered (see ``Document.Created``)."""

        TOPIC = "koppel:Correction.Created:unused"

    def __init__(self, document_id: UUID, connection_id: UUID, number: str,
                 settings_version: int, by: str, reason: str, requests: dict) -> None:
        self.document_id = document_id
        self.connection_id = connection_id
        self.number = number
        self.settings_version = settings_version
        self.by = by
        self.reason = reason
        self.requests = requests
        self.claims = {part: Claim() for part in PARTS}
        self.states: dict[str, str | None] = {part: None for part in PARTS}
        self.references: dict[str, dict | None] = {part: None for part in PARTS}
        self.failure: dict | None = None

    @staticmethod
    def create_id(document_id: UUID, settings_version: int) -> UUID:
        return correction_id(document_id, settings_version)

    @classmethod
    def request(cls, document_id: UUID, connection_id: UUID, number: str,
                settings_version: int, by: str, reason: str, requests: dict) -> "Correction":
        if not reason.strip():
            raise DocumentError("a correction needs a reason (it goes into the audit trail)")
        if set(requests) != set(PARTS):
            raise DocumentError(f"a correction has the parts {PARTS}")
        return cls._create(cls.Requested, document_id=document_id,
                           connection_id=connection_id, number=number,
                           settings_version=settings_version, by=by, reason=reason,
                           requests=requests)

    # -- what is next ----------------------------------------------------------------------

    @property
    def next_part(self) -> str | None:
        """The part to book now; None when both are posted or one failed."""
        if self.failure is not None:
            return None
        for part in PARTS:
            if self.states[part] != "posted":
                return part
        return None

    @property
    def done(self) -> bool:
        return self.failure is None and self.next_part is None

    def claim_free_at(self, part: str, now: datetime) -> datetime | None:
        return self.claims[part].busy_until(now, live=self.states[part] == "posting")

    def may_have_reached_ledger(self, part: str) -> bool:
        return self.claims[part].may_have_reached_ledger

    # -- the claim protocol, per part (as Document's for the sale) --------------------------

    class Started(Aggregate.Event):
        TOPIC = "koppel:Correction.Started:v1"
        part: str
        attempt: int
        worker: str
        lease_seconds: float

        def apply(self, correction: "Correction") -> None:
            correction.states[self.part] = "posting"
            correction.claims[self.part] = correction.claims[self.part].taken(self)

    def start(self, part: str, worker: str, lease_seconds: float, now: datetime) -> int:
        if part != self.next_part:
            raise DocumentError(f"the {part} of correction {self.number} is not next")
        if self.claim_free_at(part, now) is not None:
            raise DocumentError(f"another attempt may still reach the ledger with the {part}")
        self.trigger_event(self.Started, part=part, attempt=self.claims[part].attempt + 1,
                           worker=worker, lease_seconds=lease_seconds)
        return self.claims[part].attempt

    class Interrupted(Aggregate.Event):
        TOPIC = "koppel:Correction.Interrupted:v1"
        part: str
        attempt: int
        error: str
        outcome_unknown: bool
        settle_until: datetime | None

        def apply(self, correction: "Correction") -> None:
            correction.states[self.part] = "interrupted"
            correction.claims[self.part] = correction.claims[self.part].given_back(
                self.settle_until)

    def interrupt(self, part: str, error: str, outcome_unknown: bool,
                  settle_until: datetime | None) -> None:
        self._require_posting(part)
        self.trigger_event(self.Interrupted, part=part, attempt=self.claims[part].attempt,
                           error=error, outcome_unknown=outcome_unknown,
                           settle_until=settle_until if outcome_unknown else None)

    class LookedUp(Aggregate.Event):
        TOPIC = "koppel:Correction.LookedUp:v1"
        part: str
        found: dict | None

        def apply(self, correction: "Correction") -> None:
            pass  # for the audit (I3)

    def record_lookup(self, part: str, found: dict | None) -> None:
        self.trigger_event(self.LookedUp, part=part, found=found)

    class Posted(Aggregate.Event):
        TOPIC = "koppel:Correction.Posted:v1"
        part: str
        reference: dict
        response: Any
        found_by_lookup: bool

        def apply(self, correction: "Correction") -> None:
            correction.states[self.part] = "posted"
            correction.references[self.part] = self.reference

    def record_posted(self, part: str, reference: dict, response: Any,
                      found_by_lookup: bool) -> None:
        self._require_posting(part)
        self.trigger_event(self.Posted, part=part, reference=reference, response=response,
                           found_by_lookup=found_by_lookup)

    class Failed(Aggregate.Event):
        """The ledger refused a part, or its number holds another booking: nothing more is
        sent for this correction; the accountant corrects by hand (the list says so)."""

        TOPIC = "koppel:Correction.Failed:v1"
        part: str
        code: str
        message_nl: str
        message_en: str
        detail: Any

        def apply(self, correction: "Correction") -> None:
            correction.states[self.part] = "failed"
            correction.failure = {"part": self.part, "code": self.code,
                                  "message_nl": self.message_nl, "message_en": self.message_en}

    def fail(self, part: str, code: str, message_nl: str, message_en: str,
             detail: Any = None) -> None:
        self._require_posting(part)
        self.trigger_event(self.Failed, part=part, code=code, message_nl=message_nl,
                           message_en=message_en, detail=detail)

    def _require_posting(self, part: str) -> None:
        if self.states[part] != "posting":
            raise DocumentError(f"the {part} of correction {self.number} is "
                                f"{self.states[part]}, not being posted")


def application_id(connection_id: UUID, settings_version: int) -> UUID:
    return uuid5(KOPPEL_NAMESPACE, f"draft-applied:{connection_id}:{settings_version}")


class DraftApplied(Aggregate):
    """A draft of the settings was applied after a dry run over a period: who, why, and what
    it did to the period's documents (the audit trail of the change, I3). The settings
    version itself is the connection's ``SettingsChanged``."""

    TOPIC = "koppel:DraftApplied"

    class Recorded(Aggregate.Created):
        TOPIC = "koppel:DraftApplied.Recorded:v1"
        connection_id: UUID
        settings_version: int
        by: str
        reason: str
        date_from: str
        date_to: str
        reprocessed: list   # numbers of documents not yet posted, run again with it
        corrections: list   # correction ids of posted documents, booked on request
        listed: list        # numbers of posted documents left to the accountant's list

    class Created(Aggregate.Created):
        TOPIC = "koppel:DraftApplied.Created:unused"

    def __init__(self, connection_id: UUID, settings_version: int, by: str, reason: str,
                 date_from: str, date_to: str, reprocessed: list, corrections: list,
                 listed: list) -> None:
        self.connection_id, self.settings_version = connection_id, settings_version
        self.by, self.reason = by, reason
        self.date_from, self.date_to = date_from, date_to
        self.reprocessed, self.corrections, self.listed = reprocessed, corrections, listed

    @staticmethod
    def create_id(connection_id: UUID, settings_version: int) -> UUID:
        return application_id(connection_id, settings_version)

    @classmethod
    def record(cls, **fields) -> "DraftApplied":
        return cls._create(cls.Recorded, **fields)
