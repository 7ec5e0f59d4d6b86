"""The history import in the workers: a page (or any process) asks for it, a worker runs it.

One message runs a slice of the import (``SLICE_SECONDS``) and sends the next, so an import
of any length stays inside the worker's time limit, a pause takes effect within a slice, and
a worker that dies mid-slice leaves a message the broker delivers again (or, embedded, an
import the page shows as running and the next start goes on with: its position is recorded).
The documents themselves go to the ``process`` queue like every other document.
"""

from __future__ import annotations

import logging
import time
from uuid import UUID

import dramatiq

from application.connections import UnknownConnection
from application.history_import import HistoryImports
from domain.history_import import ImportState
from workers.actors import Actors

log = logging.getLogger(__name__)

SLICE_SECONDS = 20.0


class ImportRunner:
    def __init__(self, broker: dramatiq.Broker, imports: HistoryImports, actors: Actors,
                 prefix: str = "koppel") -> None:
        self.imports, self.actors = imports, actors
        self.run = dramatiq.actor(self._run, broker=broker, actor_name=f"{prefix}.import",
                                  queue_name=f"{prefix}.import")

    @property
    def queue(self) -> str:
        return self.run.queue_name

    def _run(self, import_id: str) -> None:
        started = time.monotonic()
        try:
            imported = self.imports.run(
                UUID(import_id), process=lambda doc_id: self.actors.process.send(str(doc_id)),
                keep_going=lambda: time.monotonic() - started < SLICE_SECONDS)
        except UnknownConnection:  # removed meanwhile: nothing more is taken in
            log.info("import %s: its connection was removed; stopped", import_id)
            return
        if imported.state == ImportState.RUNNING:
            self.run.send(import_id)  # the next slice
        log.info("import %s: %s at %d of %d", import_id, imported.state, imported.position,
                 imported.total)
