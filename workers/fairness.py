"""A worker process's threads, shared between connections: one slow or rate-limited ledger
does not hold back the others (issue 12).

A thread that books a document waits on its connection's ledger most of the time (a real
ledger answers in 100-300 ms a call). Without a limit, a connection whose ledger is slow, or
that has a big backlog, takes every thread of the process, and the documents of every other
connection wait in the queue behind it although their ledgers would answer at once. So:

- At most ``cap`` threads of this process work for one connection at once (``turn``). A
  message for a connection at its cap is not worked on: it is refused with ``Deferred`` and
  the actor sends it again a little later (``workers/actors.py``). That is no failure and no
  retry, and nothing is lost: the new message is in the broker before the current one is
  acknowledged; a worker that dies between the two leaves both, and the claim protocol books
  the document once (I1).
- When a connection's ledger asks koppel to slow down (429, or koppel's own rate limit for
  it: ``SlowDown``), its other messages are held back until that wait has passed, instead of
  each finding out with a call of its own or a thread sleeping in the rate limiter.

The wait of a deferred message is its place in a line per connection: each refusal is due
``turn seconds / cap`` after the one before it (``turn seconds``: how long this connection's
turns take here, on average), so deferred messages come back about as fast as the
connection's threads get free, not all at once and not one cheap round trip after another.

The count is per process: each process keeps its own threads for the other connections,
which is what matters, and a shared count would cost a database round trip per message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from typing import Callable, Iterator
from uuid import UUID

from application.errors import SlowDown

log = logging.getLogger(__name__)

# How much the latest turn counts in the average (the rest: the turns before it).
LATEST_WEIGHT = 0.2
# Deferred messages are spaced this share of a turn's length / cap apart: the connection's
# threads get free that often on average, but not evenly, and a message comes back only when
# Dramatiq next looks at its delay queue; one back too early is sent again (cheap), one too
# late leaves a thread idle. So each connection sends about 1 / EARLY messages again per
# turn it ends, however long its line.
EARLY = 0.5
# A 429 without Retry-After holds the connection's messages back this long.
SLOW_DOWN_SECONDS = 5.0
# A deferred message comes back after at least this long (no busy loop through the broker)
# and at most this long after the connection is free to take it (then it is looked at again).
SHORTEST_WAIT = 0.05
LONGEST_WAIT = 30.0
# Documents whose connection is known from an earlier refusal: a message for one of them is
# refused again without loading the document. Bounded; forgetting costs one load.
REMEMBERED_DOCUMENTS = 10_000
# A refusal after this long without one is news: logged at INFO (the others at DEBUG).
QUIET_SECONDS = 60.0
# How long the answer to "is this connection the installation's only one?" is kept.
ALONE_SECONDS = 30.0


def default_cap(threads: int) -> int:
    """All threads but one: however many messages of one connection stand in the queue, one
    thread of every process stays free to take another connection's message from behind them
    (a worker cannot see into the broker's queue to know whether one is there). With a single
    thread nothing can be kept free: one. An installation with one connection keeps nothing
    free (``Fairness._limit``): it has no other connection to wait for."""
    return max(1, threads - 1)


class Deferred(Exception):
    """The connection has no turn free now: send the message again after ``wait`` seconds.
    ``reason``: "busy" (its threads are taken) or "slowed" (its ledger asked to slow down)."""

    def __init__(self, connection_id: UUID, reason: str, wait: float,
                 news: bool = False) -> None:
        super().__init__(f"connection {connection_id} is {reason}; again in {wait:.2f} s")
        self.connection_id = connection_id
        self.reason = reason
        self.wait = wait
        self.news = news  # the first refusal for the connection in a while


class Fairness:
    def __init__(self, cap: int, *, clock: Callable[[], float] = time.monotonic,
                 alone: Callable[[], bool] = lambda: False) -> None:
        if cap < 1:
            raise ValueError(f"a connection needs at least one thread, not {cap}")
        self.cap = cap
        # An installation with one connection has nobody to keep a thread free for: that
        # connection may have all ``threads`` (the composition root sets both). Asked every
        # ALONE_SECONDS; None: the cap holds always (an operator's own setting).
        self.threads: int | None = None
        self.alone = alone
        self._alone_at, self._alone = float("-inf"), False
        self.clock = clock
        self._lock = threading.Lock()
        self._busy: dict[UUID, int] = {}
        self._started: dict[UUID, list[float]] = {}  # when each of its turns now began
        self._turn_seconds: dict[UUID, float] = {}
        self._held_until: dict[UUID, float] = {}
        self._next_due: dict[UUID, float] = {}
        self._last_refused: dict[UUID, float] = {}
        self._known: OrderedDict[str, UUID] = OrderedDict()

    def busy(self, connection_id: UUID) -> int:
        """The threads of this process working for the connection now."""
        with self._lock:
            return self._busy.get(connection_id, 0)

    @contextmanager
    def turn(self, connection_id: UUID) -> Iterator[None]:
        """One thread's work for the connection; raises ``Deferred`` when it has none free.
        The turn is given back however the work ends."""
        started = self.clock()
        with self._lock:
            refused = self._refusal(connection_id, started)
            if refused is None:
                self._busy[connection_id] = self._busy.get(connection_id, 0) + 1
                self._started.setdefault(connection_id, []).append(started)
        if refused is not None:
            raise refused
        try:
            yield
        except SlowDown as error:
            self.hold_off(connection_id, error.retry_after)
            raise
        finally:
            ended = self.clock()
            with self._lock:
                left = self._busy[connection_id] - 1
                self._started[connection_id].remove(started)
                if left:
                    self._busy[connection_id] = left
                else:
                    del self._busy[connection_id], self._started[connection_id]
                before = self._turn_seconds.get(connection_id)
                took = ended - started
                self._turn_seconds[connection_id] = took if before is None else (
                    LATEST_WEIGHT * took + (1 - LATEST_WEIGHT) * before)

    def hold_off(self, connection_id: UUID, seconds: float | None) -> None:
        """The connection's ledger asked to wait ``seconds`` (None: it did not say how long)."""
        until = self.clock() + (SLOW_DOWN_SECONDS if seconds is None else seconds)
        with self._lock:
            self._held_until[connection_id] = max(until, self._held_until.get(connection_id, 0))
        log.info("connection %s: its ledger asks koppel to slow down; its documents wait "
                 "%.1f s", connection_id, until - self.clock())

    def refusal_for(self, document_id: str) -> Deferred | None:
        """Refused without loading the document, when an earlier refusal told its connection
        and that connection has no turn free now."""
        with self._lock:
            connection_id = self._known.get(document_id)
            if connection_id is None:
                return None
            return self._refusal(connection_id, self.clock())

    def remember(self, document_id: str, connection_id: UUID) -> None:
        with self._lock:
            self._known[document_id] = connection_id
            self._known.move_to_end(document_id)
            while len(self._known) > REMEMBERED_DOCUMENTS:
                self._known.popitem(last=False)

    def _refusal(self, connection_id: UUID, now: float) -> Deferred | None:
        held = self._held_until.get(connection_id, 0.0)
        if held > now:
            reason, free_at = "slowed", held
        elif self._busy.get(connection_id, 0) >= self._limit(now):
            reason, free_at = "busy", now
        else:
            self._held_until.pop(connection_id, None)
            return None
        spacing = self._turn_guess(connection_id, now) / self.cap * EARLY
        due = max(free_at, self._next_due.get(connection_id, 0.0)) + spacing
        due = min(due, free_at + LONGEST_WAIT)
        self._next_due[connection_id] = due
        news = now - self._last_refused.get(connection_id, now - QUIET_SECONDS) >= QUIET_SECONDS
        self._last_refused[connection_id] = now
        return Deferred(connection_id, reason, max(SHORTEST_WAIT, due - now), news)

    def _limit(self, now: float) -> int:
        """The cap, or every thread while the installation has one connection only."""
        if self.threads is None:
            return self.cap
        if now - self._alone_at >= ALONE_SECONDS:
            self._alone_at = now
            try:
                self._alone = bool(self.alone())
            except Exception:  # noqa: BLE001 - the read model busy: keep the cap, ask later
                log.debug("fairness: the number of connections is unknown now", exc_info=True)
                self._alone = False
        return max(self.cap, self.threads) if self._alone else self.cap

    def _turn_guess(self, connection_id: UUID, now: float) -> float:
        """How long a turn of the connection takes: the average of its turns here, or before
        one has ended, how long the oldest running one has taken so far. A guess too short
        costs a message sent once more; one too long leaves a thread idle, so it guesses
        short."""
        known = self._turn_seconds.get(connection_id)
        if known is not None:
            return known
        return max([0.0] + [now - began for began in self._started.get(connection_id, [])])
