"""Applying a draft of the settings after its dry run (issue 13.2).

1. The draft becomes the connection's next settings version (``SettingsChanged`` with who).
   A draft never carries credentials: the stored (sealed) ones are kept as they are.
2. Documents of the period not yet posted whose booking the draft changes are asked for again
   (``Processing.request_reprocess``, who and why recorded) and queued: the normal path checks
   them with the new version.
3. Posted ones are never posted again (R5.7): they go on the correction list, and only when
   asked (``book_corrections``) get correction bookings (application/corrections.py), in
   the kind of document they were booked as (R7.1, R7.2, R7.3).
4. What was done is recorded with who and why (``DraftApplied``).

Each step may be done again without doing anything twice (an apply in the workers tried again
after a worker stopped half-way): the settings change is no change the second time, a
document asked for again with the new version is not asked again, a correction and the
record of the application have ids of their own (``correction_id``, ``application_id``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable, Iterable
from uuid import UUID

from eventsourcing.persistence import RecordConflictError

from application import settings as settings_file
from application.app import Koppel
from application.connections import ConnectionDirectory, _get_path, _set_path
from application.corrections import CannotCorrect, Corrections
from application.dryrun import Comparison, DryRunResult, DryRuns, source_as_booked
from application.errors import KoppelError
from application.processing import Processing
from domain.booking import build_booking
from domain.correction import DraftApplied, application_id
from domain.connection import Connection
from domain.document import Document, DocumentError, Status
from domain.settings import Settings


class DraftRefused(ValueError):
    """The draft cannot be applied as it is (named in the message)."""


@dataclass
class Applied:
    settings_version: int
    result: DryRunResult
    reprocessed: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)   # (number, the shop's word)
    corrections: list[UUID] = field(default_factory=list)
    listed: list[str] = field(default_factory=list)   # posted: on the correction list only
    # posted, asked to be corrected but not correctable by koppel: (number, NL, EN why)
    not_corrected: list[tuple[str, str, str]] = field(default_factory=list)


def stored_settings(draft: Settings, stored: dict) -> dict:
    """The draft as the connection stores it, with the stored credentials kept."""
    data = settings_file.settings_to_dict(draft)
    for path in settings_file.SECRET_FIELDS:
        kept = _get_path(stored, path)
        if kept:
            _set_path(data, path, copy.deepcopy(kept))
        elif _get_path(data, path) is not None:
            _set_path(data, path, "")
    return data


def without_secrets(stored: dict) -> dict:
    """The settings a draft starts from: every credential left empty (a page never shows
    one, and a draft never changes one)."""
    data = copy.deepcopy(stored)
    for path in settings_file.SECRET_FIELDS:
        if _get_path(data, path) is not None:
            _set_path(data, path, "")
    return data


class ApplyDraft:
    def __init__(self, app: Koppel, connections: ConnectionDirectory, processing: Processing,
                 dry_runs: DryRuns, corrections: Corrections) -> None:
        self.app, self.connections, self.processing = app, connections, processing
        self.dry_runs, self.corrections = dry_runs, corrections

    def apply(self, conn_id: UUID, draft: Settings, date_from: date, date_to: date, *,
              by: str, reason: str, book_corrections: bool = False,
              queue: Callable[[UUID], None] = lambda doc_id: None,
              result: DryRunResult | None = None) -> Applied:
        """All of it at once (the CLI): ``queue(doc_id)`` hands a document asked for again to
        the workers. ``result``: the dry run of this draft over this period when it was run
        already (else it is run here). The dashboard applies a dry run's result in the
        workers, a slice at a time, through the same steps (``workers/dryrun_apply.py``)."""
        if not reason.strip():
            raise DraftRefused("say why the settings change (it is recorded)")
        self.check(conn_id, draft)
        if result is None:
            result = self.dry_runs.run(conn_id, draft, date_from, date_to)
        version = self.new_version(conn_id, draft, by)
        applied = Applied(version, result)
        since = self.version_since(conn_id, version)
        for comparisons in (result.open, result.posted):
            self.handle(applied, comparisons, draft, since, by=by, reason=reason,
                        book_corrections=book_corrections, queue=queue)
        self.record(conn_id, version, by, reason, date_from, date_to, applied)
        return applied

    def check(self, conn_id: UUID, draft: Settings) -> None:
        """``DraftRefused`` for a draft that cannot be applied to this connection;
        LookupError: no such connection."""
        connection = self.app.find_connection(conn_id)
        if connection is None:
            raise LookupError(f"no connection with id {conn_id}")
        if draft.name != connection.name:
            raise DraftRefused(f"the draft is for {draft.name!r}, not {connection.name!r}")
        current = connection.settings
        if draft.ledger.system != current["ledger"]["system"]:
            raise DraftRefused("a draft cannot move the connection to another ledger: that is "
                               "a replay into the new ledger")
        if draft.shop.api_root != current["shop"]["api_root"]:
            raise DraftRefused("a draft cannot link the connection to another shop")

    def new_version(self, conn_id: UUID, draft: Settings, by: str) -> int:
        """The draft as the connection's settings, and their version. Nothing is recorded when
        the settings are the draft already (as stored: the credentials kept), so an apply
        tried again after it stopped half-way takes the version it recorded before."""
        stored = stored_settings(draft, self.app.find_connection(conn_id).settings)
        self.connections.changed(conn_id, lambda c: c.change_settings(stored, by=by))
        return self.app.find_connection(conn_id).settings_version

    def version_since(self, conn_id: UUID, version: int) -> datetime:
        """When settings version ``version`` was recorded: a document asked for again since
        then is run with it (or a later one)."""
        history = self.app.history(conn_id)
        since, seen = history[0].timestamp, 1
        for event in history:
            if isinstance(event, Connection.SettingsChanged):
                seen += 1
                if seen <= version:
                    since = event.timestamp
        return since

    def handle(self, applied: Applied, comparisons: Iterable[Comparison], draft: Settings,
               since: datetime, *, by: str, reason: str, book_corrections: bool,
               queue: Callable[[UUID], None]) -> None:
        """Steps 2 and 3 for these documents, their outcome added to ``applied``. Done again
        for the same documents (an apply tried again) it asks nothing twice: a document asked
        for again since ``since`` (``version_since``) or already checked with this settings
        version or a later one is not asked again (only queued again: the try before may have
        stopped before it queued it), a correction is asked once (``correction_id``)."""
        version = applied.settings_version
        for comparison in comparisons:
            if not comparison.posted:
                self._reprocess(applied, comparison, since, by, reason, queue)
                continue
            correction = None
            # Corrections.request refuses (CannotCorrect) what it cannot correct: a draft
            # that books another ledger system or kind of document, say; the list has it.
            if book_corrections and not comparison.draft_checks and not comparison.problem:
                try:
                    correction = self._ask_correction(comparison.document_id, draft, version,
                                                      by, reason)
                except CannotCorrect as why:
                    applied.not_corrected.append((comparison.number, why.message_nl,
                                                  why.message))
            if correction is None:
                applied.listed.append(comparison.number)
            else:
                applied.corrections.append(correction)

    def _reprocess(self, applied: Applied, comparison: Comparison, since: datetime, by: str,
                   reason: str, queue: Callable[[UUID], None]) -> None:
        doc_id = comparison.document_id
        document = self.app.document(doc_id)
        # The dry run listed it open; it may be posted by now, with the settings before the
        # draft: it is never posted again (R5.7) and goes on the correction list below.
        checked_with_it = (document.settings_version or 0) >= applied.settings_version
        if checked_with_it and document.status == Status.POSTED:
            applied.reprocessed.append(comparison.number)  # booked with the draft already
            return
        if not (checked_with_it or self._asked_since(doc_id, since)):
            try:
                self.processing.request_reprocess(doc_id, by=by, reason=reason)
            except DocumentError:  # posted meanwhile: never again (R5.7)
                applied.listed.append(comparison.number)
                return
            except KoppelError as error:
                applied.refused.append((comparison.number, error.message))
                return
        queue(doc_id)
        applied.reprocessed.append(comparison.number)

    def _asked_since(self, doc_id: UUID, since: datetime) -> bool:
        return any(isinstance(event, Document.ReprocessRequested) and event.timestamp >= since
                   for event in self.app.history(doc_id))

    def _ask_correction(self, doc_id: UUID, draft: Settings, version: int, by: str,
                        reason: str) -> UUID:
        """Raises ``CannotCorrect`` (with why) for a document koppel does not correct."""
        document = self.app.document(doc_id)
        proposed = build_booking(source_as_booked(self.app, document), draft)
        return self.corrections.request(doc_id, proposed, draft, version, by, reason)

    def record(self, conn_id: UUID, version: int, by: str, reason: str, date_from: date,
                date_to: date, applied: Applied) -> None:
        if application_id(conn_id, version) in self.app.repository:
            return  # the same version applied again: its first record stands
        record = DraftApplied.record(
            connection_id=conn_id, settings_version=version, by=by, reason=reason,
            date_from=date_from.isoformat(), date_to=date_to.isoformat(),
            reprocessed=applied.reprocessed, corrections=[str(c) for c in applied.corrections],
            listed=applied.listed)
        try:
            self.app.save(record)
        except RecordConflictError:
            pass
