"""The Overview's pictures: booked and failed per day over the last 30 days, and what waits.

Read from the documents read model only (so a rebuild gives the same pictures, I4). The read
model keeps UTC times; the merchant's days are the shop's (Europe/Amsterdam), so the rows are
counted per UTC hour in SQL and the hours are put into the merchant's days here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from domain.document import Status
from projections.queries import in_scope
from projections.store import ReadStore

DAYS = 30


@dataclass(frozen=True)
class Day:
    day: date
    booked: int
    failed: int


@dataclass(frozen=True)
class Activity:
    days: tuple[Day, ...]
    waiting: dict[str, int]  # status (or what it waits for) -> documents


def _per_hour(store: ReadStore, column: str, status: str, since: str, scope) -> Counter:
    scoped, params = in_scope(scope)
    rows = store.query(
        f"SELECT SUBSTR({column}, 1, 13) AS hour, COUNT(*) AS n FROM documents "
        f"WHERE status = ? AND {column} >= ? AND {scoped} GROUP BY SUBSTR({column}, 1, 13)",
        [status, since, *params])
    return Counter({row["hour"]: int(row["n"]) for row in rows})


def _local_days(hours: Counter, zone: ZoneInfo) -> Counter:
    days: Counter = Counter()
    for hour, count in hours.items():
        moment = datetime.fromisoformat(hour + ":00:00+00:00")
        days[moment.astimezone(zone).date()] += count
    return days


def activity(store: ReadStore, *, now: datetime | None = None, scope=None,
             timezone_name: str = "Europe/Amsterdam", days: int = DAYS) -> Activity:
    """Booked (``posted_at``) and failed (the failure's time, ``updated_at``) per local day,
    the oldest first, today last; and the open documents by what they wait for."""
    zone = ZoneInfo(timezone_name)
    today = (now or datetime.now(timezone.utc)).astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), zone).astimezone(timezone.utc)
    since_text = since.isoformat()[:13]
    booked = _local_days(_per_hour(store, "posted_at", Status.POSTED, since_text, scope), zone)
    failed = _local_days(_per_hour(store, "updated_at", Status.FAILED, since_text, scope), zone)
    scoped, params = in_scope(scope)
    placeholders = ", ".join("?" * len(Status.OPEN))
    waiting = Counter()
    for row in store.query(
            f"SELECT status, waiting_for, COUNT(*) AS n FROM documents WHERE status IN "
            f"({placeholders}) AND {scoped} GROUP BY status, waiting_for",
            [*Status.OPEN, *params]):
        waiting[row["waiting_for"] or row["status"]] += int(row["n"])
    return Activity(
        tuple(Day(first + timedelta(days=i), booked[first + timedelta(days=i)],
                  failed[first + timedelta(days=i)]) for i in range(days)),
        dict(sorted(waiting.items())))
