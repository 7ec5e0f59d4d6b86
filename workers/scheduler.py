"""The schedules of R8.3 and I2, run by exactly one ``koppel scheduler`` per installation.

Every job only *sends* work (the workers do it) and is idempotent, so a job that runs twice, or
overlaps a webhook, changes nothing twice. "Exactly one" is held by a lock in the database the
installation shares: a PostgreSQL advisory lock, or a file lock beside the SQLite file.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Callable

from projections import queries
from projections.store import ReadStore, postgres_params, sqlite_path
from workers.actors import Actors
from workers.dispatcher import Dispatcher
from workers.sweep import Sweeper

log = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = 0x6B6F7070  # "kopp"


@dataclass
class Job:
    name: str
    every: timedelta
    run: Callable[[], object]
    next_at: float = 0.0  # monotonic seconds; 0: run at start
    last_result: object = None


@dataclass
class Intervals:
    sweep: timedelta = timedelta(minutes=10)
    payments: timedelta = timedelta(hours=4)  # six times a day (R8.3)
    open_recheck: timedelta = timedelta(hours=24)  # every night (R8.3)
    requeue: timedelta = timedelta(minutes=1)


@dataclass
class Scheduler:
    jobs: list[Job] = field(default_factory=list)

    def run_due(self, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        ran = []
        for job in self.jobs:
            if now < job.next_at:
                continue
            try:
                job.last_result = job.run()
                log.info("scheduler: %s: %s", job.name, job.last_result)
            except Exception:  # a failing job is tried again next round, the others go on
                log.exception("scheduler: %s failed", job.name)
            job.next_at = now + job.every.total_seconds()
            ran.append(job.name)
        return ran

    def run_forever(self, stop: threading.Event, tick: float = 1.0) -> None:
        while not stop.is_set():
            self.run_due()
            stop.wait(tick)


def recheck_payments(store: ReadStore, actors: Actors) -> int:
    rows = queries.payments_to_check(store)
    for row in rows:
        actors.process.send(row["id"], True)
    return len(rows)


def recheck_open(store: ReadStore, actors: Actors) -> int:
    """Every open document is fetched again from the shop and taken as far as it goes."""
    rows = store.query("SELECT id, connection_id, kind, shop_id FROM documents WHERE status "
                       "NOT IN ('posted', 'failed')")
    for row in rows:
        actors.intake.send(row["connection_id"], row["kind"], int(row["shop_id"]), "recheck")
    return len(rows)


def build_scheduler(store: ReadStore, actors: Actors, dispatcher: Dispatcher,
                    sweeper: Sweeper, intervals: Intervals = Intervals()) -> Scheduler:
    return Scheduler([
        Job("requeue", intervals.requeue, dispatcher.run_once),
        Job("sweep", intervals.sweep, lambda: sweeper.run_once().__dict__),
        Job("payments", intervals.payments, lambda: recheck_payments(store, actors)),
        Job("open", intervals.open_recheck, lambda: recheck_open(store, actors)),
    ])


class SchedulerLock:
    """Held while this process is the installation's scheduler."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._held = None

    def acquire(self) -> bool:
        if self.database_url.startswith("sqlite:///"):
            path = Path(sqlite_path(self.database_url) + ".scheduler.lock")
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                return False
            self._held = handle
            return True
        import psycopg

        params = postgres_params(self.database_url)
        connection = psycopg.connect(autocommit=True, **params)
        got = connection.execute("SELECT pg_try_advisory_lock(%s)",
                                 [ADVISORY_LOCK_KEY]).fetchone()[0]
        if not got:
            connection.close()
            return False
        self._held = connection  # the lock lives as long as this session
        return True

    def release(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None
