"""Importing the shop's history: a period before the start date, booked on request.

First a dry run: which documents the period holds, how many of them would be booked and for
what total, which would wait for their payment or land in Errors, and which koppel booked
already; nothing is recorded and nothing reaches the ledger. Then the import: the period is
recorded on the connection (so the start date no longer holds these documents back), the
documents are listed once, and each is taken in and processed exactly as a webhook's would be
(``Processing.intake`` and ``Processing.process``). Paused, killed or asked again, it goes on
from its recorded position; nothing is booked twice, because every step is exactly once per
document.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Callable
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import RecordConflictError

from application.app import Koppel
from application.connections import ConnectionDirectory
from application.errors import TransientError
from application.processing import Processing
from domain.booking import build_booking
from domain.document import Status
from domain.history_import import HistoryImport, ImportState, import_id
from domain.modes import booked_kind, waits_for_payment
from domain.source import DocumentError as UnreadableSource
from domain.start_date import Period, moment

# Documents taken in between two recorded positions: what a killed importer does again.
CHUNK = 10


@dataclass
class DryRun:
    """What an import of the period would do now."""

    listed: int = 0
    to_book: int = 0
    total: Decimal = Decimal("0.00")  # incl. VAT, of the documents to book
    waiting: int = 0  # unpaid orders: booked once paid (R5.8)
    failing: Counter = field(default_factory=Counter)  # check code -> documents (Errors)
    booked_already: int = 0
    numbers: list[str] = field(default_factory=list)  # of the documents to book


@dataclass(frozen=True)
class Progress:
    state: str
    position: int
    total: int
    start: str
    end: str


class HistoryImports:
    def __init__(self, app: Koppel, connections: ConnectionDirectory,
                 processing: Processing) -> None:
        self.app, self.connections, self.processing = app, connections, processing

    # -- what the period holds -------------------------------------------------------------

    def listing(self, conn_id: UUID, period: Period) -> tuple[str, list[int]]:
        """The kind the connection books, and the shop's ids of those created in the period,
        oldest first."""
        connection = self.connections.get(conn_id)
        kind = booked_kind(connection.settings)
        shop = self.connections.shop(connection)
        items = shop.list_orders(since=period.start) if kind == "order" else \
            shop.list_invoices(since=period.start)
        found = []
        for item in items:
            created = item.get("create_date")
            try:
                when = moment(str(created)) if created else None
            except ValueError:
                when = None
            if when is not None and period.holds(when):
                found.append((when, int(item["id"])))
        return kind, [shop_id for _, shop_id in sorted(found)]

    def dry_run(self, conn_id: UUID, period: Period) -> DryRun:
        connection = self.connections.get(conn_id)
        shop = self.connections.shop(connection)
        kind, shop_ids = self.listing(conn_id, period)
        result = DryRun(listed=len(shop_ids))
        for shop_id in shop_ids:
            document = self.app.document_of(conn_id, kind, shop_id)
            if document is not None and document.status == Status.POSTED:
                result.booked_already += 1
                continue
            bundle = shop.fetch_order(shop_id) if kind == "order" else \
                shop.fetch_invoice(shop_id)
            try:
                booking = build_booking(bundle, connection.settings)
            except UnreadableSource:
                result.failing["SOURCE_UNREADABLE"] += 1
                continue
            if not booking.ok:
                result.failing[booking.failed_checks[0].code] += 1
            elif waits_for_payment(kind, booking, connection.settings):
                result.waiting += 1
            else:
                result.to_book += 1
                result.total += booking.total_incl
                result.numbers.append(booking.number)
        return result

    # -- the import ------------------------------------------------------------------------

    def start(self, conn_id: UUID, period: Period, by: str) -> HistoryImport:
        """Record the period on the connection and the import with its documents; the same
        period asked again goes on where it was (or, finished, starts over: nothing is
        booked twice)."""
        start, end = period.start.isoformat(), period.end.isoformat()
        existing = self.find(import_id(conn_id, start, end))
        if existing is not None and existing.state != ImportState.FINISHED:
            self.resume(existing.id, by)
            return self.get(existing.id)
        kind, shop_ids = self.listing(conn_id, period)
        self.connections.record(conn_id, lambda c: c.import_period(period, by=by))
        if existing is None:
            imported = HistoryImport.begin(conn_id, kind, start, end, by, shop_ids)
        else:
            imported = existing
            imported.restart(by, shop_ids)
        self.app.save(imported)
        return imported

    def run(self, imp_id: UUID, on_progress: Callable[[HistoryImport], None] | None = None,
            process: Callable[[UUID], object] | None = None,
            keep_going: Callable[[], bool] = lambda: True) -> HistoryImport:
        """Take in and process the import's documents from its position until it is done,
        paused, or ``keep_going()`` says stop (it is asked between chunks). ``process``: how
        a taken-in document is processed (default: here, at once; the workers' queue in
        production); a document that must wait (the ledger is down) is left to the workers'
        retries, like any other."""
        process = process or self._process_here
        while True:
            imported = self.get(imp_id)  # a pause may come from another process
            if imported.state != ImportState.RUNNING or not imported.remaining:
                break
            if not keep_going():
                return imported
            chunk = imported.remaining[:CHUNK]
            for shop_id in chunk:
                doc_id = self.processing.intake(imported.connection_id, imported.kind, shop_id,
                                                "import")
                if doc_id is not None:
                    process(doc_id)
            # Even when paused meanwhile: these documents are taken in.
            imported = self._record(imp_id, lambda i, n=len(chunk): i.advance(i.position + n))
            if on_progress:
                on_progress(imported)
        if imported.state == ImportState.RUNNING:
            imported = self._record(imp_id, lambda i: i.finish())
        return imported

    def _process_here(self, doc_id: UUID) -> None:
        try:
            self.processing.process(doc_id)
        except TransientError:
            pass  # it stays open; the re-queue job and the workers take it from there

    def pause(self, imp_id: UUID, by: str) -> HistoryImport:
        """The importer stops after the documents it is taking in now."""
        return self._record(imp_id, lambda i: i.pause(by=by))

    def resume(self, imp_id: UUID, by: str) -> HistoryImport:
        return self._record(imp_id, lambda i: i.resume(by=by))

    # -- reading ---------------------------------------------------------------------------

    def find(self, imp_id: UUID) -> HistoryImport | None:
        try:
            found = self.app.repository.get(imp_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, HistoryImport) else None

    def get(self, imp_id: UUID) -> HistoryImport:
        found = self.find(imp_id)
        if found is None:
            raise LookupError(f"no import {imp_id}")
        return found

    def progress(self, imp_id: UUID) -> Progress:
        imported = self.get(imp_id)
        return Progress(imported.state, imported.position, imported.total, imported.start,
                        imported.end)

    def _record(self, imp_id: UUID, command: Callable[[HistoryImport], object]) -> HistoryImport:
        """Run ``command`` on the import and save what it recorded; a pause saved meanwhile
        by another process (the page's button) is read and the command run again."""
        for _ in range(8):
            imported = self.get(imp_id)
            command(imported)
            try:
                self.app.save(imported)
            except RecordConflictError:
                continue
            return imported
        raise TransientError(f"import {imp_id} kept changing; try again")


def period_of(first: date | datetime, last: date | datetime) -> Period:
    """The period a merchant means by "from 1 March to 31 March": the last day included.
    A plain date is midnight UTC, as the shop's API counts (R0.4)."""
    def start_of(day: date | datetime) -> datetime:
        if not isinstance(day, datetime):
            day = datetime.combine(day, time())
        return moment(day)

    return Period(start_of(first), start_of(last) + timedelta(days=1))
