"""Removing a connection, and erasing its history when the merchant asks for it.

Removed: nothing is taken in or booked any more (webhooks are refused, workers drop what is
queued for it), and the documents stay readable, as does every booking in the ledger.

Erased: an event store is append-only, so "erase" cannot mean an event that hides older ones:
the customer data (names, addresses, e-mail, phone, the shop's whole document) would still be
in the log. What koppel does instead, in this order, so a crash half-way is finished by asking
again:

1. ``Removed`` on the connection (nothing new arrives);
2. ``HistoryErased`` on the connection: a tombstone naming each document by id, kind, number,
   status and ledger reference, so "was order 1042 booked, and where" keeps its answer;
3. each document's events, and its customer's relation claim (keyed by their e-mail), are
   deleted from the event store (``Koppel.delete_aggregates``), and the read model drops its
   rows when it reads the tombstone.

Afterwards koppel cannot explain those bookings any more (no audit, no source, no lines); the
ledger keeps the bookings themselves. The connection's own settings history stays (it holds
no customer data; its secrets are sealed).
"""

from __future__ import annotations

from uuid import UUID

from application.connections import ConnectionDirectory
from domain.booking import Booking
from domain.debtor import relation_key
from domain.relation import Relation

ROUNDS = 5  # more than any in-flight intake needs: each round erases what arrived meanwhile


def remove(directory: ConnectionDirectory, documents_of, conn_id: UUID, by: str,
           erase: bool) -> int:
    """Remove the connection; with ``erase``, delete its documents' events. ``documents_of``
    lists the connection's documents (the read model, caught up). Returns the number of
    documents erased."""
    directory.record(conn_id, lambda connection: connection.remove(by=by, erase=erase))
    directory.forget_ports(conn_id)
    if not erase:
        return 0
    done = list(directory.app.find_connection(conn_id).erased)
    # An erase that stopped half-way (a crash after the tombstone) is finished first.
    done_ids = [UUID(entry["id"]) for entry in done]
    directory.app.delete_aggregates([*_relation_claims(directory.app, conn_id, done_ids),
                                     *done_ids])  # one transaction: all of them, or none
    for _ in range(ROUNDS):
        # A webhook already past the door when the connection was removed may still record a
        # document: the read model shows it once the tombstone is read, so erase it too.
        found = [{"id": str(row["id"]), "kind": row["kind"], "number": row["number"],
                  "status": row["status"], "ledger_reference": row.get("ledger_reference")}
                 for row in documents_of(conn_id)]
        if not found:
            break
        directory.record(conn_id, lambda c: c.record_erasure(by=by, documents=found))
        doc_ids = [UUID(entry["id"]) for entry in found]
        directory.app.delete_aggregates([*_relation_claims(directory.app, conn_id, doc_ids),
                                         *doc_ids])
        done += found
    return len(done)


def _relation_claims(app, conn_id: UUID, doc_ids: list[UUID]) -> list[UUID]:
    """The relation claims (domain/relation.py) these documents' customers made: their ids
    hold the customer's e-mail, so they go with the documents."""
    ids = []
    for doc_id in doc_ids:
        document = app.find_document(doc_id)
        booking = Booking.from_dict(document.booking) if document and document.booking else None
        email = booking.customer.email if booking else ""
        ids += [Relation.create_id(conn_id, relation_key(email, doc_id)),
                Relation.create_id(conn_id, relation_key("", doc_id))]
    return ids
