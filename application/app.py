"""The event-sourced application: documents and connections in one event store.

Command methods follow the library's own style: load, call the aggregate, save. Persistence
(SQLite or PostgreSQL) comes from the environment the composition root passes in.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterator
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEventProtocol

from domain.connection import Connection
from domain.document import Document
from domain.ids import connection_id, document_id
from domain.relation import Relation


class Koppel(Application[UUID]):
    name = "koppel"
    # A document lives for a handful of events: no snapshots. A connection gains an event at
    # every OAuth token rotation (hourly with Billit) and is read for every message, so it is
    # snapshotted now and then.
    snapshotting_intervals = {Connection: 50}

    # -- documents -----------------------------------------------------------------------

    def find_document(self, doc_id: UUID) -> Document | None:
        try:
            return self.repository.get(doc_id)
        except AggregateNotFoundError:
            return None

    def document(self, doc_id: UUID) -> Document:
        return self.repository.get(doc_id)

    def document_of(self, conn_id: UUID, kind: str, shop_id: int) -> Document | None:
        return self.find_document(document_id(conn_id, kind, shop_id))

    def history(self, doc_id: UUID) -> list[DomainEventProtocol]:
        """Every event of one aggregate, oldest first (the audit)."""
        return list(self.events.get(doc_id))

    def notifications(self, start: int, limit: int) -> Iterator[tuple[int, DomainEventProtocol]]:
        """The log from ``start`` on, as (notification id, event): what projections follow."""
        for notification in self.recorder.select_notifications(start=start, limit=limit):
            yield notification.id, self.mapper.to_domain_event(notification)

    # -- relations (R6) -------------------------------------------------------------------

    def find_relation(self, relation_id: UUID) -> Relation | None:
        try:
            return self.repository.get(relation_id)
        except AggregateNotFoundError:
            return None

    # -- connections ---------------------------------------------------------------------

    def find_connection(self, conn_id: UUID) -> Connection | None:
        try:
            return self.repository.get(conn_id)
        except AggregateNotFoundError:
            return None

    def connection_named(self, name: str) -> Connection | None:
        return self.find_connection(connection_id(name))

    def save_connection(self, name: str, settings: dict, by: str,
                        start_date: datetime | None = None) -> tuple[Connection, bool]:
        """Create the connection, or change its settings; True when anything was recorded.
        A new connection books from ``start_date`` on, by default from now (its history is
        imported on purpose, never by accident)."""
        existing = self.connection_named(name)
        if existing is None:
            connection = Connection.create(name, settings)
            connection.set_start_date(start_date or datetime.now(timezone.utc), by=by)
            self.save(connection)
            return connection, True
        changed = existing.change_settings(settings, by=by)
        if changed:
            self.save(existing)
        return existing, changed

    # -- erasing (application/removal.py) ------------------------------------------------

    def delete_aggregates(self, ids: list[UUID]) -> None:
        """Delete these aggregates' stored events (and snapshots) from the event store.

        The one exception to an append-only log, and only for a merchant's explicit "erase
        the history": the customer data in those events must become unreadable."""
        for recorder in filter(None, (self.recorder, getattr(self.snapshots, "recorder", None))):
            _delete_from(recorder, ids)


def _delete_from(recorder, ids: list[UUID]) -> None:
    table = recorder.events_table_name
    datastore = recorder.datastore
    with datastore.transaction(commit=True) as cursor:
        if type(recorder).__module__.endswith("sqlite"):
            # Deleted rows' bytes are overwritten, not left in the file's free pages.
            cursor.execute("PRAGMA secure_delete = ON")
            cursor.executemany(f"DELETE FROM {table} WHERE originator_id = ?",
                               [(i.hex,) for i in ids])
            return
        from psycopg import sql

        statement = sql.SQL("DELETE FROM {} WHERE originator_id = ANY(%s)").format(
            sql.Identifier(*table.split(".")))
        cursor.execute(statement, [list(ids)])
