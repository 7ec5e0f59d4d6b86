"""The dry run of a settings draft in the workers (issue 13.2): a page asks for it, a worker
runs it.

As the history import's runner: one message compares the documents of a slice
(``SLICE_SECONDS``) and sends the next, so a year of a busy shop stays inside the worker's time
limit, and the page shows the progress saved after every ``application.dryrun.SLICE``
documents. A worker that dies mid-slice leaves its message to the broker (or, embedded, a job
the page shows as running): the job's saved position is where it goes on, and a message
delivered twice compares nothing twice (``DryRunJobs._save``). A slice that keeps failing (a
database gone for minutes, or a document the rules cannot read in a way they do not expect) is
given up after ``RETRIES``: the job is marked failed, so its page says so instead of showing a
bar that never moves, and the dry run may be asked for again.

Applying a finished dry run's draft (``workers/dryrun_apply.py``) runs the same way, on the same
queue: a message a slice, the next sent while it is not done, given up after ``RETRIES`` (then
asked for again on the page, it goes on where it stopped).
"""

from __future__ import annotations

import logging
import time
from typing import Callable
from uuid import UUID

import dramatiq

from workers.dryrun_apply import DryRunApplications
from workers.dryrun_jobs import DryRunJobs, State

log = logging.getLogger(__name__)

SLICE_SECONDS = 20.0
RETRIES = 10  # with Dramatiq's backoff from 200 ms: some three minutes of trying


class DryRunRunner:
    def __init__(self, broker: dramatiq.Broker, jobs: DryRunJobs, prefix: str = "koppel") -> None:
        self.jobs = jobs
        self.given_up = dramatiq.actor(self._given_up, broker=broker,
                                       actor_name=f"{prefix}.dryrun_given_up",
                                       queue_name=f"{prefix}.dryrun")
        self.run = dramatiq.actor(self._run, broker=broker, actor_name=f"{prefix}.dryrun",
                                  queue_name=f"{prefix}.dryrun", max_retries=RETRIES,
                                  on_retry_exhausted=self.given_up.actor_name)

    @property
    def queue(self) -> str:
        return self.run.queue_name

    def _run(self, job_id: str) -> None:
        started = time.monotonic()
        try:
            job = self.jobs.run(UUID(job_id),
                                keep_going=lambda: time.monotonic() - started < SLICE_SECONDS)
        except LookupError:  # forgotten meanwhile (``KEEP``): nobody waits for it any more
            log.info("dry run %s is gone; stopped", job_id)
            return
        if job.state == State.RUNNING:
            self.run.send(job_id)  # the next slice
        log.info("dry run %s: %s at %d of %d", job_id, job.state, job.position, job.total)

    def _given_up(self, message: dict, retries: dict) -> None:
        """Dramatiq's word that a slice failed ``RETRIES`` times (``on_retry_exhausted``)."""
        job_id = UUID(message["args"][0])
        self.jobs.fail(job_id)
        log.warning("dry run %s failed %d times; given up", job_id, retries.get("retries", 0))


class ApplyRunner:
    """``queue(doc_id)``: a document asked for again, to the workers; ``book(correction_id)``:
    a correction, to the workers."""

    def __init__(self, broker: dramatiq.Broker, applications: DryRunApplications,
                 queue: Callable[[UUID], None], book: Callable[[UUID], None],
                 prefix: str = "koppel") -> None:
        self.applications, self.queue_document, self.book = applications, queue, book
        self.given_up = dramatiq.actor(self._given_up, broker=broker,
                                       actor_name=f"{prefix}.dryrun_apply_given_up",
                                       queue_name=f"{prefix}.dryrun")
        self.run = dramatiq.actor(self._run, broker=broker, actor_name=f"{prefix}.dryrun_apply",
                                  queue_name=f"{prefix}.dryrun", max_retries=RETRIES,
                                  on_retry_exhausted=self.given_up.actor_name)

    def _run(self, job_id: str) -> None:
        started = time.monotonic()
        try:
            application = self.applications.run(
                UUID(job_id), self.queue_document, self.book,
                keep_going=lambda: time.monotonic() - started < SLICE_SECONDS)
        except LookupError:  # forgotten meanwhile: nobody waits for it any more
            log.info("applying dry run %s: it is gone; stopped", job_id)
            return
        if application.state == State.RUNNING:
            self.run.send(job_id)  # the next slice
        log.info("applying dry run %s: %s at %d of %d", job_id, application.state,
                 application.position, application.total)

    def _given_up(self, message: dict, retries: dict) -> None:
        job_id = UUID(message["args"][0])
        self.applications.fail(job_id)
        log.warning("applying dry run %s failed %d times; given up", job_id,
                    retries.get("retries", 0))
