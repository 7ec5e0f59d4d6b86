"""Pausing and resuming a connection: the one way, whoever asks (the Settings page, the CCV App
Store's uninstall and install, a ledger connected after an install).

Paused, koppel still takes the shop's documents in (every webhook is written to the inbox and
fetched, so nothing is lost, I2) but books nothing: processing stops before the rules with
``ConnectionPaused``, which the workers retry like any wait. Resumed, the documents that waited
are sent to processing at once instead of at their next retry (each is still booked once: the
claim and the ledger lookups of processing see to that, whoever sends it).
"""

from __future__ import annotations

from typing import Callable, Iterable
from uuid import UUID

from application.connections import ConnectionDirectory


class Pausing:
    def __init__(self, connections: ConnectionDirectory,
                 waiting: Callable[[UUID], Iterable[object]],
                 send: Callable[[str], object]) -> None:
        """``waiting(conn_id)``: the ids of the connection's documents that are not done;
        ``send(id)``: hands one to processing (the workers' queue)."""
        self.connections, self.waiting, self.send = connections, waiting, send

    def pause(self, conn_id: UUID, by: str, reason: str, replace: bool = False) -> bool:
        """False when it was paused already: the first reason stays, unless ``replace`` (then
        it is resumed and paused again in one change, so it never runs in between and nothing
        is sent on)."""
        def change(connection) -> bool:
            if replace and connection.paused not in (None, reason):
                connection.resume(by=by)
            return connection.pause(by=by, reason=reason)

        return self.connections.changed(conn_id, change)

    def resume(self, conn_id: UUID, by: str) -> bool:
        """False when it was not paused; else the documents that waited are sent on."""
        if not self.connections.changed(conn_id, lambda c: c.resume(by=by)):
            return False
        for doc_id in self.waiting(conn_id):
            self.send(str(doc_id))
        return True
