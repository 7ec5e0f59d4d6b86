"""Pausing and resuming a connection from the dashboard.

Paused, koppel still takes the shop's documents in (every webhook is written to the inbox and
fetched, so nothing is lost, I2) but books nothing: processing stops before the rules with
``ConnectionPaused``, which the workers retry like any wait. Resumed, the documents that waited
are sent to processing at once instead of at their next retry.
"""

from __future__ import annotations

from typing import Callable, Iterable
from uuid import UUID

from application.connections import ConnectionDirectory


def pause(directory: ConnectionDirectory, conn_id: UUID, by: str, reason: str) -> bool:
    """False when it was paused already."""
    paused: list[bool] = []
    directory.record(conn_id, lambda c: paused.append(c.pause(by=by, reason=reason)))
    return paused[-1]


def resume(directory: ConnectionDirectory, conn_id: UUID, by: str,
           waiting: Callable[[UUID], Iterable[str]], send: Callable[[str], object]) -> list[str]:
    """Resume; ``waiting(conn_id)`` lists the ids of the documents that are not done, each is
    sent (``send(id)``) to processing. Returns those ids (none when it was not paused)."""
    resumed: list[bool] = []
    directory.record(conn_id, lambda c: resumed.append(c.resume(by=by)))
    if not resumed[-1]:
        return []
    ids = [str(doc_id) for doc_id in waiting(conn_id)]
    for doc_id in ids:
        send(doc_id)
    return ids
