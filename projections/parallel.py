"""A rebuild split over processes by aggregate, for a long log on PostgreSQL.

Reading a stored event back (its JSON) costs more than projecting it, and one Python process
decodes on one core. Every view keeps its rows by the event's own aggregate and reads only
those rows while folding it (a document's rows, a connection's, a person's), so the log can be
cut by aggregate: part ``k`` of ``n`` folds, in log order and through the same
``apply_page`` as live projection, the events of the aggregates whose id hashes to ``k``
modulo ``n``, and the parts' rows together are the rows of one replay (I4). A view that starts to
read another aggregate's rows while folding must not be rebuilt this way.

Each part moves a tracking position of its own in the transaction of each page, over the
same positions ``1 .. stop``; the projector takes over at ``stop`` once all have arrived.
"""

from __future__ import annotations

from typing import Callable
from uuid import UUID

from projections.page import apply_page
from projections.store import ReadStore

PART = "rebuild {part}/{parts}"
PARTS = "rebuild %"  # LIKE: every part


def part_of(originator_id, parts: int) -> int:
    if not isinstance(originator_id, UUID):
        originator_id = UUID(str(originator_id))
    return originator_id.int % parts


def rebuild_part(make_app: Callable, store_url: str, part: int, parts: int, stop: int,
                 page_size: int) -> int:
    """In a process of its own: fold part ``part`` of the log up to ``stop``; returns how
    many events it applied."""
    from projections.projector import VIEWS  # the projector's own list, in its order

    app = make_app()
    store = ReadStore(store_url, max_connections=2)
    name = PART.format(part=part, parts=parts)
    try:
        position = int(store.scalar("SELECT position FROM projection_tracking WHERE name = ?",
                                    [name]) or 0)
        applied = 0
        while position < stop:
            end = min(position + page_size, stop)
            # Decoded only when ours: the decoding is the cost being shared out.
            events = [app.mapper.to_domain_event(n)
                      for n in _notifications(app.recorder, position, end, part, parts)]
            with store.transaction() as cur:
                moved = cur.execute("UPDATE projection_tracking SET position = ? "
                                    "WHERE name = ? AND position = ?", [end, name, position])
                if moved != 1:
                    raise RuntimeError(f"{name} was moved by another rebuild")
                apply_page(cur, VIEWS, events)
            position = end
            applied += len(events)
        return applied
    finally:
        store.close()
        app.close()


def _notifications(recorder, after: int, upto: int, part: int, parts: int) -> list:
    """The part's stored events at positions ``after < id <= upto``, in log order.

    On PostgreSQL the server picks the part's rows (by a hash of the aggregate id), so a part
    neither receives nor decodes the others'; elsewhere they are picked here."""
    from eventsourcing.persistence import Notification

    if not hasattr(recorder, "events_table_name") or not hasattr(recorder, "datastore") \
            or not hasattr(recorder.datastore, "schema"):
        return [n for n in recorder.select_notifications(start=after + 1, limit=upto - after,
                                                         stop=upto)
                if part_of(n.originator_id, parts) == part]
    from psycopg.sql import SQL, Identifier

    statement = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state "
        "FROM {schema}.{table} WHERE notification_id > %s AND notification_id <= %s "
        "AND (hashtext(originator_id::text) & 2147483647) %% %s = %s ORDER BY notification_id"
    ).format(schema=Identifier(recorder.datastore.schema),
             table=Identifier(recorder.events_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor() as cur:
        cur.execute(statement, [after, upto, parts, part])
        return [Notification(id=row["notification_id"], originator_id=row["originator_id"],
                             originator_version=row["originator_version"], topic=row["topic"],
                             state=bytes(row["state"]))
                for row in cur.fetchall()]


def start_parts(store: ReadStore, parts: int) -> None:
    with store.transaction() as cur:
        cur.execute("DELETE FROM projection_tracking WHERE name LIKE ?", [PARTS])
        for part in range(parts):
            cur.execute("INSERT INTO projection_tracking (name, position) VALUES (?, 0)",
                        [PART.format(part=part, parts=parts)])


def parts_position(store: ReadStore) -> int:
    """How far the parts have come together (the mean of their positions)."""
    rows = store.query("SELECT position FROM projection_tracking WHERE name LIKE ?", [PARTS])
    return sum(row["position"] for row in rows) // len(rows) if rows else 0
