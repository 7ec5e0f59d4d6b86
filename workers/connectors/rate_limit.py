"""Calls to one shop (or one ledger) stay under its rate limit, across every worker process.

CCV Shop allows about 150 calls a minute per endpoint and answers 429 beyond that, with no
``Retry-After``; a burst of webhooks or a sweep on several worker processes would exceed it
and then back off a whole minute. So every connector's HTTP transport first takes a turn from
a limiter shared by all processes, keyed per connection, so one busy connection never slows
another.

Why hand-written: the libraries that fit (``limits``' moving window, Dramatiq's
``rate_limits``) keep their counts in Redis or Memcached, and a koppel installation on
RabbitMQ has neither; the one store every installation shares is its database. So the limiter
is a sliding log of call times in that database: on PostgreSQL a transaction-scoped advisory
lock per key makes count-and-record atomic across processes and the database's clock is the
one clock; embedded, SQLite's ``BEGIN IMMEDIATE`` does the same within the one process.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import httpx

from application.errors import Throttled
from projections.store import ReadStore

TABLE = "CREATE TABLE IF NOT EXISTS api_calls (key TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)"
# A call is counted when its turn is taken, the remote counts it when it arrives a moment
# later; keeping calls this much further apart absorbs that difference.
MARGIN_SECONDS = 1.0
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*s?\s*$")


@dataclass(frozen=True)
class Rate:
    """At most ``calls`` in any ``seconds``."""

    calls: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> "Rate | None":
        """``"120/60"`` (calls per seconds); empty means no limit."""
        if not text or not text.strip():
            return None
        match = _RATE.match(text)
        if not match or int(match.group(1)) < 1 or float(match.group(2)) <= 0:
            raise ValueError(f"a rate limit is CALLS/SECONDS, e.g. 120/60; got {text!r}")
        return cls(int(match.group(1)), float(match.group(2)))


class CallLimiter:
    def __init__(self, store: ReadStore, margin: float = MARGIN_SECONDS) -> None:
        self.store = store
        self.margin = margin
        with store.transaction() as cur:
            cur.execute(TABLE)
            cur.execute("CREATE INDEX IF NOT EXISTS api_calls_key ON api_calls (key, at)")

    def take(self, key: str, rate: Rate) -> float:
        """Record a call and return 0 when ``key`` has room now, else the seconds until it
        has (nothing recorded)."""
        window = rate.seconds + self.margin
        with self.store.transaction() as cur:
            if cur.dialect == "postgres":
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(?))", [key])
                cur.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())")
                now = float(cur.fetchone()[0])
            else:
                now = time.time()
            cur.execute("DELETE FROM api_calls WHERE key = ? AND at <= ?", [key, now - window])
            cur.execute("SELECT COUNT(*), MIN(at) FROM api_calls WHERE key = ?", [key])
            count, oldest = cur.fetchone()
            if count < rate.calls:
                cur.execute("INSERT INTO api_calls (key, at) VALUES (?, ?)", [key, now])
                return 0.0
            return max(0.01, float(oldest) + window - now)

    def wait_for_turn(self, key: str, rate: Rate, max_wait: float) -> None:
        """Wait for room; when that would take longer than ``max_wait``, the caller's message
        is retried later instead (a transient error carrying the wait): the document waits,
        it never fails for it."""
        waited = 0.0
        while (wait := self.take(key, rate)) > 0:
            if waited + wait > max_wait:
                raise Throttled(
                    f"koppel keeps to the rate limit of {rate.calls} calls per "
                    f"{rate.seconds:g} s; trying again in {wait:.0f} s",
                    code="RATE_LIMITED", retry_after=wait)
            time.sleep(wait)
            waited += wait


class LimitedTransport(httpx.BaseTransport):
    """An HTTP transport that takes a turn from the limiter before each request."""

    def __init__(self, inner: httpx.BaseTransport | None, limiter: CallLimiter, key: str,
                 rate: Rate, max_wait: float) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self.limiter, self.key, self.rate, self.max_wait = limiter, key, rate, max_wait

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.limiter.wait_for_turn(self.key, self.rate, self.max_wait)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
