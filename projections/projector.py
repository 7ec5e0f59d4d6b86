"""Follows the event log into the read models.

Events are applied a page at a time (``projections.page``: the page's rows loaded with one
SELECT per table, folded in memory, written with one bulk upsert per table). Each page and the
tracking position are written in one transaction, so a read
model is never ahead of or behind its position, whatever crashes (it resumes after a restart).
The position is advanced by compare-and-set: several processes may run a projector over the
same database and each event is still applied once. Polling works on both stores (the
eventsourcing SQLite recorder has no subscription). Following the log and rebuilding it run the
same code; a rebuild only takes bigger pages.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from projections import bookings, documents, notices, parallel, targets, users
from projections.page import apply_page
from projections.store import ReadStore

log = logging.getLogger(__name__)

TRACKING = """
    CREATE TABLE IF NOT EXISTS projection_tracking (
        name TEXT PRIMARY KEY,
        position BIGINT NOT NULL
    )"""

# bookings reads the documents' rows: after them. targets reads only its own rows.
VIEWS = (documents, bookings, users, notices, targets)


Progress = Callable[[int, int], None]


class Projector:
    def __init__(self, app, store: ReadStore, batch_size: int = 500,
                 rebuild_batch_size: int = 5000, make_app: Callable | None = None,
                 rebuild_processes: int = 1) -> None:
        self.app = app
        self.store = store
        # A rebuild on PostgreSQL may be split over processes (projections.parallel): each
        # opens the event store anew with ``make_app`` (picklable).
        self.make_app = make_app
        self.rebuild_processes = rebuild_processes
        self.parallel_from = 50_000  # events; starting the processes takes a second or two
        self.batch_size = batch_size  # following the log: a page is what arrived meanwhile
        # Replaying it: bigger pages, fewer round trips, one document's events mostly within
        # one page (a page's memory is a few MB).
        self.rebuild_batch_size = rebuild_batch_size
        self.create_tables()

    def create_tables(self) -> None:
        with self.store.transaction() as cur:
            cur.execute(TRACKING)
            for view in VIEWS:
                for ddl in view.TABLES.values():
                    cur.execute(ddl)
                for ddl in view.INDEXES:
                    cur.execute(ddl)
            cur.execute("SELECT position FROM projection_tracking WHERE name = ?", [documents.NAME])
            if cur.fetchone() is None:
                cur.execute("INSERT INTO projection_tracking (name, position) VALUES (?, 0)",
                            [documents.NAME])

    def position(self) -> int:
        return int(self.store.scalar("SELECT position FROM projection_tracking WHERE name = ?",
                                     [documents.NAME]) or 0)

    def run_once(self, batch_size: int | None = None) -> int:
        """Apply the next page; returns how many events were applied (0: up to date)."""
        start = self.position()
        batch = list(self.app.notifications(start + 1, batch_size or self.batch_size))
        if not batch:
            return 0
        with self.store.transaction() as cur:
            moved = cur.execute(
                "UPDATE projection_tracking SET position = ? WHERE name = ? AND position = ?",
                [batch[-1][0], documents.NAME, start],
            )
            if moved != 1:
                return 0  # another projector applied this batch first; its transaction wins
            apply_page(cur, VIEWS, [event for _, event in batch])
        return len(batch)

    def catch_up(self, progress: Progress | None = None, batch_size: int | None = None) -> int:
        """Apply everything up to the log's end; returns how many events were applied.

        ``progress(done, total)`` after each page: the log's positions gone through since the
        start and those there were to go (positions, as counting a long log costs a scan)."""
        applied = 0
        start = self.position()
        end = self.app.recorder.max_notification_id() or 0
        if progress:
            progress(0, max(end - start, 0))
        while count := self.run_once(batch_size):
            applied += count
            if progress:
                done = self.position() - start
                progress(done, max(end - start, done))
        return applied

    def rebuild(self, progress: Progress | None = None) -> int:
        """Drop every read model and replay the whole log (I4)."""
        with self.store.transaction() as cur:
            for view in VIEWS:
                for table in view.TABLES:
                    cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.execute("DELETE FROM projection_tracking WHERE name = ?", [documents.NAME])
        self.create_tables()
        if self.rebuild_processes > 1 and self.make_app and self.store.dialect == "postgres" \
                and (self.app.recorder.max_notification_id() or 0) >= self.parallel_from:
            applied = self._rebuild_in_parts(progress)
            stop = self.position()
            if progress:  # what was appended meanwhile, counted on from there
                rest, progress = progress, lambda done, total: rest(stop + done, stop + total)
        else:
            applied = 0
        return applied + self.catch_up(progress, self.rebuild_batch_size)

    def _rebuild_in_parts(self, progress: Progress | None) -> int:
        """Replay up to the log's present end in ``rebuild_processes`` processes, while
        holding the tracking position: a projector in another process (``koppel serve``) waits
        and then carries on from the end, rather than applying the same events again."""
        import multiprocessing
        from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

        stop = self.app.recorder.max_notification_id() or 0
        parts = self.rebuild_processes
        parallel.start_parts(self.store, parts)
        with self.store.transaction() as held:
            held.execute("SELECT position FROM projection_tracking WHERE name = ? FOR UPDATE",
                         [documents.NAME])
            # Each part reads the log by raw pages of this size and folds its share of them.
            page = self.rebuild_batch_size * parts
            with ProcessPoolExecutor(parts,
                                     mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = [pool.submit(parallel.rebuild_part, self.make_app, self.store.url,
                                       part, parts, stop, page) for part in range(parts)]
                pending = futures
                while pending:
                    done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                    if any(f.exception() for f in done):
                        break
                    if progress:
                        progress(min(parallel.parts_position(self.store), stop), stop)
                applied = sum(f.result() for f in futures)  # raises a part's error
            held.execute("DELETE FROM projection_tracking WHERE name LIKE ?", [parallel.PARTS])
            held.execute("UPDATE projection_tracking SET position = ? WHERE name = ?",
                         [stop, documents.NAME])
        if progress:
            progress(stop, stop)
        return applied

    def run_forever(self, stop: threading.Event, interval: float = 0.2) -> None:
        while not stop.is_set():
            try:
                if self.run_once() == 0:
                    stop.wait(interval)
            except Exception:  # keep following the log; the error is logged with its cause
                log.exception("projector: applying events failed; retrying")
                stop.wait(1.0)

