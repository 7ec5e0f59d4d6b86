"""Re-sends work that is written down but may no longer be on the broker.

Both jobs are idempotent: intake of a known source records nothing, and processing a document
that is posted, failed or waiting does nothing. So running them twice, or beside a live
worker, is harmless.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from projections import queries
from projections.store import ReadStore
from workers.actors import Actors
from workers.inbox import Inbox
from workers.intake_markers import Intake


class Dispatcher:
    def __init__(self, store: ReadStore, inbox: Inbox, actors: Actors,
                 stale_after: timedelta = timedelta(minutes=2)) -> None:
        self.store = store
        self.inbox = inbox
        self.actors = actors
        self.stale_after = stale_after

    def resend_inbox(self, now: datetime | None = None) -> int:
        """Webhooks accepted but not yet taken in (broker down, process crashed), and intakes
        whose message or worker was lost: one intake per document, unless one is underway."""
        now = now or datetime.now(timezone.utc)
        rows = self.inbox.pending((now - self.stale_after).isoformat())
        wanted = {Intake(r["connection_id"], r["kind"], int(r["shop_id"])) for r in rows}
        wanted.update(self.actors.markers.expired(now.timestamp()))
        sent = 0
        for intake in sorted(wanted, key=lambda i: i.key):
            if self.actors.markers.request(intake, now.timestamp()):
                self.actors.send_intake(intake, "inbox")
                sent += 1
        return sent

    def requeue_stale(self, now: datetime | None = None) -> int:
        """Open documents nobody has moved for a while (a worker died, a message expired)."""
        cutoff = ((now or datetime.now(timezone.utc)) - self.stale_after).isoformat()
        rows = queries.stale_open_documents(self.store, cutoff)
        for row in rows:
            self.actors.process.send(row["id"])
        return len(rows)

    def requeue_stale_payments(self, now: datetime | None = None) -> int:
        """Posted documents whose payment was started or interrupted and then left: their
        retry died with a worker, and the payment check of R8.3 is hours away."""
        cutoff = ((now or datetime.now(timezone.utc)) - self.stale_after).isoformat()
        rows = queries.stale_payments(self.store, cutoff)
        for row in rows:
            self.actors.process.send(row["id"])
        return len(rows)

    def requeue_stale_targets(self, now: datetime | None = None) -> int:
        """Postings into a further ledger (issue 13.3), or their payments, left part-way: the
        follow after ``Posted`` ran out of retries (that ledger down for hours) or died with
        its worker. Sent again as the posting of that one document into that one target,
        which books nothing twice (its claim, the lookup before a retry) and skips a
        document the target no longer takes."""
        cutoff = ((now or datetime.now(timezone.utc)) - self.stale_after).isoformat()
        rows = queries.stale_target_postings(self.store, cutoff)
        for row in rows:
            self.actors.target.send(row["target_id"], row["document_id"])
        return len(rows)

    def run_once(self, now: datetime | None = None) -> dict[str, int]:
        return {"inbox": self.resend_inbox(now), "stale": self.requeue_stale(now),
                "payments": self.requeue_stale_payments(now),
                "further ledgers": self.requeue_stale_targets(now)}
