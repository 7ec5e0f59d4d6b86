"""The dry run of a settings change over history (issue 13.2): what the rules would have
booked with a draft of the settings, document by document, next to what was booked.

Nothing is sent anywhere: the draft goes through ``build_booking``, the very function the
workers call (and ``koppel preview``), on the source each booking was made from, which the
document's events keep (``Received``/``Refreshed`` before its ``Checked``). What was booked is
the ``Checked`` booking itself, with the debtors account of the settings version it records.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Callable, Iterable, Protocol
from uuid import UUID

from application.app import Koppel
from application.settings import settings_from_dict
from domain.booking import Booking, build_booking
from domain.connection import Connection
from domain.document import Document, Status
from domain.money import ZERO
from domain.settings import Settings
from domain.source import DocumentError as UnreadableSource

READERS = 4  # documents read from the event store at once
SLICE = 200

# What a line is booked with: a difference in any of these is a changed line.
COMPARED = ("account", "vat_code", "vat_rate", "amount_excl", "vat_amount", "amount_incl")


class DocumentIndex(Protocol):
    """The documents of a connection whose booking date may fall in a period (the read model
    answers; the dry run decides with the draft's own date, R0.4)."""

    def __call__(self, conn_id: UUID, date_from: date, date_to: date) -> Iterable[UUID]: ...


@dataclass(frozen=True)
class LineChange:
    """One booking line, booked and with the draft. ``booked`` None: the draft adds it;
    ``draft`` None: the draft leaves it out."""

    booked: dict | None
    draft: dict | None
    changed: tuple[str, ...]

    @property
    def kind(self) -> str:
        if self.booked is None:
            return "added"
        if self.draft is None:
            return "removed"
        return "changed" if self.changed else "same"

    @property
    def line(self) -> dict:
        return self.draft if self.draft is not None else self.booked


@dataclass(frozen=True)
class Comparison:
    document_id: UUID
    kind: str
    number: str
    status: str
    posted: bool
    date: str
    booked_version: int | None
    lines: tuple[LineChange, ...]
    # {account: draft - booked} and {vat code: draft - booked}, revenue positive
    accounts: dict[str, Decimal]
    vat_codes: dict[str, Decimal]
    booked_checks: tuple[str, ...] = ()   # failed checks (codes) of what was booked
    draft_checks: tuple[str, ...] = ()    # failed checks with the draft
    problem: str = ""                     # the source cannot be read (R1)

    @property
    def changed(self) -> bool:
        return (any(line.kind != "same" for line in self.lines)
                or self.booked_checks != self.draft_checks or bool(self.problem)
                or any(self.accounts.values()) or any(self.vat_codes.values()))

    def to_dict(self) -> dict:
        """JSON-serialisable (amounts as strings); ``from_dict`` gives an equal comparison.
        A dry run in the workers keeps its result this way (``workers/dryrun_jobs.py``)."""
        return {
            "document_id": str(self.document_id), "kind": self.kind, "number": self.number,
            "status": self.status, "posted": self.posted, "date": self.date,
            "booked_version": self.booked_version,
            "lines": [{"booked": line.booked, "draft": line.draft,
                       "changed": list(line.changed)} for line in self.lines],
            "accounts": {key: str(amount) for key, amount in self.accounts.items()},
            "vat_codes": {key: str(amount) for key, amount in self.vat_codes.items()},
            "booked_checks": list(self.booked_checks), "draft_checks": list(self.draft_checks),
            "problem": self.problem,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Comparison":
        return cls(
            UUID(data["document_id"]), data["kind"], data["number"], data["status"],
            data["posted"], data["date"], data["booked_version"],
            tuple(LineChange(line["booked"], line["draft"], tuple(line["changed"]))
                  for line in data["lines"]),
            {key: Decimal(amount) for key, amount in data["accounts"].items()},
            {key: Decimal(amount) for key, amount in data["vat_codes"].items()},
            booked_checks=tuple(data["booked_checks"]),
            draft_checks=tuple(data["draft_checks"]), problem=data["problem"])


@dataclass
class DryRunResult:
    connection_id: UUID
    connection: str
    date_from: date
    date_to: date
    examined: int = 0
    documents: list[Comparison] = field(default_factory=list)   # the changed ones

    @property
    def posted(self) -> list[Comparison]:
        return [c for c in self.documents if c.posted]

    @property
    def open(self) -> list[Comparison]:
        return [c for c in self.documents if not c.posted]

    def totals(self, which: str = "accounts") -> dict[str, Decimal]:
        """The difference per account (``which="vat_codes"``: per VAT code) over the period."""
        out: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for comparison in self.documents:
            for key, amount in getattr(comparison, which).items():
                out[key] += amount
        return {key: amount for key, amount in sorted(out.items()) if amount}


class DryRuns:
    def __init__(self, app: Koppel, index: DocumentIndex) -> None:
        self.app = app
        self.index = index

    def run(self, conn_id: UUID, draft: Settings, date_from: date, date_to: date,
            progress: Callable[[int, int], None] | None = None) -> DryRunResult:
        """Compare every document of the period; ``progress(done, total)`` after each."""
        result = self.start(conn_id, date_from, date_to)
        candidates = self.candidates(conn_id, date_from, date_to)
        self.compare_documents(result, draft, settings_versions(self.app, conn_id), candidates,
                               progress)
        result.documents.sort(key=lambda c: (c.date, c.number))
        return result

    def start(self, conn_id: UUID, date_from: date, date_to: date) -> DryRunResult:
        """The empty result of a dry run of the connection (LookupError: there is none)."""
        connection = self.app.find_connection(conn_id)
        if connection is None:
            raise LookupError(f"no connection with id {conn_id}")
        return DryRunResult(conn_id, connection.name, date_from, date_to)

    def candidates(self, conn_id: UUID, date_from: date, date_to: date) -> list[UUID]:
        """The documents a dry run of the period goes through, in the order it does."""
        return list(self.index(conn_id, date_from, date_to))

    def compare_documents(self, result: DryRunResult, draft: Settings,
                          versions: dict[int, Settings], doc_ids: list[UUID],
                          progress: Callable[[int, int], None] | None = None,
                          after_slice: Callable[[int], bool] | None = None) -> None:
        """Add the comparisons of ``doc_ids`` to ``result`` (its documents left unsorted);
        ``progress(done, len(doc_ids))`` after each document, ``after_slice(done)`` after
        each ``SLICE`` of them, which stops there by answering False (a dry run in the
        workers saves each slice there, and goes on in its next message when time is up)."""
        # Reading a document is a round trip to the event store, comparing is a little CPU:
        # a few reads in flight at once keep the database busy while the rules run.
        # In slices, so a long period never holds every document in memory at once.
        done = 0
        with ThreadPoolExecutor(max_workers=READERS) as readers:
            for first in range(0, len(doc_ids), SLICE):
                for document in readers.map(self.app.find_document,
                                            doc_ids[first:first + SLICE]):
                    self._add(result, document, draft, versions)
                    done += 1
                    if progress is not None:
                        progress(done, len(doc_ids))
                if after_slice is not None and not after_slice(done):
                    return

    def _add(self, result: DryRunResult, document: Document | None, draft: Settings,
             versions: dict[int, Settings]) -> None:
        comparison = self.compare(document, draft, versions) if document else None
        if comparison is not None and \
                result.date_from <= date.fromisoformat(comparison.date) <= result.date_to:
            result.examined += 1
            if comparison.changed:
                result.documents.append(comparison)

    def compare(self, document: Document, draft: Settings,
                versions: dict[int, Settings]) -> Comparison | None:
        """None for a document with nothing to compare: no source from the shop, or set
        aside before the start date (no settings book it)."""
        if document.source is None or document.status == Status.BEFORE_START:
            return None
        posted = document.status in (Status.POSTED, Status.POSTING)
        booked = _booking(document.booking)
        source = source_as_booked(self.app, document) if posted else document.source
        booked_settings = versions.get(document.settings_version or 0)
        if booked is None and versions:
            # Not checked yet: compared with what the settings in force would book, so only
            # what the draft itself changes shows.
            booked_settings = versions[max(versions)]
            try:
                booked = build_booking(source, booked_settings)
            except UnreadableSource:
                booked = None
        try:
            proposed = build_booking(source, draft)
        except UnreadableSource as error:
            if booked is None:
                return None  # unreadable with any settings: the draft changes nothing (R1)
            day = booked.date.isoformat()
            return Comparison(document.id, document.kind, document.number, document.status,
                              posted, day, document.settings_version, (), {}, {},
                              problem=str(error))
        lines = compare_lines(booked.lines if booked else (), proposed.lines)
        accounts = _subtract(ledger_effect(proposed, draft),
                             ledger_effect(booked, booked_settings) if booked else {})
        vat = _subtract(vat_effect(proposed), vat_effect(booked) if booked else {})
        return Comparison(
            document.id, document.kind, document.number, document.status, posted,
            (booked or proposed).date.isoformat(), document.settings_version, lines,
            accounts, vat,
            booked_checks=tuple(c.code for c in booked.failed_checks) if booked else (),
            draft_checks=tuple(c.code for c in proposed.failed_checks))


# -- what was booked -------------------------------------------------------------------------

def _booking(data: dict | None) -> Booking | None:
    if not data or "lines" not in data:
        return None  # never checked, or its source could not be read
    return Booking.from_dict(data)


def source_as_booked(app: Koppel, document: Document) -> dict:
    """The source the posted booking was made from: a source the shop changed after posting
    is recorded (R5.7) but was never booked."""
    if not document.changed_after_posting:
        return document.source
    source = None
    booked_source = document.source
    for event in app.history(document.id):
        if isinstance(event, (Document.Received, Document.Refreshed)):
            source = event.source
        elif isinstance(event, Document.Checked):
            booked_source = source
    return booked_source


def settings_versions(app: Koppel, conn_id: UUID) -> dict[int, Settings]:
    """Every settings version of the connection, by number (the connection's events)."""
    versions: dict[int, Settings] = {}
    number = 0
    for event in app.events.get(conn_id):
        if isinstance(event, (Connection.Created, Connection.SettingsChanged)):
            number += 1
            try:
                versions[number] = settings_from_dict(event.settings)
            except ValueError:
                continue  # stored before a rule of today's validation: not needed to compare
    return versions


# -- comparing -------------------------------------------------------------------------------

def _key(line) -> tuple:
    """What makes a line the same line under other settings: not its account or code."""
    return (line.kind, line.code, line.description, line.vat_rate)


def compare_lines(booked: Iterable, proposed: Iterable) -> tuple[LineChange, ...]:
    """Pair the lines by what they are (kind, product, description, rate), in order; a line
    only one side has is added or removed (the draft can split OSS VAT out, R4.7, or need
    no rounding line, R4.6)."""
    remaining: dict[tuple, list] = defaultdict(list)
    for line in booked:
        remaining[_key(line)].append(line)
    changes = []
    for line in proposed:
        same_key = remaining.get(_key(line))
        before = same_key.pop(0) if same_key else None
        new = line.to_dict()
        if before is None:
            changes.append(LineChange(None, new, ()))
            continue
        old = before.to_dict()
        changes.append(LineChange(old, new, tuple(f for f in COMPARED if old[f] != new[f])))
    for lines in remaining.values():
        changes.extend(LineChange(line.to_dict(), None, ()) for line in lines)
    return tuple(changes)


def ledger_effect(booking: Booking, settings: Settings | None) -> dict[str, Decimal]:
    """What a booking puts on each account: each line's amount excl. VAT on its account
    (revenue positive), the total incl. VAT on the debtors account as a debit (negative)."""
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for line in booking.lines:
        out[line.account or "?"] += line.amount_excl
    if settings is not None:
        out[settings.ledger.debtors_account] -= booking.total_incl
    return dict(out)


def vat_effect(booking: Booking) -> dict[str, Decimal]:
    """The VAT each VAT code carries."""
    out: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for line in booking.lines:
        out[line.vat_code or "?"] += line.vat_amount
    return dict(out)


def _subtract(after: dict[str, Decimal], before: dict[str, Decimal]) -> dict[str, Decimal]:
    keys = set(after) | set(before)
    return {key: after.get(key, ZERO) - before.get(key, ZERO) for key in sorted(keys)
            if after.get(key, ZERO) != before.get(key, ZERO)}
