"""A history import: the shop's documents of one period before the start date, booked on the
merchant's request, through the same intake and processing as every other document.

The documents to take are listed once and recorded with the start, so the import's progress
is a position in that list: a killed importer goes on from its last recorded position (the
documents after it are taken in again, which changes nothing: intake and posting are exactly
once per document). Its events are what the page and the terminal show, from any process.
"""

from __future__ import annotations

from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.ids import KOPPEL_NAMESPACE


class ImportState:
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"


def import_id(connection_id: UUID, start: str, end: str) -> UUID:
    """The same period of the same connection is the same import: asking again resumes it."""
    return uuid5(KOPPEL_NAMESPACE, f"history-import:{connection_id}:{start}:{end}")


class HistoryImport(Aggregate):
    TOPIC = "koppel:HistoryImport"

    class Started(Aggregate.Created):
        TOPIC = "koppel:HistoryImport.Started:v1"
        connection_id: UUID
        kind: str
        start: str
        end: str
        by: str
        shop_ids: list

    class Created(Aggregate.Created):
        """Never triggered (an import is created by ``Started``); the library asks for one."""

        TOPIC = "koppel:HistoryImport.Created:unused"

    def __init__(self, connection_id: UUID, kind: str, start: str, end: str, by: str,
                 shop_ids: list) -> None:
        self.connection_id = connection_id
        self.kind = kind
        self.start = start
        self.end = end
        self.shop_ids = [int(i) for i in shop_ids]
        self.position = 0  # documents before it are taken in and processed
        self.state = ImportState.RUNNING
        self.runs = 1

    @staticmethod
    def create_id(connection_id: UUID, start: str, end: str) -> UUID:
        return import_id(connection_id, start, end)

    @classmethod
    def begin(cls, connection_id: UUID, kind: str, start: str, end: str, by: str,
              shop_ids: list[int]) -> "HistoryImport":
        return cls._create(cls.Started, connection_id=connection_id, kind=kind, start=start,
                           end=end, by=by, shop_ids=[int(i) for i in shop_ids])

    @property
    def total(self) -> int:
        return len(self.shop_ids)

    @property
    def remaining(self) -> list[int]:
        return self.shop_ids[self.position:]

    class Restarted(Aggregate.Event):
        """The same period asked for again after it finished: listed anew (the shop may have
        more now); what was booked before stays booked once."""

        TOPIC = "koppel:HistoryImport.Restarted:v1"
        by: str
        shop_ids: list

        def apply(self, imported: "HistoryImport") -> None:
            imported.shop_ids = list(self.shop_ids)
            imported.position = 0
            imported.state = ImportState.RUNNING
            imported.runs += 1

    def restart(self, by: str, shop_ids: list[int]) -> None:
        if self.state != ImportState.FINISHED:
            raise ValueError("only a finished import starts again; this one goes on")
        self.trigger_event(self.Restarted, by=by, shop_ids=[int(i) for i in shop_ids])

    class Advanced(Aggregate.Event):
        TOPIC = "koppel:HistoryImport.Advanced:v1"
        position: int

        def apply(self, imported: "HistoryImport") -> None:
            imported.position = self.position

    def advance(self, position: int) -> None:
        if not self.position < position <= self.total:
            raise ValueError(f"position {position} is not ahead of {self.position}")
        self.trigger_event(self.Advanced, position=position)

    class Paused(Aggregate.Event):
        TOPIC = "koppel:HistoryImport.Paused:v1"
        by: str

        def apply(self, imported: "HistoryImport") -> None:
            imported.state = ImportState.PAUSED

    def pause(self, by: str) -> bool:
        if self.state != ImportState.RUNNING:
            return False
        self.trigger_event(self.Paused, by=by)
        return True

    class Resumed(Aggregate.Event):
        TOPIC = "koppel:HistoryImport.Resumed:v1"
        by: str

        def apply(self, imported: "HistoryImport") -> None:
            imported.state = ImportState.RUNNING

    def resume(self, by: str) -> bool:
        if self.state != ImportState.PAUSED:
            return False
        self.trigger_event(self.Resumed, by=by)
        return True

    class Finished(Aggregate.Event):
        TOPIC = "koppel:HistoryImport.Finished:v1"

        def apply(self, imported: "HistoryImport") -> None:
            imported.state = ImportState.FINISHED

    def finish(self) -> None:
        if self.position != self.total:
            raise ValueError("an import finishes when every listed document is taken in")
        self.trigger_event(self.Finished)
