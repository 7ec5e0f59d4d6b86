"""The webhook inbox: a webhook is written down before it is answered.

The body is only a hint (the document is always fetched over the signed API), so the inbox
keeps just which document to fetch. A row stays pending until intake recorded the source; the
dispatcher sends pending rows again, so a webhook survives a broker outage or a crash of the
process that accepted it (I2).

A handled row has done its work; it is kept a while (``KOPPEL_INBOX_RETENTION_DAYS``, 30 days)
to look back at what the shop sent, then deleted by the scheduler (``forget_handled``). A
pending row is never deleted, however old: it is a webhook not yet taken in.
"""

from __future__ import annotations

from projections.store import ReadStore

TABLE = """
    CREATE TABLE IF NOT EXISTS webhook_inbox (
        id {serial} PRIMARY KEY,
        connection_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        shop_id BIGINT NOT NULL,
        event TEXT NOT NULL,
        received_at TEXT NOT NULL,
        handled_at TEXT
    )"""


class Inbox:
    def __init__(self, store: ReadStore) -> None:
        self.store = store
        serial = "INTEGER" if store.dialect == "sqlite" else "BIGSERIAL"
        with store.transaction() as cur:
            cur.execute(TABLE.format(serial=serial))
            cur.execute("CREATE INDEX IF NOT EXISTS webhook_inbox_pending "
                        "ON webhook_inbox (handled_at, received_at)")
            cur.execute("CREATE INDEX IF NOT EXISTS webhook_inbox_document "
                        "ON webhook_inbox (connection_id, kind, shop_id, handled_at)")

    def add(self, connection_id: str, kind: str, shop_id: int, event: str, now: str) -> int:
        # One statement, committed by itself: every webhook pays for this, so no BEGIN/COMMIT
        # round trips around it.
        [row] = self.store.query(
            "INSERT INTO webhook_inbox (connection_id, kind, shop_id, event, received_at) "
            "VALUES (?, ?, ?, ?, ?) RETURNING id",
            [connection_id, kind, shop_id, event, now])
        return int(row["id"])

    def handled(self, entry_id: int, now: str) -> None:
        with self.store.transaction() as cur:
            cur.execute("UPDATE webhook_inbox SET handled_at = ? WHERE id = ? "
                        "AND handled_at IS NULL", [now, entry_id])

    def newest_pending(self, connection_id: str, kind: str, shop_id: int) -> int | None:
        """The last webhook about this document not taken in yet: an intake that starts now
        answers it and every one before it."""
        return self.store.scalar(
            "SELECT MAX(id) FROM webhook_inbox WHERE connection_id = ? AND kind = ? AND "
            "shop_id = ? AND handled_at IS NULL", [connection_id, kind, int(shop_id)])

    def handled_up_to(self, connection_id: str, kind: str, shop_id: int, newest: int,
                      now: str) -> None:
        """Duplicate webhooks are answered by one fetch (``intake_markers``): mark them all."""
        with self.store.transaction() as cur:
            cur.execute("UPDATE webhook_inbox SET handled_at = ? WHERE connection_id = ? AND "
                        "kind = ? AND shop_id = ? AND handled_at IS NULL AND id <= ?",
                        [now, connection_id, kind, int(shop_id), newest])

    def pending(self, received_before: str, limit: int = 500) -> list[dict]:
        return self.store.query(
            "SELECT * FROM webhook_inbox WHERE handled_at IS NULL AND received_at < ? "
            "ORDER BY id LIMIT ?", [received_before, limit])

    def forget_handled(self, handled_before: str, batch: int = 5000) -> int:
        """Delete the rows handled before ``handled_before`` (an ISO time in UTC, as
        ``handled_at`` is written), a batch per transaction so webhooks arriving meanwhile
        never wait long; pending rows stay. The number deleted."""
        deleted = 0
        while True:
            with self.store.transaction() as cur:
                count = cur.execute(
                    "DELETE FROM webhook_inbox WHERE id IN (SELECT id FROM webhook_inbox "
                    "WHERE handled_at IS NOT NULL AND handled_at < ? LIMIT ?)",
                    [handled_before, batch])
            deleted += max(count, 0)
            if count < batch:
                return deleted

    def count_pending(self) -> int:
        return int(self.store.scalar(
            "SELECT COUNT(*) FROM webhook_inbox WHERE handled_at IS NULL") or 0)
