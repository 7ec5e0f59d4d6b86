"""A dry run of a settings draft as a job (issue 13.2): asked for in a request, run by a worker
a slice at a time (``workers/dryrun_runner.py``), its progress and result read by the page.

Kept in two tables of the read store, owned here as the webhook inbox owns its table, and not
in an aggregate: a dry run books nothing, changes nothing and can be computed again from the
event store at any time, so it has no history to keep forever (the history import and the
ledger replay are aggregates because what they did, documents taken in and postings made,
must be). A rebuild of the read models leaves these tables alone (they are no projection);
jobs are forgotten ``KEEP`` after they were asked for.

The draft is kept as the settings it was read as, with every credential emptied
(``without_secrets``), never as the text that was typed: the text may hold a credential
anywhere, even in a comment, and a dry run needs none (nothing is sent).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Callable
from uuid import UUID, uuid4

import tomli_w

from application.apply_draft import without_secrets
from application.dryrun import Comparison, DryRunResult, DryRuns, settings_versions
from application.settings import settings_from_dict, settings_to_dict
from domain.settings import Settings
from projections.store import ReadStore

KEEP = timedelta(days=7)

TABLES = (
    """CREATE TABLE IF NOT EXISTS settings_dry_runs (
        id TEXT PRIMARY KEY,
        connection_id TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        date_from TEXT NOT NULL,
        date_to TEXT NOT NULL,
        draft TEXT NOT NULL,
        candidates TEXT NOT NULL,
        total INTEGER NOT NULL,
        position INTEGER NOT NULL,
        examined INTEGER NOT NULL,
        changed INTEGER NOT NULL,
        posted INTEGER NOT NULL,
        accounts TEXT NOT NULL,
        vat_codes TEXT NOT NULL,
        state TEXT NOT NULL,
        finished_at TEXT
    )""",
    # The documents the draft books differently, as they are found (``Comparison.to_dict``),
    # with what the page orders them by.
    """CREATE TABLE IF NOT EXISTS settings_dry_run_documents (
        job_id TEXT NOT NULL,
        document_id TEXT NOT NULL,
        booking_date TEXT NOT NULL,
        number TEXT NOT NULL,
        comparison TEXT NOT NULL,
        PRIMARY KEY (job_id, document_id)
    )""",
    # Applying a finished dry run's draft (``workers/dryrun_apply.py``): who asked, why, and
    # how far it is; then what each slice of it did, in the order of the documents above.
    """CREATE TABLE IF NOT EXISTS settings_dry_run_applications (
        job_id TEXT PRIMARY KEY,
        requested_by TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        reason TEXT NOT NULL,
        book_corrections INTEGER NOT NULL,
        settings_version INTEGER,
        total INTEGER NOT NULL,
        position INTEGER NOT NULL,
        state TEXT NOT NULL,
        finished_at TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS settings_dry_run_applied (
        job_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        PRIMARY KEY (job_id, position)
    )""",
)
COLUMNS = ("id, connection_id, requested_by, requested_at, date_from, date_to, draft, total, "
           "position, examined, changed, posted, accounts, vat_codes, state, finished_at")


class State:
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"  # its connection was removed meanwhile
    FAILED = "failed"    # a slice kept failing (``workers/dryrun_runner.py``)


@dataclass(frozen=True)
class DryRunJob:
    id: UUID
    connection_id: UUID
    requested_by: str
    requested_at: str
    date_from: date
    date_to: date
    draft: dict          # settings_to_dict of the draft, credentials empty
    total: int           # documents to go through
    position: int        # documents gone through
    examined: int        # of those, documents of the period with something to compare
    changed: int         # of those, documents the draft books differently
    posted: int          # of those, posted ones
    # The difference per ledger account and per VAT code so far (draft - booked), so a page
    # of a year's dry run never reads every changed document to show them.
    accounts: dict[str, Decimal]
    vat_codes: dict[str, Decimal]
    state: str
    finished_at: str | None

    @property
    def draft_text(self) -> str:
        """The draft as a settings file, as the page shows it to change it further."""
        return tomli_w.dumps(self.draft)

    @classmethod
    def from_row(cls, row: dict) -> "DryRunJob":
        return cls(UUID(row["id"]), UUID(row["connection_id"]), row["requested_by"],
                   row["requested_at"], date.fromisoformat(row["date_from"]),
                   date.fromisoformat(row["date_to"]), json.loads(row["draft"]),
                   int(row["total"]), int(row["position"]), int(row["examined"]),
                   int(row["changed"]), int(row["posted"]), _amounts(row["accounts"]),
                   _amounts(row["vat_codes"]), row["state"], row["finished_at"])


@dataclass(frozen=True)
class Summary:
    """What a dry run's page shows: the counts, the totals, and the first ``shown``
    changed documents (the correction list has all of them: ``DryRunJobs.result``)."""

    examined: int
    changed: int
    posted: int
    shown: list[Comparison]
    accounts: dict[str, Decimal]
    vat_codes: dict[str, Decimal]

    @property
    def open(self) -> int:
        return self.changed - self.posted

    def totals(self, which: str = "accounts") -> dict[str, Decimal]:
        """As ``DryRunResult.totals``: by key, the differences that are not zero."""
        return {key: amount for key, amount in sorted(getattr(self, which).items()) if amount}


def _amounts(text: str) -> dict[str, Decimal]:
    return {key: Decimal(amount) for key, amount in json.loads(text).items()}


def _added(text: str, more: dict[str, Decimal]) -> str:
    out = _amounts(text)
    for key, amount in more.items():
        out[key] = out.get(key, Decimal(0)) + amount
    return json.dumps({key: str(amount) for key, amount in out.items()})


class _Overtaken(Exception):
    """Another worker ran this slice meanwhile (a message delivered twice): its part stands."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


class DryRunJobs:
    def __init__(self, store: ReadStore, dry_runs: DryRuns) -> None:
        self.store, self.dry_runs = store, dry_runs
        with store.transaction() as cur:
            for table in TABLES:
                cur.execute(table)
            cur.execute("CREATE INDEX IF NOT EXISTS settings_dry_runs_requested "
                        "ON settings_dry_runs (requested_at)")

    def start(self, conn_id: UUID, draft: Settings, date_from: date, date_to: date, *,
              by: str) -> DryRunJob:
        """Record the job with the documents it goes through (the read model now: the caller
        catches it up first); a worker runs it (``run``). LookupError: no such connection."""
        self.dry_runs.start(conn_id, date_from, date_to)
        candidates = [str(doc_id) for doc_id in
                      self.dry_runs.candidates(conn_id, date_from, date_to)]
        job_id = uuid4()
        now = _now()
        with self.store.transaction() as cur:
            self._forget(cur, before=(datetime.now(timezone.utc) - KEEP).isoformat())
            cur.execute(
                f"INSERT INTO settings_dry_runs ({COLUMNS}, candidates) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, '{}', '{}', ?, ?, ?)",
                [str(job_id), str(conn_id), by, now, date_from.isoformat(),
                 date_to.isoformat(), json.dumps(without_secrets(settings_to_dict(draft))),
                 len(candidates), State.RUNNING if candidates else State.FINISHED,
                 None if candidates else now, json.dumps(candidates)])
        return self.find(job_id)

    def find(self, job_id: UUID) -> DryRunJob | None:
        rows = self.store.query(f"SELECT {COLUMNS} FROM settings_dry_runs WHERE id = ?",
                                [str(job_id)])
        return DryRunJob.from_row(rows[0]) if rows else None

    def unfinished(self) -> list[UUID]:
        """The dry runs still running, oldest first."""
        return [UUID(row["id"]) for row in self.store.query(
            "SELECT id FROM settings_dry_runs WHERE state = ? ORDER BY requested_at",
            [State.RUNNING])]

    def run(self, job_id: UUID, keep_going: Callable[[], bool] = lambda: True) -> DryRunJob:
        """Compare the job's next documents, a slice (``application.dryrun.SLICE``) at a time
        while ``keep_going()`` (one slice at least), each slice's progress and changed
        documents saved together."""
        rows = self.store.query(f"SELECT {COLUMNS}, candidates FROM settings_dry_runs "
                                "WHERE id = ?", [str(job_id)])
        if not rows:
            raise LookupError(f"no dry run {job_id}")
        job = DryRunJob.from_row(rows[0])
        if job.state != State.RUNNING:
            return job
        candidates = [UUID(doc_id) for doc_id in json.loads(rows[0]["candidates"])]
        try:
            self.dry_runs.start(job.connection_id, job.date_from, job.date_to)
        except LookupError:  # the connection was removed: nothing is left to compare
            return self._stop(job)
        draft = settings_from_dict(job.draft)
        versions = settings_versions(self.dry_runs.app, job.connection_id)
        position = job.position
        part = DryRunResult(job.connection_id, "", job.date_from, job.date_to)

        def save(done: int) -> bool:
            """The slice just compared (``part``), saved; and whether to go on."""
            nonlocal position
            self._save(job.id, position, job.position + done, len(candidates), part)
            position = job.position + done
            part.documents.clear()
            part.examined = 0
            return keep_going()

        try:
            self.dry_runs.compare_documents(part, draft, versions, candidates[job.position:],
                                            after_slice=save)
        except _Overtaken:
            pass
        return self.find(job.id)

    def _save(self, job_id: UUID, before: int, after: int, total: int,
              part: DryRunResult) -> None:
        finished = after >= total
        with self.store.transaction() as cur:
            cur.execute("SELECT accounts, vat_codes FROM settings_dry_runs WHERE id = ?",
                        [str(job_id)])
            accounts, vat_codes = cur.fetchone()
            # Guarded by the position: of two workers saving the same slice one moves it
            # (the other's update waits for it, then finds the position moved on).
            moved = cur.execute(
                "UPDATE settings_dry_runs SET position = ?, examined = examined + ?, "
                "changed = changed + ?, posted = posted + ?, accounts = ?, vat_codes = ?, "
                "state = ?, finished_at = ? WHERE id = ? AND position = ? AND state = ?",
                [after, part.examined, len(part.documents), len(part.posted),
                 _added(accounts, part.totals("accounts")),
                 _added(vat_codes, part.totals("vat_codes")),
                 State.FINISHED if finished else State.RUNNING,
                 _now() if finished else None, str(job_id), before, State.RUNNING])
            if moved != 1:
                raise _Overtaken()
            cur.insert("settings_dry_run_documents",
                       ("job_id", "document_id", "booking_date", "number", "comparison"),
                       [(str(job_id), str(c.document_id), c.date, c.number,
                         json.dumps(c.to_dict())) for c in part.documents])

    def _stop(self, job: DryRunJob) -> DryRunJob:
        self._end(job.id, State.STOPPED)
        return self.find(job.id)

    def fail(self, job_id: UUID) -> None:
        """Given up: the page says so (what was compared so far is not shown as a result)."""
        self._end(job_id, State.FAILED)

    def _end(self, job_id: UUID, state: str) -> None:
        with self.store.transaction() as cur:  # not ``query``: on PostgreSQL it wants rows
            cur.execute("UPDATE settings_dry_runs SET state = ?, finished_at = ? "
                        "WHERE id = ? AND state = ?", [state, _now(), str(job_id), State.RUNNING])

    def summary(self, job: DryRunJob, shown: int) -> Summary:
        # In the order of ``DryRunResult`` (Python's, by code point: PostgreSQL's "C").
        number = 'number COLLATE "C"' if self.store.dialect == "postgres" else "number"
        rows = self.store.query("SELECT comparison FROM settings_dry_run_documents "
                                f"WHERE job_id = ? ORDER BY booking_date, {number} LIMIT ?",
                                [str(job.id), shown])
        return Summary(job.examined, job.changed, job.posted,
                       [Comparison.from_dict(json.loads(row["comparison"])) for row in rows],
                       job.accounts, job.vat_codes)

    def result(self, job: DryRunJob, connection_name: str) -> DryRunResult:
        """What the job found so far (all of it once finished), as ``DryRuns.run`` gives it."""
        rows = self.store.query("SELECT comparison FROM settings_dry_run_documents "
                                "WHERE job_id = ?", [str(job.id)])
        result = DryRunResult(job.connection_id, connection_name, job.date_from, job.date_to,
                              examined=job.examined)
        result.documents = sorted((Comparison.from_dict(json.loads(row["comparison"]))
                                   for row in rows), key=lambda c: (c.date, c.number))
        return result

    @staticmethod
    def _forget(cur, *, before: str) -> None:
        # Not one being applied: its worker reads the documents to the end.
        old = ("SELECT id FROM settings_dry_runs WHERE requested_at < ? AND id NOT IN "
               "(SELECT job_id FROM settings_dry_run_applications WHERE state = 'running')")
        for table, key in (("settings_dry_run_documents", "job_id"),
                           ("settings_dry_run_applied", "job_id"),
                           ("settings_dry_run_applications", "job_id"),
                           ("settings_dry_runs", "id")):
            cur.execute(f"DELETE FROM {table} WHERE {key} IN ({old})", [before])
