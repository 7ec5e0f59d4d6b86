"""A period asked for in a page's address (``?from=2026-01-01&to=2026-03-31``): two days,
in order, at most so long, or a 400 that says what is wrong in the page's language."""

from __future__ import annotations

from datetime import date

from flask import abort, request
from flask_babel import gettext


def asked_period(max_days: int, too_long: str) -> tuple[date, date]:
    """``too_long``: the message (already translated) when the period is longer than
    ``max_days`` or ends before it starts."""
    try:
        first = date.fromisoformat(request.args.get("from") or "")
        last = date.fromisoformat(request.args.get("to") or "")
    except ValueError:
        abort(400, gettext("Choose the period's first and last day, like 2026-03-14."))
    if last < first or (last - first).days > max_days:
        abort(400, too_long)
    return first, last
