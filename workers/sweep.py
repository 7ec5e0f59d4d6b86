"""The sweep: every document the shop lists is known to koppel, webhook or not (I2).

For each connection it lists the documents the connection books (orders or invoices) created
since its watermark, and takes in the ones koppel never heard of. A document first taken in by
the sweep is a missed webhook: the read model counts them (``via = 'sweep'``). Waiting orders the
shop now lists as paid are fetched again too, in case their ``ispaid`` webhook was the one lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from uuid import UUID

from application.app import Koppel
from application.connections import ConnectionDirectory
from application.errors import KoppelError
from domain.document import Status
from domain.modes import booked_kind
from projections import queries
from projections.store import ReadStore
from workers.actors import Actors
from workers.intake_markers import Intake

log = logging.getLogger(__name__)

# The shop's list filter takes a date; going back a day more costs little and covers clocks,
# time zones and documents created while the previous sweep ran.
OVERLAP = timedelta(days=1)

TABLE = """
    CREATE TABLE IF NOT EXISTS sweep_watermarks (
        connection_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        watermark TEXT NOT NULL,
        swept_at TEXT NOT NULL,
        PRIMARY KEY (connection_id, kind)
    )"""


@dataclass
class SweepResult:
    listed: int = 0
    missed: int = 0  # documents koppel had never heard of
    refetched: int = 0  # waiting documents the shop lists as changed
    before_start: int = 0  # listed, but created before the start date: left alone
    failed_connections: int = 0


class Sweeper:
    def __init__(self, app: Koppel, store: ReadStore, connections: ConnectionDirectory,
                 actors: Actors) -> None:
        self.app, self.store, self.connections, self.actors = app, store, connections, actors
        with store.transaction() as cur:
            cur.execute(TABLE)

    def run_once(self, now: datetime | None = None) -> SweepResult:
        result = SweepResult()
        for row in queries.connections(self.store):
            try:
                self._sweep(UUID(row["id"]), result, now or datetime.now(timezone.utc))
            except KoppelError as error:  # one unreachable shop must not stop the others
                result.failed_connections += 1
                log.warning("sweep of %s failed: %s", row["name"], error.message)
        return result

    def _sweep(self, conn_id: UUID, result: SweepResult, now: datetime) -> None:
        connection = self.connections.get(conn_id)
        kind = booked_kind(connection.settings)
        shop = self.connections.shop(connection)
        watermark = self._watermark(conn_id, kind)
        # A first sweep starts at the start date, not at the shop's beginning: history is
        # imported on purpose (application/history_import.py), never swept in by accident.
        since = datetime.fromisoformat(watermark) if watermark else connection.span.start_date
        since = since - OVERLAP if since else None
        listing = shop.list_orders(since=since) if kind == "order" else \
            shop.list_invoices(since=since)
        newest = watermark
        for item in listing:
            result.listed += 1
            shop_id = int(item["id"])
            created = _created(item)
            document = self.app.document_of(conn_id, kind, shop_id)
            if document is None and created and \
                    not connection.span.books(datetime.fromisoformat(created)):
                result.before_start += 1  # history, not a missed webhook
            elif document is None:
                result.missed += 1
                self._take_in(conn_id, kind, shop_id)
            elif document.status == Status.WAITING and item.get("paid"):
                result.refetched += 1
                self._take_in(conn_id, kind, shop_id)
            if created and (newest is None or created > newest):
                newest = created
        if newest:
            self._save_watermark(conn_id, kind, newest, now)

    def _take_in(self, conn_id: UUID, kind: str, shop_id: int) -> None:
        """Unless an intake of the document is queued already (its webhook came, the broker
        has a backlog): then that one fetches it."""
        intake = Intake(str(conn_id), kind, shop_id)
        if self.actors.markers.request(intake):
            self.actors.send_intake(intake, "sweep")

    def _watermark(self, conn_id: UUID, kind: str) -> str | None:
        return self.store.scalar(
            "SELECT watermark FROM sweep_watermarks WHERE connection_id = ? AND kind = ?",
            [str(conn_id), kind])

    def _save_watermark(self, conn_id: UUID, kind: str, watermark: str, now: datetime) -> None:
        with self.store.transaction() as cur:
            updated = cur.execute(
                "UPDATE sweep_watermarks SET watermark = ?, swept_at = ? "
                "WHERE connection_id = ? AND kind = ?",
                [watermark, now.isoformat(), str(conn_id), kind])
            if not updated:
                cur.execute("INSERT INTO sweep_watermarks VALUES (?, ?, ?, ?)",
                            [str(conn_id), kind, watermark, now.isoformat()])


def _created(item: dict) -> str | None:
    """The item's creation time as comparable ISO text in UTC."""
    value = item.get("create_date")
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat()
