"""The start date: what a connection books, by when the shop created the document.

A new connection books what the shop created from its start date on (by default the moment of
connecting), and what the merchant chose to import from a period before it; nothing else. A
shop's history is the merchant's decision, never a side effect of the first sweep or of a
webhook about an old order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone


def moment(value: str | datetime) -> datetime:
    """An instant in UTC from ISO text or a datetime; one without a zone is taken as UTC, as
    the shop's API writes it (R0.4)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


@dataclass(frozen=True)
class Period:
    """From ``start`` up to, not including, ``end``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("a period ends after it starts")

    def holds(self, when: datetime) -> bool:
        return self.start <= when < self.end


@dataclass(frozen=True)
class BookedSpan:
    """What a connection books. No start date: everything (connections made before start
    dates existed keep what they always did)."""

    start_date: datetime | None = None
    imported: tuple[Period, ...] = ()

    def books(self, created: datetime | None) -> bool:
        # A document without a readable creation time is let through: the rules then say
        # what is wrong with it (SOURCE_UNREADABLE), which is better than hiding it here.
        if created is None or self.start_date is None or created >= self.start_date:
            return True
        return any(period.holds(created) for period in self.imported)


def created_at(source: dict) -> datetime | None:
    """When the shop created the booked document (the invoice for an invoice, else the
    order), or None when the source does not say it readably."""
    head = source.get("invoice") if isinstance(source.get("invoice"), dict) else \
        source.get("order")
    if not isinstance(head, dict) or not head.get("create_date"):
        return None
    try:
        return moment(str(head["create_date"]))
    except ValueError:
        return None
