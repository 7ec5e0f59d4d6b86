"""The schedules of R8.3 and I2, run by exactly one ``koppel scheduler`` per installation.

Every job only *sends* work (the workers do it) and is idempotent, so a job that runs twice, or
overlaps a webhook, changes nothing twice. "Exactly one" is held by a lock in the database the
installation shares: a PostgreSQL advisory lock, or a file lock beside the SQLite file. An
advisory lock lives as long as its session: when the connection drops (a database restart, a
network blip) the lock is gone and another scheduler may take it. So the lock is checked on its
own connection before every job, and a scheduler that lost it runs nothing until it holds it
again.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from projections import queries
from projections.store import ReadStore, postgres_params, sqlite_path
from workers.actors import Actors
from workers.dispatcher import Dispatcher
from workers.inbox import Inbox
from workers.notifications import Notifier
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
    reconnect_notices: timedelta = timedelta(minutes=1)  # "at once", give or take a minute
    digest: timedelta = timedelta(minutes=5)  # how often it looks whether the digest is due
    digest_hour: int = 7  # local time (workers.notifications.DIGEST_ZONE)
    inbox_retention: timedelta = timedelta(hours=24)  # how often handled webhooks are deleted
    keep_handled_webhooks: timedelta = timedelta(days=30)  # KOPPEL_INBOX_RETENTION_DAYS
    reconcile: timedelta = timedelta(hours=24)  # asks daily; each month is reconciled once


@dataclass
class Scheduler:
    jobs: list[Job] = field(default_factory=list)
    lock: "SchedulerLock | None" = None  # None: the caller makes sure it is the only one

    def run_due(self, now: float | None = None) -> list[str]:
        now = time.monotonic() if now is None else now
        ran = []
        if not self._holds_lock():  # also the heartbeat: a lost lock is noticed within a tick
            return ran
        for job in self.jobs:
            if now < job.next_at:
                continue
            if ran and not self._holds_lock():
                break
            try:
                job.last_result = job.run()
                log.info("scheduler: %s: %s", job.name, job.last_result)
            except Exception:  # a failing job is tried again next round, the others go on
                log.exception("scheduler: %s failed", job.name)
            job.next_at = now + job.every.total_seconds()
            ran.append(job.name)
        return ran

    def _holds_lock(self) -> bool:
        return self.lock is None or self.lock.check()

    def run_forever(self, stop: threading.Event, tick: float = 1.0) -> None:
        while not stop.is_set():
            self.run_due()
            stop.wait(tick)


def recheck_payments(store: ReadStore, actors: Actors) -> int:
    """R8.3: the connection's own payments not booked yet, and the further ledgers' payments
    that failed (a switched target too: the connection's check skips the sales it booked
    before the switch, and the target no longer follows)."""
    rows = queries.payments_to_check(store)
    for row in rows:
        actors.process.send(row["id"], True)
    targets = queries.target_payments_to_check(store)
    for row in targets:
        actors.target.send(row["target_id"], row["document_id"], True)
    return len(rows) + len(targets)


def recheck_open(store: ReadStore, actors: Actors) -> int:
    """Every open document is fetched again from the shop and taken as far as it goes
    (one set aside before the start date is not open: it waits for nothing)."""
    rows = store.query("SELECT id, connection_id, kind, shop_id FROM documents WHERE status "
                       "NOT IN ('posted', 'failed', 'before_start')")
    for row in rows:
        actors.intake.send(row["connection_id"], row["kind"], int(row["shop_id"]), "recheck")
    return len(rows)


def forget_handled_webhooks(inbox: Inbox, keep: timedelta,
                            now: datetime | None = None) -> int:
    """The inbox's retention rule: handled webhooks older than ``keep`` go, pending ones
    stay (``Inbox.forget_handled``)."""
    now = now or datetime.now(timezone.utc)
    return inbox.forget_handled((now - keep).isoformat())


def build_scheduler(store: ReadStore, actors: Actors, dispatcher: Dispatcher,
                    sweeper: Sweeper, intervals: Intervals = Intervals(),
                    lock: "SchedulerLock | None" = None, *,
                    notifier: Notifier | None = None,
                    monthly: Callable[[], object] | None = None) -> Scheduler:
    jobs = [
        Job("requeue", intervals.requeue, dispatcher.run_once),
        Job("sweep", intervals.sweep, lambda: sweeper.run_once().__dict__),
        Job("payments", intervals.payments, lambda: recheck_payments(store, actors)),
        Job("open", intervals.open_recheck, lambda: recheck_open(store, actors)),
        Job("inbox retention", intervals.inbox_retention,
            lambda: forget_handled_webhooks(dispatcher.inbox,
                                            intervals.keep_handled_webhooks)),
    ]
    if notifier is not None:  # an installation without e-mail sends no notices
        jobs += [Job("reconnect notices", intervals.reconnect_notices, notifier.send_reconnects),
                 Job("digest", intervals.digest,
                     lambda: notifier.send_due_digests(intervals.digest_hour))]
        if monthly is not None:  # the monthly reconciliation mails when something differs
            jobs.append(Job("reconcile", intervals.reconcile, monthly))
    return Scheduler(lock=lock, jobs=jobs)


class SchedulerLock:
    """Held while this process is the installation's scheduler."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.held = False
        self._file = None
        self._connection = None  # PostgreSQL: the session the advisory lock lives in
        self._unreachable = False

    def acquire(self) -> bool:
        """Take the lock if it is free; False when another scheduler holds it (or the
        database cannot be reached)."""
        if self.database_url.startswith("sqlite:///"):
            self.held = self.held or self._lock_file()
            return self.held
        try:
            connection = self._session()
            self.held = connection.execute("SELECT pg_try_advisory_lock(%s)",
                                           [ADVISORY_LOCK_KEY]).fetchone()[0]
        except Exception as error:  # psycopg's errors and socket errors alike
            if not self._unreachable:  # once an outage, not once a tick
                log.warning("scheduler: the database is unreachable for its lock: %s",
                            (str(error).strip() or repr(error)).splitlines()[0])
            self._unreachable = True
            self._close_session()
            self.held = False
        else:
            self._unreachable = False
        return self.held

    def check(self) -> bool:
        """Is the lock still ours? Asked on the lock's own connection before every job: a
        session that dropped took its advisory lock with it. A lost lock is taken again when
        it is free (the other scheduler stopped, or it was ours and the connection is back)."""
        if self.held and self._still_held():
            return True
        if self.held:
            log.warning("scheduler: lost the one-scheduler lock (its database connection "
                        "dropped); running no jobs until this process holds it again")
            self.held = False
            self._close_session()
        if self.acquire():
            log.warning("scheduler: holds the one-scheduler lock again; jobs resume")
        return self.held

    def release(self) -> None:
        if self.held and self._connection is not None:
            try:  # at once: a closed session's lock lingers until its backend has ended
                self._connection.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
            except Exception:
                pass  # the session is gone, and its lock with it
        self.held = False
        if self._file is not None:
            self._file.close()
            self._file = None
        self._close_session()

    # -- the two kinds of lock --------------------------------------------------------

    def _lock_file(self) -> bool:
        path = Path(sqlite_path(self.database_url) + ".scheduler.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle  # held while the file stays open; no connection to lose
        return True

    def _session(self):
        if self._connection is None or self._connection.closed:
            import psycopg

            # Keepalives on both ends: a session cut off by a broken network is ended by the
            # server within half a minute, so its lock does not outlive it for hours.
            self._connection = psycopg.connect(
                autocommit=True, connect_timeout=5, application_name="koppel scheduler lock",
                keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
                tcp_user_timeout=15000,
                options="-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 "
                        "-c tcp_keepalives_count=3",
                **postgres_params(self.database_url))
        return self._connection

    def _still_held(self) -> bool:
        if self._file is not None:
            return True
        try:
            return bool(self._connection.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid() AND objid = %s",
                [ADVISORY_LOCK_KEY]).fetchone()[0])
        except Exception:  # the connection is gone, and the lock with it
            return False

    def _close_session(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:
                pass
            self._connection = None
