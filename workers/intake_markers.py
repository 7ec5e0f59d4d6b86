"""One intake per document at a time: duplicate webhooks are coalesced, no update is lost.

A shop may send the same webhook thousands of times (retries, proxies, a bulk status change),
and every intake costs shop API calls against a limit of about 150 a minute. So a document has
at most one intake *queued* or *running*, kept as a marker row beside the webhook inbox (the
database every koppel process shares, embedded or production, whatever the broker):

- a webhook whose document has a live ``queued`` marker sends nothing: the queued intake has
  not fetched yet, so it will see whatever the webhook announced;
- a webhook whose document has a ``running`` intake sets ``again``: the running fetch may have
  read the shop before this change, so when it finishes it queues exactly one more intake;
- an intake message that finds another intake of the document running is redundant the same
  way: it sets ``again`` and returns.

A marker expires (its worker was killed, its message was lost with a broker), and then the
next webhook, or the dispatcher's look at expired markers, takes it over and sends again. An
embedded installation's queue is in its process's memory, so when it starts every marker is
expired at once (``abandon_all``). The
inbox rows stay pending until an intake that started after them has fetched, so a webhook is
never answered by a fetch older than itself (I2).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Callable

from projections.store import ReadStore

TABLE = """
    CREATE TABLE IF NOT EXISTS intake_markers (
        document TEXT PRIMARY KEY,
        connection_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        shop_id BIGINT NOT NULL,
        state TEXT NOT NULL,
        again INTEGER NOT NULL DEFAULT 0,
        token TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    )"""

# Expressions over the row as it was (SQL evaluates every SET against the old row).
_LIVE = "intake_markers.expires_at >= ?"
_RUNNING = f"(intake_markers.state = 'running' AND {_LIVE})"


@dataclass(frozen=True)
class Intake:
    """The document an intake is about, as the messages name it."""

    connection_id: str
    kind: str
    shop_id: int

    @property
    def key(self) -> str:
        return f"{self.connection_id}|{self.kind}|{int(self.shop_id)}"


class IntakeMarkers:
    """``queued_for``: how long a queued message may wait before it counts as lost: longer
    than Dramatiq's longest retry backoff (5 minutes); a backlog behind the rate limit is
    normal, and a resend after that costs at most one fetch, never a loss.
    ``running_for``: longer than an intake may run (the worker's time limit)."""

    def __init__(self, store: ReadStore, *, queued_for: float = 400.0,
                 running_for: float = 120.0, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.queued_for = queued_for
        self.running_for = running_for
        self.clock = clock
        with store.transaction() as cur:
            cur.execute(TABLE)
            cur.execute("CREATE INDEX IF NOT EXISTS intake_markers_expiry "
                        "ON intake_markers (expires_at)")

    def request(self, intake: Intake, now: float | None = None) -> bool:
        """A webhook (or the dispatcher) wants the document fetched: True when the caller
        must send an intake message, False when a queued or running one covers it."""
        now = self.clock() if now is None else now
        token = uuid.uuid4().hex
        with self.store.transaction() as cur:
            cur.execute(
                "INSERT INTO intake_markers (document, connection_id, kind, shop_id, state, "
                "again, token, expires_at) VALUES (?, ?, ?, ?, 'queued', 0, ?, ?) "
                "ON CONFLICT (document) DO UPDATE SET "
                f"again = CASE WHEN NOT {_LIVE} THEN 0 WHEN {_RUNNING} THEN 1 "
                "ELSE intake_markers.again END, "
                f"state = CASE WHEN {_LIVE} THEN intake_markers.state ELSE 'queued' END, "
                f"token = CASE WHEN {_LIVE} THEN intake_markers.token ELSE excluded.token END, "
                f"expires_at = CASE WHEN {_LIVE} THEN intake_markers.expires_at "
                "ELSE excluded.expires_at END "
                "RETURNING token",
                [intake.key, intake.connection_id, intake.kind, int(intake.shop_id), token,
                 now + self.queued_for, now, now, now, now, now])
            return cur.fetchone()[0] == token

    def start(self, intake: Intake) -> str | None:
        """An intake message begins: its token when it must fetch, None when another intake
        of the document is running (which will now fetch once more when it is done)."""
        now = self.clock()
        token = uuid.uuid4().hex
        with self.store.transaction() as cur:
            cur.execute(
                "INSERT INTO intake_markers (document, connection_id, kind, shop_id, state, "
                "again, token, expires_at) VALUES (?, ?, ?, ?, 'running', 0, ?, ?) "
                "ON CONFLICT (document) DO UPDATE SET "
                f"again = CASE WHEN {_RUNNING} THEN 1 ELSE 0 END, "
                f"token = CASE WHEN {_RUNNING} THEN intake_markers.token "
                "ELSE excluded.token END, "
                f"expires_at = CASE WHEN {_RUNNING} THEN intake_markers.expires_at "
                "ELSE excluded.expires_at END, "
                "state = 'running' "
                "RETURNING token",
                [intake.key, intake.connection_id, intake.kind, int(intake.shop_id), token,
                 now + self.running_for, now, now, now])
            return token if cur.fetchone()[0] == token else None

    def finish(self, intake: Intake, token: str) -> bool:
        """The fetch is recorded: True when a webhook came meanwhile and one more intake must
        be sent (the marker stays, queued for it)."""
        with self.store.transaction() as cur:
            if cur.execute("DELETE FROM intake_markers WHERE document = ? AND token = ? "
                           "AND again = 0", [intake.key, token]):
                return False
            return bool(self._requeue(cur, intake, token))

    def retry_later(self, intake: Intake, token: str) -> None:
        """The message goes back to the broker to be retried: it is the queued intake now,
        and the retry fetches afresh, so a pending ``again`` is covered by it."""
        with self.store.transaction() as cur:
            self._requeue(cur, intake, token)

    def expired(self, now: float | None = None, limit: int = 500) -> list[Intake]:
        """Intakes whose message or worker was lost: candidates to send again."""
        now = self.clock() if now is None else now
        rows = self.store.query(
            "SELECT connection_id, kind, shop_id FROM intake_markers WHERE expires_at < ? "
            "ORDER BY expires_at LIMIT ?", [now, limit])
        return [Intake(r["connection_id"], r["kind"], int(r["shop_id"])) for r in rows]

    def abandon(self, intake: Intake) -> None:
        """The message the marker was queued for never reached the broker (an outage): the
        marker expires now, so the dispatcher's next look sends it again."""
        with self.store.transaction() as cur:
            cur.execute("UPDATE intake_markers SET expires_at = 0 "
                        "WHERE document = ? AND state = 'queued'", [intake.key])

    def abandon_all(self) -> int:
        """An embedded installation starts: its queue lived in the memory of the process
        before (killed, stopped), so no marker's intake is queued or running any more. Each
        expires now, else the document waits up to ``queued_for`` for anyone to fetch it
        (webhook, sweep and dispatcher all find it covered)."""
        with self.store.transaction() as cur:
            return cur.execute("UPDATE intake_markers SET expires_at = 0")

    def _requeue(self, cur, intake: Intake, token: str) -> int:
        return cur.execute(
            "UPDATE intake_markers SET state = 'queued', again = 0, expires_at = ? "
            "WHERE document = ? AND token = ?",
            [self.clock() + self.queued_for, intake.key, token])
