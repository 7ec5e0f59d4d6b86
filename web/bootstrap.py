"""The composition root: builds koppel from configuration, and nothing else does.

Everything that chooses a concrete part (SQLite or PostgreSQL, which broker, the HTTP
connectors, the queue names) is decided here, once.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Mapping
from uuid import UUID

import dramatiq

from application.app import Koppel
from application.connections import ConnectionDirectory
from application.app_store import AppStore
from application.apply_draft import ApplyDraft
from application.corrections import Corrections
from application.dryrun import DryRuns
from application.history_import import HistoryImports
from application.onboarding import Onboarding
from application.pausing import Pausing
from application.processing import Processing
from application.reconciliation import Reconciliations
from application.replay import LedgerReplays
from application.users import Accounts
from application.secrets import SecretBox, webhook_token
from projections import queries
from projections.projector import Projector
from projections.reconciliation import BookedDocuments
from projections.queries import dry_run_candidates
from projections.store import ReadStore, dialect_of, postgres_params
from web import metrics
from web.config import Config, persistence_env
from web.connect_state import SpentStates
from web.logging_setup import LogContext
from web.webhooks import EVENTS
from workers.actors import Actors
from workers.broker import make_broker
from workers.connectors.factory import (BillitApp, HttpConnectors, RateLimits, TransportFor,
                                       real_network)
from workers.connectors.rate_limit import CallLimiter, Rate
from workers.dispatcher import Dispatcher
from workers.fairness import default_cap
from workers.correction_runner import CorrectionRunner
from workers.dryrun_jobs import DryRunJobs
from workers.dryrun_apply import DryRunApplications
from workers.dryrun_runner import ApplyRunner, DryRunRunner
from workers.import_runner import ImportRunner
from workers.inbox import Inbox
from workers.intake_markers import Intake, IntakeMarkers
from workers.publisher import Publisher
from workers.replay_runner import ReplayRunner
from workers.notifications import Notifier
from workers.reconcile_schedule import MonthlyReconciliation
from workers.scheduler import Intervals, Scheduler, SchedulerLock, build_scheduler
from workers.sweep import Sweeper

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    config: Config
    app: Koppel
    store: ReadStore
    connections: ConnectionDirectory
    processing: Processing
    projector: Projector
    inbox: Inbox
    broker: dramatiq.Broker
    actors: Actors
    dispatcher: Dispatcher
    sweeper: Sweeper
    spent_states: SpentStates
    accounts: Accounts
    notifier: Notifier
    imports: HistoryImports
    pausing: Pausing = None
    onboarding: Onboarding = None  # set right after: it needs the runtime's webhook addresses
    app_store: AppStore = None
    import_runner: ImportRunner = None
    dry_runs: DryRuns = None  # issue 13.2: a settings draft over history, and applying it
    dry_run_jobs: DryRunJobs = None  # the page's dry runs, run by the workers
    dry_run_runner: DryRunRunner = None
    corrections: Corrections = None
    apply_draft: ApplyDraft = None
    dry_run_applications: DryRunApplications = None  # applying a dry run's draft, in the
    apply_runner: ApplyRunner = None                  # workers too
    correction_runner: CorrectionRunner = None
    replays: LedgerReplays = None
    replay_runner: ReplayRunner = None
    publisher: Publisher = field(default_factory=Publisher)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list = field(default_factory=list)
    _workers: list = field(default_factory=list)
    _worker_threads: int = 0  # of this process's workers: the threads shared by connections
    _locks: list = field(default_factory=list)

    # -- intake from the web ---------------------------------------------------------------

    def webhook_address(self, connection_id, event: str) -> str:
        """The address the shop posts ``event`` to, with the connection's current token."""
        generation = self.connections.get(UUID(str(connection_id))).webhook_generation
        token = webhook_token(self.config.secret_key, connection_id, generation)
        return f"{self.config.public_url}/webhooks/{connection_id}/{token}/{event}"

    def accept_webhook(self, connection_id: str, kind: str, shop_id: int, event: str) -> int:
        """Write the hint down, then queue an intake from the publisher's thread unless one is
        queued or running for the document already (``workers.intake_markers``); a broker
        outage only delays it (the dispatcher re-sends pending inbox rows)."""
        now = datetime.now(timezone.utc).isoformat()
        entry = self.inbox.add(connection_id, kind, shop_id, event, now)
        intake = Intake(connection_id, kind, shop_id)
        if self.actors.markers.request(intake):
            self.publisher.publish(self.actors.send_intake, intake, f"webhook:{event}", entry)
        return entry

    # -- running -------------------------------------------------------------------------

    def start_workers(self, threads: int | None = None) -> dramatiq.Worker:
        threads = threads or self.config.worker_threads
        self._worker_threads += threads
        fairness = self.actors.fairness
        fairness.cap = self.config.threads_per_connection or default_cap(self._worker_threads)
        # The default cap keeps a thread free for other connections; with none, a lone
        # connection takes them all. A cap the operator set holds always.
        fairness.threads = None if self.config.threads_per_connection else self._worker_threads
        worker = dramatiq.Worker(self.broker, worker_threads=threads,
                                 queues={*self.actors.queues, self.import_runner.queue,
                                         self.correction_runner.queue,
                                         self.replay_runner.queue, self.dry_run_runner.queue})
        worker.start()
        self._workers.append(worker)
        if self.config.embedded:  # the in-process queue of the process before is gone:
            for job_id in self.dry_run_jobs.unfinished():  # its dry runs go on here
                self.dry_run_runner.run.send(str(job_id))
            for job_id in self.dry_run_applications.unfinished():  # and applying them
                self.apply_runner.run.send(str(job_id))
        return worker

    def intervals(self) -> Intervals:
        """The production schedule, with the sweep's interval from the configuration."""
        return Intervals(sweep=timedelta(seconds=self.config.sweep_interval),
                         digest_hour=self.config.digest_hour,
                         keep_handled_webhooks=timedelta(
                             days=self.config.inbox_retention_days))

    def scheduler(self, intervals: Intervals | None = None, lock=None) -> Scheduler:
        notifier = self.notifier if self.config.mail.configured else None
        monthly = MonthlyReconciliation(
            self.store, Reconciliations(self.connections, BookedDocuments(self.store)),
            notifier, self.config.public_url) if notifier is not None else None
        return build_scheduler(self.store, self.actors, self.dispatcher, self.sweeper,
                               intervals or self.intervals(), lock=lock, notifier=notifier,
                               monthly=monthly.run_once if monthly else None)

    def start_background(self, *, projector: bool = True,
                         schedule: Intervals | None = None) -> None:
        """The projector and, when ``schedule`` is given, the in-process scheduler (embedded:
        koppel runs as one process, so it is the installation's one scheduler)."""
        if projector:
            self._spawn("projector", self.projector.run_forever, self._stop)
        if schedule is not None:
            lock = SchedulerLock(self.config.database_url)
            if not lock.acquire():
                lock.release()
                log.warning("another koppel scheduler runs for this database; this process "
                            "schedules nothing (an installation has exactly one)")
                return
            self._locks.append(lock)
            if self.config.embedded:  # the one process: the queue of the one before is gone
                self.actors.markers.abandon_all()
            self._spawn("scheduler", self.scheduler(schedule, lock=lock).run_forever,
                        self._stop)

    def _spawn(self, name: str, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        self.publisher.stop()
        self._stop.set()
        for worker in self._workers:
            worker.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        for lock in self._locks:
            lock.release()
        self.broker.close()
        self.connections.close()
        self.store.close()
        self.app.close()


# Held while a process opens (and so creates) the PostgreSQL event store: "koppel"+1.
STORE_LOCK_KEY = 0x6B6F7071


def _open_event_store(config: Config) -> Koppel:
    """Opening the event store creates its tables and replaces its function; two PostgreSQL
    sessions replacing that function at once fail with "tuple concurrently updated", and the
    processes of an installation start together (gunicorn's workers, ``koppel worker``'s
    children): a web worker that fails to boot stops gunicorn. So they open it one at a time,
    under an advisory lock that ends with its connection."""
    env = persistence_env(config.database_url, config.pool_size)
    if dialect_of(config.database_url) != "postgres":
        return Koppel(env=env)
    import psycopg

    params = {k: v for k, v in postgres_params(config.database_url).items() if v}
    with psycopg.connect(**params, autocommit=True, connect_timeout=10,
                         application_name="koppel store lock") as lock:
        lock.execute("SELECT pg_advisory_lock(%s)", [STORE_LOCK_KEY])
        return Koppel(env=env)


def bootstrap(config: Config, *, transport_for: TransportFor = real_network,
              environ: Mapping[str, str] = os.environ) -> Runtime:
    app = _open_event_store(config)
    store = ReadStore(config.database_url, max_connections=config.pool_size)
    limits = RateLimits(CallLimiter(store), Rate.parse(config.shop_rate_limit),
                        Rate.parse(config.ledger_rate_limit),
                        shop_wait=min(2.0, config.time_limit_ms / 1000 / 4),
                        ledger_wait=min(20.0, config.time_limit_ms / 1000 / 4))
    systems = {config.eboekhouden_url: "eboekhouden", config.billit_url: "billit",
               config.billit_login_url: "billit"}
    connectors = HttpConnectors(
        config.eboekhouden_url, transport_for, config.http_timeout,
        BillitApp(config.billit_url, config.billit_login_url, config.billit_client_id,
                  config.billit_client_secret), limits, measure=metrics.measuring(systems))
    box = SecretBox(config.secret_key)
    directory = ConnectionDirectory(app, connectors, box, environ)
    processing = Processing(app, directory, claim_lease=config.claim_lease,
                            settle_window=config.settle_window,
                            claim_taken_over=metrics.claim_taken_over)
    # A rebuild (PostgreSQL) decodes the log in a process per core (projections.parallel);
    # the parts only read the event store this process has made.
    projector = Projector(app, store, make_app=partial(Koppel, env=persistence_env(
        config.database_url, 2, create_tables=False)),
        rebuild_processes=min(4, os.cpu_count() or 1))
    inbox = Inbox(store)
    broker = make_broker(config.broker_url, namespace=config.queue_prefix,
                         time_limit_ms=config.time_limit_ms)
    broker.add_middleware(LogContext())
    broker.add_middleware(metrics.MessageCounts())
    # An intake ends within the worker's time limit (Dramatiq stops it there and the actor
    # hands its marker back), so a marker running longer belongs to a killed worker.
    markers = IntakeMarkers(store, running_for=config.time_limit_ms / 1000 + 15)
    actors = Actors(broker, processing, inbox, markers, prefix=config.queue_prefix)
    actors.fairness.alone = lambda: int(
        store.scalar("SELECT COUNT(*) FROM connections") or 0) <= 1
    actors.on_deferred = lambda conn_id, reason: metrics.deferred(
        directory.name_of(conn_id), reason)
    dispatcher = Dispatcher(store, inbox, actors,
                            stale_after=timedelta(seconds=config.requeue_age))
    sweeper = Sweeper(app, store, directory, actors)
    accounts = Accounts(app, box, config.secret_key)
    notifier = Notifier(store, config.mail.send, config.public_url)
    imports = HistoryImports(app, directory, processing)
    runtime = Runtime(config, app, store, directory, processing, projector, inbox, broker,
                      actors, dispatcher, sweeper, SpentStates(store), accounts, notifier,
                      imports=imports)

    def unfinished(conn_id):
        projector.catch_up()  # a document taken in a moment ago is sent on too
        return queries.unfinished_documents(store, conn_id)

    runtime.pausing = Pausing(directory, unfinished, actors.process.send)
    runtime.onboarding = Onboarding(app, directory, runtime.pausing, runtime.webhook_address,
                                    EVENTS)
    runtime.app_store = AppStore(app, directory, runtime.onboarding, runtime.pausing)
    runtime.import_runner = ImportRunner(broker, imports, actors, prefix=config.queue_prefix)
    runtime.dry_runs = DryRuns(app, lambda conn_id, first, last: dry_run_candidates(
        store, conn_id, first, last))
    runtime.dry_run_jobs = DryRunJobs(store, runtime.dry_runs)
    runtime.dry_run_runner = DryRunRunner(broker, runtime.dry_run_jobs,
                                          prefix=config.queue_prefix)
    runtime.corrections = Corrections(app, directory, lease=processing.lease,
                                      settle_window=config.settle_window)
    runtime.apply_draft = ApplyDraft(app, directory, processing, runtime.dry_runs,
                                     runtime.corrections)
    runtime.correction_runner = CorrectionRunner(broker, runtime.corrections,
                                                 prefix=config.queue_prefix)
    runtime.dry_run_applications = DryRunApplications(store, runtime.dry_run_jobs,
                                                      runtime.apply_draft)
    runtime.apply_runner = ApplyRunner(
        broker, runtime.dry_run_applications,
        queue=lambda doc_id: actors.process.send(str(doc_id)),
        book=lambda correction: runtime.correction_runner.book.send(str(correction)),
        prefix=config.queue_prefix)

    def target_counts(tid):
        projector.catch_up()  # what was booked a moment ago is counted too
        return queries.target_counts(store, tid)

    runtime.replays = LedgerReplays(app, directory, processing, counts=target_counts)
    runtime.replay_runner = ReplayRunner(broker, runtime.replays, prefix=config.queue_prefix)
    actors.on_posted = runtime.replays.follow
    actors.on_target = runtime.replays.post
    return runtime
