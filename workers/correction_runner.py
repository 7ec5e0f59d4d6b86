"""Correction bookings in the workers (issue 13.2): a page records them, a worker books them.

One message books one correction (its reversal, then its new booking). A transient error is
retried the way a document's posting is (``workers.actors._retry``: after a claim's lease or
the settle window when the ledger may still hold an earlier attempt); a worker killed mid-way
leaves the claim, which the next attempt waits out and then looks the number up first.
"""

from __future__ import annotations

import logging
from uuid import UUID

import dramatiq

from application.corrections import Corrections
from application.errors import TransientError
from workers.actors import _retry

log = logging.getLogger(__name__)


class CorrectionRunner:
    def __init__(self, broker: dramatiq.Broker, corrections: Corrections,
                 prefix: str = "koppel") -> None:
        self.corrections = corrections
        self.book = dramatiq.actor(self._book, broker=broker, actor_name=f"{prefix}.correct",
                                   queue_name=f"{prefix}.correct")

    @property
    def queue(self) -> str:
        return self.book.queue_name

    def _book(self, correction_id: str) -> None:
        try:
            correction = self.corrections.run(UUID(correction_id))
        except TransientError as error:
            log.info("correction %s waits: %s", correction_id, error.message)
            _retry(error, self.corrections.lease)
        log.info("correction of %s: %s", correction.number,
                 "booked" if correction.done else f"failed ({correction.failure})")
