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
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date
from typing import Callable
from uuid import UUID

from eventsourcing.persistence import RecordConflictError

from application import settings as settings_file
from application.app import Koppel
from application.connections import ConnectionDirectory, _get_path, _set_path
from application.corrections import CannotCorrect, Corrections
from application.dryrun import DryRunResult, DryRuns, source_as_booked
from application.errors import KoppelError
from application.processing import Processing
from domain.booking import build_booking
from domain.correction import DraftApplied, application_id
from domain.document import DocumentError
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
              queue: Callable[[UUID], None] = lambda doc_id: None) -> Applied:
        """``queue(doc_id)`` hands a document asked for again to the workers."""
        if not reason.strip():
            raise DraftRefused("say why the settings change (it is recorded)")
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
        result = self.dry_runs.run(conn_id, draft, date_from, date_to)
        stored = stored_settings(draft, connection.settings)
        self.connections.changed(conn_id, lambda c: c.change_settings(stored, by=by))
        version = self.app.find_connection(conn_id).settings_version
        applied = Applied(version, result)
        for comparison in result.open:
            try:
                self.processing.request_reprocess(comparison.document_id, by=by, reason=reason)
            except DocumentError:  # posted meanwhile: never again (R5.7)
                applied.listed.append(comparison.number)
                continue
            except KoppelError as error:
                applied.refused.append((comparison.number, error.message))
                continue
            queue(comparison.document_id)
            applied.reprocessed.append(comparison.number)
        for comparison in result.posted:
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
        self._record(conn_id, version, by, reason, date_from, date_to, applied)
        return applied

    def _ask_correction(self, doc_id: UUID, draft: Settings, version: int, by: str,
                        reason: str) -> UUID:
        """Raises ``CannotCorrect`` (with why) for a document koppel does not correct."""
        document = self.app.document(doc_id)
        proposed = build_booking(source_as_booked(self.app, document), draft)
        return self.corrections.request(doc_id, proposed, draft, version, by, reason)

    def _record(self, conn_id: UUID, version: int, by: str, reason: str, date_from: date,
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
