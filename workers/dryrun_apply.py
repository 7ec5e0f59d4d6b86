"""Applying a finished dry run's draft (issue 13.2) as a job: asked for on the dry run's page,
done by a worker a slice at a time (``workers/dryrun_runner.py``) from the documents the dry
run found, never by running the dry run again.

Done again after a worker stopped at any point (a message delivered twice, a worker killed,
a slice that failed and is retried), nothing is done twice: ``ApplyDraft`` records the settings
version once, asks a document again once for it, asks a correction once (its id), records the
application once (its id); here the position, the settings version and each slice's outcome
are saved together, guarded by the position, so of two workers on the same slice one saves it.

A dry run may be some time old when it is applied. A document it listed open that was posted
meanwhile (with the settings before the draft) is never posted again (R5.7): it goes on the
correction list. What remains: a document taken in after the dry run listed the period's
documents is not in its result; it is checked with whichever settings version is in force when
it is checked (the draft's, once the settings changed).

Kept in the read store next to the dry run (``workers/dryrun_jobs.py``), and forgotten with it:
what was done is in the event store for good (``DraftApplied``, the documents' and corrections'
own events).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable
from uuid import UUID

from application.apply_draft import Applied, ApplyDraft
from application.dryrun import Comparison, DryRunResult
from application.settings import settings_from_dict
from projections.store import ReadStore
from workers.dryrun_jobs import DryRunJob, DryRunJobs
from workers.dryrun_jobs import State as DryRunState

# Documents between two saves of the progress: each one asked again fetches it from the shop
# first (an HTTP round trip), so far fewer than a dry run's slice. The time is looked at after
# every document, so a slow shop stops a slice early, well within the worker's time limit.
SLICE = 20

COLUMNS = ("job_id, requested_by, requested_at, reason, book_corrections, settings_version, "
           "total, position, state, finished_at")


class State:
    """As the dry run's (``workers.dryrun_jobs.State``): the page's script follows either."""

    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"  # its connection was removed meanwhile
    FAILED = "failed"    # a slice kept failing; asked for again it goes on where it stopped


@dataclass(frozen=True)
class Application:
    job_id: UUID
    requested_by: str
    requested_at: str
    reason: str
    book_corrections: bool
    settings_version: int | None  # recorded by the first slice
    total: int                    # the dry run's changed documents
    position: int                 # of those, handled
    state: str
    finished_at: str | None

    @classmethod
    def from_row(cls, row: dict) -> "Application":
        version = row["settings_version"]
        return cls(UUID(row["job_id"]), row["requested_by"], row["requested_at"], row["reason"],
                   bool(row["book_corrections"]), None if version is None else int(version),
                   int(row["total"]), int(row["position"]), row["state"], row["finished_at"])


def _outcome(applied: Applied) -> str:
    return json.dumps({"reprocessed": applied.reprocessed, "refused": applied.refused,
                       "corrections": [str(c) for c in applied.corrections],
                       "listed": applied.listed, "not_corrected": applied.not_corrected})


def _add_outcome(applied: Applied, text: str) -> None:
    data = json.loads(text)
    applied.reprocessed += data["reprocessed"]
    applied.refused += [tuple(item) for item in data["refused"]]
    applied.corrections += [UUID(c) for c in data["corrections"]]
    applied.listed += data["listed"]
    applied.not_corrected += [tuple(item) for item in data["not_corrected"]]


class _Overtaken(Exception):
    """Another worker saved this slice meanwhile (a message delivered twice): its part stands."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class DryRunApplications:
    def __init__(self, store: ReadStore, jobs: DryRunJobs, apply_draft: ApplyDraft) -> None:
        self.store, self.jobs, self.apply_draft = store, jobs, apply_draft  # its tables:
        # ``workers.dryrun_jobs.TABLES`` (forgotten with the dry run)

    def request(self, job: DryRunJob, *, by: str, reason: str,
                book_corrections: bool) -> tuple[Application, bool]:
        """Record the wish to apply the finished dry run ``job``; and whether a worker must be
        sent to it. Asked again while it runs or once it is done, nothing changes (the first
        wish stands); once it failed, it goes on where it stopped."""
        total = self.store.scalar("SELECT COUNT(*) FROM settings_dry_run_documents "
                                  "WHERE job_id = ?", [str(job.id)])
        with self.store.transaction() as cur:
            cur.execute("SELECT state FROM settings_dry_run_applications WHERE job_id = ?",
                        [str(job.id)])
            row = cur.fetchone()
            if row is None:  # of two requests at once, one inserts: the other's page shows it
                send = cur.execute(f"INSERT INTO settings_dry_run_applications ({COLUMNS}) "
                                   "VALUES (?, ?, ?, ?, ?, NULL, ?, 0, ?, NULL) "
                                   "ON CONFLICT (job_id) DO NOTHING",
                                   [str(job.id), by, _now(), reason, int(book_corrections),
                                    total, State.RUNNING]) == 1
            else:
                send = row[0] == State.FAILED and cur.execute(
                    "UPDATE settings_dry_run_applications SET state = ?, finished_at = NULL "
                    "WHERE job_id = ? AND state = ?",
                    [State.RUNNING, str(job.id), State.FAILED]) == 1
        return self.find(job.id), send

    def find(self, job_id: UUID) -> Application | None:
        rows = self.store.query(f"SELECT {COLUMNS} FROM settings_dry_run_applications "
                                "WHERE job_id = ?", [str(job_id)])
        return Application.from_row(rows[0]) if rows else None

    def unfinished(self) -> list[UUID]:
        return [UUID(row["job_id"]) for row in self.store.query(
            "SELECT job_id FROM settings_dry_run_applications WHERE state = ? "
            "ORDER BY requested_at", [State.RUNNING])]

    def run(self, job_id: UUID, queue: Callable[[UUID], None],
            book: Callable[[UUID], None],
            keep_going: Callable[[], bool] = lambda: True) -> Application:
        """Apply the next documents while ``keep_going()`` (asked after each, one document at
        least), the outcome saved with the position after each ``SLICE`` of them and where it
        stops; the last records the application. ``queue(doc_id)`` sends a document asked again to the workers,
        ``book(correction_id)`` a correction, before the slice is saved: a worker stopped
        between the two sends them again, which runs nothing twice (both are idempotent), while
        one stopped after saving would have lost them."""
        application, job = self.find(job_id), self.jobs.find(job_id)
        if application is None or job is None:
            raise LookupError(f"no application of dry run {job_id}")
        if application.state != State.RUNNING:
            return application
        if job.state != DryRunState.FINISHED or \
                self.apply_draft.app.find_connection(job.connection_id) is None:
            self._end(job_id, State.STOPPED)  # the connection was removed meanwhile
            return self.find(job_id)
        draft = settings_from_dict(job.draft)
        version = application.settings_version
        if version is None:
            version = self.apply_draft.new_version(job.connection_id, draft,
                                                   application.requested_by)
            self._write("UPDATE settings_dry_run_applications SET settings_version = ? "
                        "WHERE job_id = ? AND settings_version IS NULL", [version, str(job_id)])
            version = self.find(job_id).settings_version  # another worker's, if it was first
        since = self.apply_draft.version_since(job.connection_id, version)
        position = application.position
        try:
            while True:
                comparisons = self._documents(job, position)
                if not comparisons:
                    self._finish(job, application, version)
                    break
                part = Applied(version, DryRunResult(job.connection_id, "", job.date_from,
                                                     job.date_to))
                done = 0
                for comparison in comparisons:  # a slow shop: the time is looked at each one
                    self.apply_draft.handle(part, [comparison], draft, since,
                                            by=application.requested_by,
                                            reason=application.reason,
                                            book_corrections=application.book_corrections,
                                            queue=queue)
                    done += 1
                    if not keep_going():
                        break
                for correction in part.corrections:
                    book(correction)
                self._save(job_id, position, position + done, part)
                position += done
                if done < len(comparisons) or not keep_going():
                    break
        except _Overtaken:
            pass
        return self.find(job_id)

    def _documents(self, job: DryRunJob, position: int) -> list[Comparison]:
        """The dry run's changed documents from ``position`` on, a slice of them, in the
        order its page shows them (the same on every try: the dry run is finished)."""
        number = 'number COLLATE "C"' if self.store.dialect == "postgres" else "number"
        rows = self.store.query(
            "SELECT comparison FROM settings_dry_run_documents WHERE job_id = ? "
            f"ORDER BY booking_date, {number}, document_id LIMIT ? OFFSET ?",
            [str(job.id), SLICE, position])
        return [Comparison.from_dict(json.loads(row["comparison"])) for row in rows]

    def _save(self, job_id: UUID, before: int, after: int, part: Applied) -> None:
        with self.store.transaction() as cur:
            moved = cur.execute(
                "UPDATE settings_dry_run_applications SET position = ? "
                "WHERE job_id = ? AND position = ? AND state = ?",
                [after, str(job_id), before, State.RUNNING])
            if moved != 1:
                raise _Overtaken()
            cur.insert("settings_dry_run_applied", ("job_id", "position", "outcome"),
                       [(str(job_id), before, _outcome(part))])

    def applied(self, job: DryRunJob, application: Application) -> Applied:
        """What applying did so far (all of it once finished), as ``ApplyDraft.apply`` says."""
        applied = Applied(application.settings_version or 0,
                          DryRunResult(job.connection_id, "", job.date_from, job.date_to,
                                       examined=job.examined))
        for row in self.store.query("SELECT outcome FROM settings_dry_run_applied "
                                    "WHERE job_id = ? ORDER BY position", [str(job.id)]):
            _add_outcome(applied, row["outcome"])
        return applied

    def _finish(self, job: DryRunJob, application: Application, version: int) -> None:
        # Recorded once (its id) even when two workers get here: then the state is set twice.
        applied = self.applied(job, application)
        applied.settings_version = version
        self.apply_draft.record(job.connection_id, version, application.requested_by,
                                application.reason, job.date_from, job.date_to, applied)
        self._end(job.id, State.FINISHED)

    def fail(self, job_id: UUID) -> None:
        """Given up: the page says so; asked for again, it goes on from where it stopped."""
        self._end(job_id, State.FAILED)

    def _end(self, job_id: UUID, state: str) -> None:
        self._write("UPDATE settings_dry_run_applications SET state = ?, finished_at = ? "
                    "WHERE job_id = ? AND state = ?", [state, _now(), str(job_id), State.RUNNING])

    def _write(self, sql: str, params: list) -> None:
        with self.store.transaction() as cur:  # ``query`` reads the rows a write has none of
            cur.execute(sql, params)
