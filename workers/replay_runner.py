"""The replay into a further ledger in the workers: a page (or any process) asks, a worker runs it.

As the history import's runner: one message replays a slice (``SLICE_SECONDS``) and sends the
next, so a replay of any length stays inside the worker's time limit and a pause takes effect
within a slice. A worker that dies mid-slice leaves its message to the broker, and the replay
its recorded position: the documents since are replayed again, which books nothing twice
(each posting into the target is exactly once). A slice stopped by a ledger error is retried
by Dramatiq with backoff.
"""

from __future__ import annotations

import logging
import time
from uuid import UUID

import dramatiq

from application.replay import LedgerReplays
from domain.ledger_target import ReplayState

log = logging.getLogger(__name__)

SLICE_SECONDS = 20.0


class ReplayRunner:
    def __init__(self, broker: dramatiq.Broker, replays: LedgerReplays,
                 prefix: str = "koppel") -> None:
        self.replays = replays
        self.run = dramatiq.actor(self._run, broker=broker, actor_name=f"{prefix}.replay",
                                  queue_name=f"{prefix}.replay", max_retries=20)

    @property
    def queue(self) -> str:
        return self.run.queue_name

    def _run(self, target_id: str) -> None:
        started = time.monotonic()
        target = self.replays.run(
            UUID(target_id), keep_going=lambda: time.monotonic() - started < SLICE_SECONDS)
        if target.state == ReplayState.RUNNING:
            self.run.send(target_id)  # the next slice
        log.info("replay into %s: %s at %d of %d", target.name, target.state, target.position,
                 target.total)
